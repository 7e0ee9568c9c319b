"""The unified two-step block (AUTONAD.md §2) in its searchable and its fixed (materialized) form.

Both forms compute, on tokens ``x`` of shape ``(B, H*W, C)``::

    h = LN(x);  q, k, v = Wq h, Wk h, Wv h                   # Step I (1x1 projections)
    y = StepII_op(q, k, v)                                   # MSA | shift-and-sum conv | shift MLP
    x = x + DropPath(Wo y)                                   # output projection (with Step I)
    x = x + DropPath(MixFFN(LN(x)))

Weight sharing (``sharing``, paper Table VII) decides which Step-I/Step-II weights a choice uses.
Norms and the FFN belong to the block position and are shared (leading slices) in every mode; widths
are always leading slices, since the residual stream is one tensor whatever operator runs:

- ``cross``: one Step-I set (q, k, v, o) per block for all three operators; the conv operator's
  kernel sizes are centred windows of one largest kernel.
- ``entangled``: slicing within each operator type only: one Step-I set per operator type; the conv
  kernel sizes still share one largest kernel.
- ``classical``: every operator choice owns its weights; as in SPOS-style one-shot NAS, each conv
  kernel size is its own choice (``conv3``, ``conv5``, ``conv7``) with its own Step I and kernel.
  The MFAM edge slots follow the same switch (one kernel per edge op instead of one shared 5x5).
The number of heads is a reshape of q, k, v and owns no weights in any mode.
"""

from __future__ import annotations

from torch import Tensor, nn

from autonad_core.models.arch import BlockArch
from autonad_core.ops import (
    DropPath,
    ElasticLayerNorm,
    ElasticLinear,
    ElasticMixFFN,
    ElasticShiftMLP,
    ElasticShiftSumConv,
    MixFFN,
    ShiftMLP,
    ShiftSumConv,
    SpatialReductionAttention,
    spatial_reduction_attention,
)

SHARING_MODES: tuple[str, ...] = ("cross", "entangled", "classical")
LN_EPS = 1e-6


def choice_key(blk: BlockArch) -> str:
    """Name of an operator choice when every choice is separate (classical sharing)."""
    return f"conv{blk.kernel_size}" if blk.op == "conv" else blk.op


class StepOne(nn.Module):
    """Step-I projections q, k, v and the output projection o, as elastic linears.

    Separate q, k and v weights (not one fused qkv matrix) make every width a leading slice of each.
    """

    def __init__(self, max_dim: int) -> None:
        super().__init__()
        self.q = ElasticLinear(max_dim, max_dim)
        self.k = ElasticLinear(max_dim, max_dim)
        self.v = ElasticLinear(max_dim, max_dim)
        self.proj = ElasticLinear(max_dim, max_dim)

    def export_state(self, dim: int) -> dict[str, Tensor]:
        return {
            f"{name}.{k}": t
            for name in ("q", "k", "v", "proj")
            for k, t in getattr(self, name).export_state(dim, dim).items()
        }


class SupernetBlock(nn.Module):
    """One searchable block position; ``forward(x, hw, blk)`` runs the choice ``blk``.

    Shape:
        - Input: ``(B, H*W, C)`` with ``C <= max_dim``
        - Output: ``(B, H*W, C)``
    """

    def __init__(
        self,
        max_dim: int,
        max_hidden: int,
        kernel_sizes: tuple[int, ...],
        sr_ratio: int,
        sharing: str = "cross",
        drop_path: float = 0.0,
        operators: tuple[str, ...] = ("mlp", "transformer", "conv"),
        dense_wp: bool = False,
    ) -> None:
        super().__init__()
        if sharing not in SHARING_MODES:
            raise ValueError(f"sharing must be one of {SHARING_MODES}, got {sharing!r}")
        self.max_dim, self.sr_ratio, self.sharing = max_dim, sr_ratio, sharing
        self.kernel_sizes = tuple(sorted(kernel_sizes))
        self.norm1 = ElasticLayerNorm(max_dim, LN_EPS)
        conv_keys = [f"conv{k}" for k in self.kernel_sizes] if "conv" in operators else []
        if sharing == "cross":
            step_keys = ["shared"]
        elif sharing == "entangled":
            step_keys = list(operators)
        else:
            step_keys = [op for op in operators if op != "conv"] + conv_keys
        self.step_one = nn.ModuleDict({key: StepOne(max_dim) for key in step_keys})
        self.conv_op = nn.ModuleDict()
        if "conv" in operators:
            if sharing == "classical":
                self.conv_op.update(
                    {f"conv{k}": ElasticShiftSumConv(max_dim, k, dense_wp) for k in self.kernel_sizes}
                )
            else:
                self.conv_op["shared"] = ElasticShiftSumConv(max_dim, self.kernel_sizes[-1], dense_wp)
        self.mlp_op = ElasticShiftMLP(max_dim) if "mlp" in operators else None
        self.norm2 = ElasticLayerNorm(max_dim, LN_EPS)
        self.ffn = ElasticMixFFN(max_dim, max_hidden)
        self.drop_path = DropPath(drop_path)

    def step_one_for(self, blk: BlockArch) -> StepOne:
        """The Step-I module the choice ``blk`` uses under this block's sharing mode."""
        if self.sharing == "cross":
            return self.step_one["shared"]
        return self.step_one[blk.op if self.sharing == "entangled" else choice_key(blk)]

    def conv_op_for(self, blk: BlockArch) -> ElasticShiftSumConv:
        return self.conv_op[choice_key(blk) if self.sharing == "classical" else "shared"]

    def mix(self, x: Tensor, hw: tuple[int, int], blk: BlockArch) -> Tensor:
        """Step I + Step II + output projection on normalised tokens."""
        step, c = self.step_one_for(blk), x.shape[-1]
        q, k, v = step.q(x, c), step.k(x, c), step.v(x, c)
        if blk.op == "transformer":
            y = spatial_reduction_attention(q, k, v, hw, blk.num_heads, self.sr_ratio)
        elif blk.op == "conv":
            y = self.conv_op_for(blk)(q, k, v, hw, blk.kernel_size)
        else:
            y = self.mlp_op(q, k, v, hw)
        return step.proj(y, c)

    def forward(self, x: Tensor, hw: tuple[int, int], blk: BlockArch) -> Tensor:
        x = x + self.drop_path(self.mix(self.norm1(x), hw, blk))
        return x + self.drop_path(self.ffn(self.norm2(x), hw, blk.hidden_dim(x.shape[-1])))

    def export_state(self, blk: BlockArch, dim: int) -> dict[str, Tensor]:
        """State dict of the :class:`SubnetBlock` for ``blk`` at width ``dim`` (copies of the slices)."""
        parts: dict[str, dict[str, Tensor]] = {
            "norm1": self.norm1.export_state(dim),
            "step": self.step_one_for(blk).export_state(dim),
            "norm2": self.norm2.export_state(dim),
            "ffn": self.ffn.export_state(dim, blk.hidden_dim(dim)),
        }
        if blk.op == "conv":
            parts["mixer"] = self.conv_op_for(blk).export_state(dim, blk.kernel_size)
        elif blk.op == "mlp":
            parts["mixer"] = self.mlp_op.export_state(dim)
        return {f"{name}.{k}": t for name, state in parts.items() for k, t in state.items()}

    def extra_repr(self) -> str:
        return f"max_dim={self.max_dim}, sr_ratio={self.sr_ratio}, sharing={self.sharing!r}"


class SubnetStepOne(nn.Module):
    """Fixed-width Step-I projections (q, k, v) and output projection."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))


class SubnetBlock(nn.Module):
    """One block of a materialized subnet: a single operator, plain layers, no slicing.

    Shape:
        - Input: ``(B, H*W, dim)``
        - Output: ``(B, H*W, dim)``
    """

    def __init__(
        self, dim: int, blk: BlockArch, sr_ratio: int, drop_path: float = 0.0, dense_wp: bool = False
    ) -> None:
        super().__init__()
        self.op = blk.op
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.step = SubnetStepOne(dim)
        if blk.op == "transformer":
            self.mixer = SpatialReductionAttention(blk.num_heads, sr_ratio)
        elif blk.op == "conv":
            self.mixer = ShiftSumConv(dim, blk.kernel_size, dense_wp)
        else:
            self.mixer = ShiftMLP(dim)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.ffn = MixFFN(dim, blk.hidden_dim(dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        h = self.norm1(x)
        y = self.mixer(self.step.q(h), self.step.k(h), self.step.v(h), hw)
        x = x + self.drop_path(self.step.proj(y))
        return x + self.drop_path(self.ffn(self.norm2(x), hw))

    def extra_repr(self) -> str:
        return f"op={self.op!r}"
