"""Typed configuration of a search space (pydantic, frozen): one stage's ranges and the decoder's.

Kept apart from :mod:`autonad_core.models.search_space`, which adds the behaviour (sampling, validation).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autonad_core.models.arch import DECODER_OPS, NUM_LEVELS

PositiveInt = Annotated[int, Field(gt=0)]


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageSpace(FrozenModel):
    """Ranges of one backbone stage, each as (min, max, step) like the paper's Table I."""

    depth: tuple[PositiveInt, PositiveInt, PositiveInt]
    width: tuple[PositiveInt, PositiveInt, PositiveInt]
    ffn_ratio: tuple[float, float, float]

    @model_validator(mode="after")
    def _check_ranges(self) -> StageSpace:
        for name in ("depth", "width", "ffn_ratio"):
            lo, hi, step = getattr(self, name)
            if lo <= 0 or step <= 0 or hi < lo:
                raise ValueError(f"{name}: need 0 < min <= max and step > 0, got {(lo, hi, step)}")
            n = (hi - lo) / step
            if abs(n - round(n)) > 1e-9:
                raise ValueError(f"{name}: (max - min) must be a multiple of step, got {(lo, hi, step)}")
        return self

    @staticmethod
    def _values(lo: float, hi: float, step: float) -> tuple:
        return tuple(lo + i * step for i in range(round((hi - lo) / step) + 1))

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self._values(*self.depth))

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self._values(*self.width))

    @property
    def ffn_ratios(self) -> tuple[float, ...]:
        return tuple(round(float(v), 6) for v in self._values(*self.ffn_ratio))


class DecoderSpace(FrozenModel):
    """MFAM ranges: fixed channels and node levels; searchable edges (in-degree 1..max) and PPM sizes."""

    channels: PositiveInt = 64
    node_levels: tuple[int, ...] = (4, 3, 2, 1)
    max_in_degree: PositiveInt = 2
    edge_ops: tuple[str, ...] = DECODER_OPS
    ppm_pool_sizes: tuple[PositiveInt, ...] = (1, 2, 3, 4, 5, 6)
    ppm_max_branches: PositiveInt = 4

    @field_validator("node_levels")
    @classmethod
    def _check_levels(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        bad = [lvl for lvl in v if not 1 <= lvl <= NUM_LEVELS]
        if bad:
            raise ValueError(f"levels must be in 1..{NUM_LEVELS}, got {bad}")
        return v

    @field_validator("edge_ops")
    @classmethod
    def _check_ops(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [op for op in v if op not in DECODER_OPS]
        if bad or not v or len(set(v)) != len(v):
            raise ValueError(f"need distinct ops from {DECODER_OPS}, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _check_ppm(self) -> DecoderSpace:
        if not self.ppm_pool_sizes or len(set(self.ppm_pool_sizes)) != len(self.ppm_pool_sizes):
            raise ValueError(f"ppm_pool_sizes: need distinct sizes, got {list(self.ppm_pool_sizes)}")
        if self.ppm_max_branches > len(self.ppm_pool_sizes):
            raise ValueError(f"ppm_max_branches {self.ppm_max_branches} > number of pool sizes")
        return self


PAPER_STAGES = (
    StageSpace(depth=(1, 4, 1), width=(32, 64, 32), ffn_ratio=(7.5, 9.0, 0.5)),
    StageSpace(depth=(1, 4, 1), width=(32, 128, 32), ffn_ratio=(7.5, 9.0, 0.5)),
    StageSpace(depth=(1, 4, 1), width=(128, 224, 32), ffn_ratio=(3.5, 5.0, 0.5)),
    StageSpace(depth=(1, 4, 1), width=(192, 288, 32), ffn_ratio=(3.5, 5.0, 0.5)),
)
