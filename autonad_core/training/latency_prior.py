"""The latency-aware prior (paper §5, Fig. 5): time every active block of the sampled subnet on the
target device during supernet training, accumulate the mean latency per (block position, operator),
and turn it into a probability per operator at each position (faster -> more likely).

Timing: forward pre/post hooks on `net.block_module(stage, index)` read a timer after synchronising the
device, so each block's span covers exactly its own kernels. The timed network is a copy of the
supernet on the target device in eval mode (latency does not depend on the weight values, so the copy
need not follow training; this keeps the training graph, its RNG and its device untouched).

Probability formula (per position, over the operators measured there):
    r_o = l_o / mean_o'(l_o')                      relative latency, scale-free across devices
    p_o = (1 - ε) · softmax(-r_o / T)_o + ε / |O|  with T = temperature, ε = uniform_mix
Why this instead of the authors' 0.9·freq + 0.1·uniform over the 300 fastest (arch, latency) records:
it uses the per-(block, operator) latency map the paper describes directly; the record frequency mixes
the operator choice up with the depth/width of the subnets that happened to be fastest, and with few
training steps the "300 fastest" are nearly all records (≈ uniform). The ε term plays the role of the
authors' 0.1·uniform: no operator is ever excluded. T = 1 gives mild preferences like Fig. 5's
0.24/0.37/0.39 rows; smaller T sharpens them. Positions where some operator was never timed are uniform.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn

from autonad_core.models.arch import OpProbs, Position
from autonad_core.training.timing import synchronize


class BlockTimer:
    """Times each active block of `net(x, arch)` (a Supernet on the target device) via forward hooks."""

    def __init__(self, net: nn.Module, device: torch.device | str) -> None:
        self.net = net.eval()
        self.device = torch.device(device)

    @torch.no_grad()
    def measure(
        self, arch, input_shape: tuple[int, int, int, int], warmup: int = 1, repeats: int = 1
    ) -> tuple[dict[tuple[int, int, str], float], float]:
        """Mean ms per active (stage, block, operator) and mean ms of the whole forward."""
        example = torch.zeros(input_shape, device=self.device)
        spans: dict[tuple[int, int, str], float] = defaultdict(float)
        starts: dict[tuple[int, int, str], float] = {}
        handles, seen = [], {}
        for stage, index, op in arch.block_ops():
            module = self.net.block_module(stage, index)
            if id(module) in seen:
                raise RuntimeError(f"block_module({stage}, {index}) is the same module as {seen[id(module)]}")
            key = (stage, index, op)
            seen[id(module)] = key

            def pre(_m, _a, key=key):
                synchronize(self.device)
                starts[key] = time.perf_counter()

            def post(_m, _a, _o, key=key):
                synchronize(self.device)
                spans[key] += time.perf_counter() - starts.pop(key)

            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
        try:
            for _ in range(warmup):
                self.net(example, arch)
            spans.clear()
            total = 0.0
            for _ in range(repeats):
                synchronize(self.device)
                start = time.perf_counter()
                self.net(example, arch)
                synchronize(self.device)
                total += time.perf_counter() - start
        finally:
            for handle in handles:
                handle.remove()
        return {k: v / repeats * 1e3 for k, v in spans.items()}, total / repeats * 1e3


class LatencyPrior:
    """Accumulates block latencies; converts them to operator probabilities (module docstring)."""

    def __init__(self, positions: list[Position], operators: tuple[str, ...]) -> None:
        self.positions = [tuple(p) for p in positions]
        self.operators = tuple(operators)
        self.sum_ms: dict[tuple[int, int, str], float] = defaultdict(float)
        self.count: dict[tuple[int, int, str], int] = defaultdict(int)
        self.subnet_ms: list[float] = []

    def add(self, block_ms: dict[tuple[int, int, str], float], total_ms: float) -> None:
        for key, ms in block_ms.items():
            self.sum_ms[key] += ms
            self.count[key] += 1
        self.subnet_ms.append(float(total_ms))

    def mean_ms(self) -> dict[Position, dict[str, float | None]]:
        out: dict[Position, dict[str, float | None]] = {}
        for s, b in self.positions:
            out[(s, b)] = {
                op: (self.sum_ms[(s, b, op)] / self.count[(s, b, op)]) if self.count.get((s, b, op)) else None
                for op in self.operators
            }
        return out

    def probabilities(self, temperature: float = 1.0, uniform_mix: float = 0.1) -> OpProbs:
        return latency_to_probabilities(self.mean_ms(), self.operators, temperature, uniform_mix)

    def state_dict(self) -> dict:
        return {
            "sum_ms": {f"{s},{b},{op}": v for (s, b, op), v in self.sum_ms.items()},
            "count": {f"{s},{b},{op}": v for (s, b, op), v in self.count.items()},
            "subnet_ms": list(self.subnet_ms),
        }

    def load_state_dict(self, state: dict) -> None:
        def key(text: str) -> tuple[int, int, str]:
            s, b, op = text.split(",")
            return int(s), int(b), op

        self.sum_ms = defaultdict(float, {key(k): float(v) for k, v in state["sum_ms"].items()})
        self.count = defaultdict(int, {key(k): int(v) for k, v in state["count"].items()})
        self.subnet_ms = [float(v) for v in state["subnet_ms"]]

    def to_json(self, temperature: float, uniform_mix: float, device: str) -> dict:
        probs = self.probabilities(temperature, uniform_mix)
        means = self.mean_ms()
        return {
            "device": device,
            "operators": list(self.operators),
            "formula": "p = (1-eps)*softmax(-(l/mean_l)/T) + eps/|O| per block position",
            "temperature": temperature,
            "uniform_mix": uniform_mix,
            "measurements": len(self.subnet_ms),
            "mean_subnet_ms": (sum(self.subnet_ms) / len(self.subnet_ms)) if self.subnet_ms else None,
            "positions": [
                {
                    "stage": s,
                    "block": b,
                    "mean_ms": means[(s, b)],
                    "count": {op: self.count.get((s, b, op), 0) for op in self.operators},
                    "prob": probs[(s, b)],
                }
                for s, b in self.positions
            ],
        }


def latency_to_probabilities(
    mean_ms: dict[Position, dict[str, float | None]],
    operators: tuple[str, ...],
    temperature: float = 1.0,
    uniform_mix: float = 0.1,
) -> OpProbs:
    uniform = 1.0 / len(operators)
    out: dict[Position, dict[str, float]] = {}
    for pos, lat in mean_ms.items():
        values = [lat.get(op) for op in operators]
        if any(v is None for v in values) or not all(math.isfinite(v) for v in values):
            out[pos] = dict.fromkeys(operators, uniform)
            continue
        mean = sum(values) / len(values)
        rel = [v / mean if mean > 0 else 1.0 for v in values]
        logits = [-r / temperature for r in rel]
        top = max(logits)
        weights = [math.exp(z - top) for z in logits]
        norm = sum(weights)
        out[pos] = {
            op: (1 - uniform_mix) * w / norm + uniform_mix * uniform
            for op, w in zip(operators, weights, strict=True)
        }
    return out


def load_prior_probabilities(path: Path) -> OpProbs:
    """Read `latency_prior.json` into the op_probs mapping SearchSpace.sample/mutate take."""
    import json

    data = json.loads(Path(path).read_text())
    return {
        (int(p["stage"]), int(p["block"])): {k: float(v) for k, v in p["prob"].items()}
        for p in data["positions"]
    }


def plot_prior(data: dict, path: Path) -> Path:
    """Heat map like the paper's Fig. 5: probability per (block position, operator), with mean ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ops = data["operators"]
    rows = data["positions"]
    labels = [f"S{p['stage'] + 1}-B{p['block'] + 1}" for p in rows]
    prob = np.array([[p["prob"][op] for op in ops] for p in rows])
    lat = np.array([[np.nan if p["mean_ms"][op] is None else p["mean_ms"][op] for op in ops] for p in rows])
    fig, axes = plt.subplots(1, 2, figsize=(8, 0.38 * len(rows) + 1.6))
    for ax, values, title, fmt in (
        (axes[0], prob, "operator probability", "{:.2f}"),
        (axes[1], lat, f"mean latency (ms, {data['device']})", "{:.2f}"),
    ):
        im = ax.imshow(values, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(ops)), ops)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_title(title, fontsize=10)
        lo, hi = (
            np.nanmin(values) if np.isfinite(values).any() else 0.0,
            np.nanmax(values) if np.isfinite(values).any() else 1.0,
        )
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                v = values[i, j]
                bright = np.isnan(v) or (hi > lo and (v - lo) / (hi - lo) > 0.6)
                text = "n/a" if np.isnan(v) else fmt.format(v)
                ax.text(j, i, text, ha="center", va="center", color="k" if bright else "w", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"Latency-aware prior ({data['measurements']} timed subnets)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
