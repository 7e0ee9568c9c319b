"""Benchmark: is a blade carrying a crack rejected, on the simulator's exact masks?

    .venv/bin/python benchmarks/crack_verdict.py [--seeds 20] [--binning 2]

For each seed, a small blade with ONE synthetic crack (random length 3-12 mm, width 0.13-0.30 mm, random
place on the airfoil) is imaged head-on and 25 degrees off at the sensor binned N x N; the simulator's
pixel-exact class mask of each view goes through the cell's own chain: defect records on the blade
surface (`defect_regions.extract_defects`), one record per defect across the views (`merge_views`),
the verdict (`cycle.acceptance.judge`, the default rules: any crack rejects). This measures the records
and rules on ground truth, not the network: a detector that misses the crack fails the blade's
verdict however right the rules are (`benchmarks/cell_cycle.py` measures the network's recall).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import platform_control.sim  # noqa: F401  (offscreen GL back-end)
from platform_control.blade import blade_preset, generate_blade, label_mask
from platform_control.cycle.acceptance import AcceptanceRules, judge
from platform_control.defect_regions import extract_defects, merge_views
from platform_control.sim.defect_views import defect_views
from platform_control.sim.defects import load_defects_config
from platform_control.sim.placement import BladeSurface, sample_defects


def one_blade(seed: int, binning: int, mesh, surface, classes) -> dict:
    (crack,) = sample_defects(surface, np.random.default_rng([seed, 7]), count=1, classes=("crack",))
    records = []
    for i, (mask, view) in enumerate(defect_views(mesh, crack, (0.0, 25.0), binning)):
        records += [{**r.to_dict(), "viewpoint_index": i} for r in extract_defects(mask, classes, view=view)]
    merged = [r for r in merge_views(records) if r["defect_class"] == "crack"]
    return {
        "seed": seed,
        "nominal_mm2": crack.params["length_m"] * crack.params["width_m"] * 1e6,
        "width_mm": crack.params["width_m"] * 1e3,
        "records": len(merged),
        "area_mm2": max((r["area_mm2"] for r in merged), default=0.0),
        "reject": judge(merge_views(records), AcceptanceRules()).reject,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--binning", type=int, default=2)
    args = parser.parse_args()
    mesh = generate_blade(blade_preset("small"), seed=3)
    surface = BladeSurface(mesh, label_mask(mesh, ["airfoil"]))
    classes = tuple(load_defects_config().classes)
    start = time.perf_counter()
    rows = [one_blade(seed, args.binning, mesh, surface, classes) for seed in range(args.seeds)]
    for r in rows:
        print(
            f"seed {r['seed']:2d}: crack {r['width_mm']:.2f} mm wide, {r['nominal_mm2']:.2f} mm² nominal, "
            f"{r['records']} record(s) of {r['area_mm2']:.2f} mm², {'rejected' if r['reject'] else 'PASSED'}"
        )
    rejected = sum(r["reject"] for r in rows)
    one = sum(r["records"] == 1 for r in rows)
    print(
        f"binning {args.binning}: {rejected}/{len(rows)} blades rejected, "
        f"{one}/{len(rows)} cracks one record over two views ({time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
