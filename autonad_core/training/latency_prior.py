"""The latency-aware prior (paper §5, Fig. 5): a probability per operator at each block position,
faster operators more likely, built from the design's latency table (latency_table.py).

The paper records per-(block, operator) latency while the supernet trains. Here the same latency map
comes from the table, measured once with warm-up and medians: the mean ms of each operator at a
position, over the widths, hidden sizes and kernels/heads the space allows there. The prior is then a
pure function of the table, so two runs with the same table use the same prior (online timing of
sampled subnets is noisy and made the search pick different networks from run to run).

Probability formula (per position, over the operators measured there):
    r_o = l_o / mean_o'(l_o')                      relative latency, scale-free across devices
    p_o = (1 - ε) · softmax(-r_o / T)_o + ε / |O|  with T = temperature, ε = uniform_mix
Why this instead of the authors' 0.9·freq + 0.1·uniform over the 300 fastest (arch, latency) records:
it uses the per-(block, operator) latency map the paper describes directly; the record frequency mixes
the operator choice up with the depth/width of the subnets that happened to be fastest. The ε term plays
the role of the authors' 0.1·uniform: no operator is ever excluded. T = 1 gives mild preferences like
Fig. 5's 0.24/0.37/0.39 rows; smaller T sharpens them. Positions where some operator has no entry are
uniform.
"""

from __future__ import annotations

import math
from pathlib import Path

from autonad_core.models.arch import OpProbs, Position
from autonad_core.models.search_space import SearchSpace
from autonad_core.training.latency_table import LatencyTable


def prior_json(table: LatencyTable, space: SearchSpace, temperature: float, uniform_mix: float) -> dict:
    """``latency_prior.json``: per position the mean ms per operator and the probabilities."""
    means = table.operator_means(space)
    probs = latency_to_probabilities(means, tuple(space.operators), temperature, uniform_mix)
    blocks = sum(1 for key in table.entries if key.startswith("block|"))
    return {
        "device": table.meta["device"],
        "operators": list(space.operators),
        "formula": "p = (1-eps)*softmax(-(l/mean_l)/T) + eps/|O| per block position",
        "source": "latency table (mean over the widths, hidden sizes and kernels/heads of a position)",
        "temperature": temperature,
        "uniform_mix": uniform_mix,
        "measurements": blocks,
        "positions": [
            {"stage": s, "block": b, "mean_ms": means[(s, b)], "prob": probs[(s, b)]}
            for s, b in space.block_positions()
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
    fig.suptitle(f"Latency-aware prior ({data['measurements']} timed block configurations)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
