"""A picture and a text file of what a scan plan covers and why the rest is unseen.

For a plan that falls short the technician needs to see *where*: the figure shows the surface from
two sides, covered elements green (darker: seen by more views), every unseen element coloured by its
`GAP_REASONS` entry, clamped or hidden area grey, and the numbered views as arrows.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from platform_control.atomic_io import atomic_write_bytes
from platform_control.coverage.plan import ScanPlan
from platform_control.coverage.report import GAP_REASONS

_GAP_COLOURS = ("tab:purple", "tab:orange", "tab:red", "tab:pink", "tab:brown", "black")


def plot_plan(plan: ScanPlan, title: str = "") -> bytes:
    """PNG bytes of the plan's coverage seen from two sides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surface = plan.surface
    count = np.zeros(len(surface), dtype=int)
    for vp in plan.viewpoints:
        count[vp.elements] += 1
    req = surface.required
    seen = req & (count > 0)
    reason = plan.coverage.element_gap_reason
    fig = plt.figure(figsize=(12, 6.5))
    c = surface.centers * 1e3
    for k, (elev, azim) in enumerate(((20, -60), (20, 120))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        ax.scatter(*c[~req].T, c="0.75", s=1, label="clamped / hidden (not required)")
        ax.scatter(
            *c[seen].T, c=np.minimum(count[seen], 4), cmap="Greens", vmin=-1, vmax=4, s=1, label="seen"
        )
        for name, colour in zip(GAP_REASONS, _GAP_COLOURS, strict=True):
            mask = req & ~seen & (reason == name) if reason is not None else np.zeros(len(surface), bool)
            if mask.any():
                area = surface.areas[mask].sum() * 1e6
                ax.scatter(*c[mask].T, c=colour, s=6, label=f"unseen: {name} ({area:.0f} mm²)")
        unexplained = req & ~seen & (reason == "" if reason is not None else np.ones(len(surface), bool))
        if unexplained.any():
            ax.scatter(*c[unexplained].T, c="tab:red", s=6, label="unseen")
        for i, vp in enumerate(plan.viewpoints):
            p, d = vp.point * 1e3, vp.view_direction * 15
            ax.quiver(p[0], p[1], p[2], d[0], d[1], d[2], color="tab:blue", linewidth=0.8)
            ax.text(*(p + d), str(i + 1), fontsize=6, color="tab:blue")
        span = (c.max(axis=0) - c.min(axis=0)).max() / 2 + 15
        mid = 0.5 * (c.max(axis=0) + c.min(axis=0))
        ax.set(
            xlim=(mid[0] - span, mid[0] + span),
            ylim=(mid[1] - span, mid[1] + span),
            zlim=(mid[2] - span, mid[2] + span),
            xlabel="x mm",
            ylabel="y mm",
            zlabel="z mm",
        )
        ax.view_init(elev, azim)
        if k == 0:
            fig.legend(loc="lower center", ncol=3, fontsize=8, markerscale=4)
    stopped = f", stopped early: {plan.coverage.stopped}" if plan.coverage.stopped else ""
    fig.suptitle(
        f"{title + ': ' if title else ''}{len(plan)} views, coverage {100 * plan.coverage.coverage:.2f} %, "
        f"unseen {plan.coverage.uncovered_area * 1e6:.1f} mm²{stopped}"
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_plan_report(plan: ScanPlan, directory: str | Path, name: str = "coverage") -> tuple[Path, Path]:
    """Write ``<name>.txt`` (the plan summary) and ``<name>.png`` (`plot_plan`) into ``directory``."""
    directory = Path(directory)
    text, png = directory / f"{name}.txt", directory / f"{name}.png"
    atomic_write_bytes(text, (plan.summary() + "\n").encode())
    atomic_write_bytes(png, plot_plan(plan, name))
    return text, png
