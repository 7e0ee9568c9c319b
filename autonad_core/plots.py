"""Figures a person looks at (issue 14 item 5), as PNGs: the search's Pareto front (mIoU vs latency)
with the chosen architecture and baselines marked, supernet training curves per sharing mode (paper
Fig. 6), and per-class IoU bars of several models. Pure functions of plain numbers, so the pipeline
and the benchmarks draw them the same way; matplotlib runs headless (Agg)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only: designs run on machines without a screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish(fig, ax, path: Path, *, grid_axis: str = "both", legend_size: int | None = 8) -> Path:
    """Grid, legend, tight layout, write the PNG and free the figure (every plot ends the same way)."""
    ax.grid(alpha=0.3, axis=grid_axis)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return Path(path)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, miou) points no other point beats (lower-or-equal latency and
    higher-or-equal mIoU, one strictly), sorted by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_pareto(
    candidates: Sequence[Mapping],
    chosen: Mapping,
    path: Path,
    baselines: Sequence[Mapping] = (),
    title: str = "search: inherited mIoU vs latency",
) -> Path:
    """Every evaluated candidate (`latency_ms`, `miou` in [0, 1]), the Pareto front, the chosen one
    (star) and the baselines (`name`, `latency_ms`, `miou`, all in the same units; the caller says
    in `title` whether their latency comes from the same table or was measured)."""
    plt = pyplot()
    points = [(float(c["latency_ms"]), 100 * float(c["miou"])) for c in candidates]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if points:
        ax.scatter(*zip(*points, strict=True), s=14, alpha=0.5, color="tab:blue", label="candidates")
        front = [points[i] for i in pareto_front(points)]
        ax.step(*zip(*front, strict=True), where="post", color="tab:blue", lw=1.5, label="Pareto front")
    ax.scatter(
        [chosen["latency_ms"]],
        [100 * chosen["miou"]],
        marker="*",
        s=260,
        color="tab:red",
        zorder=5,
        label="chosen",
    )
    for b in baselines:
        ax.scatter([b["latency_ms"]], [100 * b["miou"]], marker="s", s=60, zorder=5, label=b["name"])
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)
    return finish(fig, ax, path)


def running_mean(values: Sequence[float], window: int) -> list[float]:
    """Mean of the last `window` values at each position (fewer at the start)."""
    out, total = [], 0.0
    for k, v in enumerate(values):
        total += v
        if k >= window:
            total -= values[k - window]
        out.append(total / min(k + 1, window))
    return out


def plot_supernet_curves(histories: Mapping[str, Sequence[Mapping]], path: Path) -> Path:
    """Training loss per optimiser step (running mean over ~5 % of the steps) for each sharing mode,
    from `{mode: supernet history.json}` (its `step_losses` per epoch), as the paper's Fig. 6."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for mode, history in histories.items():
        losses = [x for h in history for x in h.get("step_losses", [h["loss"]])]
        smooth = running_mean(losses, max(1, len(losses) // 20))
        ax.plot(
            range(1, len(losses) + 1), smooth, "-", marker="o" if len(losses) < 30 else None, ms=3, label=mode
        )
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("supernet training loss (running mean)")
    ax.set_title("supernet convergence by weight sharing (paper Fig. 6)")
    return finish(fig, ax, path, legend_size=None)


def plot_class_iou(
    models: Mapping[str, Mapping[str, float]],
    path: Path,
    errors: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Grouped bars: IoU (%, in [0, 1] in) per class for each model, optional ± error bars."""
    import numpy as np

    plt = pyplot()
    names = list(models)
    classes = list(next(iter(models.values()))) if models else []
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(max(6.4, 1.1 * len(classes) * max(len(names), 1) * 0.6), 4.2))
    for i, name in enumerate(names):
        values = [100 * float(models[name].get(c, float("nan"))) for c in classes]
        err = [100 * float(errors[name].get(c, 0.0)) for c in classes] if errors and name in errors else None
        ax.bar(x + (i - (len(names) - 1) / 2) * width, np.nan_to_num(values), width, yerr=err, label=name)
    ax.set_xticks(x, classes, rotation=20)
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.set_title("per-class IoU")
    return finish(fig, ax, path, grid_axis="y")
