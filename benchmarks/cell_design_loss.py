"""Benchmark: the simulated cell's first-model design budget, per loss setting, scored against the
simulator's ground truth per defect class.

    .venv/bin/python benchmarks/cell_design_loss.py [--config NAME=OVERRIDES_YAML ...] [--design-seeds 0 1]
        [--eval-seeds 4 5] [--json F]

What the cell does in its first cycle, without ROS (the same libraries the nodes call): the simulated
blade of `config/cell_sim.yaml` (preset, seed, defect count, frame size) is scanned at every viewpoint of
the family's coverage plan, the labelled captures go into a `CaptureStore` and are exported as the
AutoNAD dataset; `autonad_core.design` runs with `preset`/`target_device`/`torch_threads` of the
model designer and each configuration's overrides (default: "current" = cell_sim.yaml's overrides).
The retrained model then predicts every capture of the design blade ("seen") and of the next blades
(`--eval-seeds`, "unseen": the cell's later cycles), and the predicted masks are compared with the
simulator's label masks, pooled per blade: defect IoU (any defect vs any defect) and IoU per class.
Wall time and CPU time of each design are reported (CPU time is the fairer figure on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

import platform_control.sim  # noqa: F401  (selects the offscreen GL back-end before mujoco loads)

CELL_SIM = (
    Path(__file__).resolve().parents[1] / "ros2_ws/src/bladecell_ros/bladecell_ros/config/cell_sim.yaml"
)
FAMILY = "BENCH-LOSS"


def _cell_params() -> dict:
    return {node: v["ros__parameters"] for node, v in yaml.safe_load(CELL_SIM.read_text()).items()}


def scan_blade(store, seed: int, family: str, params: dict, scan_axes: np.ndarray) -> list[str]:
    """Every viewpoint of the plan, blade `seed` on the fixture; returns the stored capture refs."""
    from platform_control.imaging import capture_viewpoint, load_imaging_plan
    from platform_control.sim.world import SimBladeSpec, SimWorld

    blade = params["sim_cell"]["blade"]
    spec = SimBladeSpec(
        preset=blade["preset"],
        seed=seed,
        defects_min=blade["defects_min"],
        defects_max=blade["defects_max"],
        defect_classes=tuple(c for c in blade["defect_classes"].split(",") if c),
        texture_seed=blade["texture_seed"],
    )
    world = SimWorld(spec, resolution=int(params["sim_cell"]["resolution"]), restore=False)
    plan = load_imaging_plan()
    refs = []
    try:
        world.cell.place_blade("fixture")
        for i, axes in enumerate(scan_axes):
            world.cell.set_stage_axes(axes)
            capture = capture_viewpoint(
                plan, world.lights, world.camera, i, axes, clock=world.camera.clock, wait=world.camera.wait
            )
            refs.append(
                store.put(
                    capture,
                    cycle_id=f"blade-{seed}",
                    blade_serial=f"SN-{seed}",
                    part_family=family,
                    label=world.camera.last_label(),
                    label_classes=tuple(world.label_classes),
                )
            )
    finally:
        world.close()
    return refs


def score(model_dir: Path, store, refs: list[str]) -> dict:
    from autonad_core import Detector
    from platform_control.defect_scoring import defect_iou

    detector = Detector(model_dir, device="cpu")
    predicted, truth = [], []
    for ref in refs:
        stored = store.load(ref, channels=detector.channels)
        image = np.moveaxis(np.asarray(stored.capture.frames), 0, -1)
        predicted.append(np.asarray(detector.predict(image).mask, dtype=np.uint8))
        truth.append(stored.label)
    truth_stack = np.stack(truth)
    result = defect_iou(np.stack(predicted), truth_stack, stored.label_classes)
    counts = np.bincount(truth_stack.ravel(), minlength=len(stored.label_classes))
    result["true_per_class"] = {c: int(counts[k]) for k, c in enumerate(stored.label_classes) if k}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME=YAML",
        help="a design configuration: name and AutoNAD overrides as YAML (default: cell_sim.yaml's)",
    )
    parser.add_argument("--skip-current", action="store_true", help="leave out cell_sim.yaml's own setting")
    parser.add_argument("--design-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=[4, 5], help="unseen blades")
    parser.add_argument("--json", type=Path, help="append one JSON line per design here")
    parser.add_argument("--home", type=Path, help="data root (default: a new temporary folder)")
    args = parser.parse_args()

    import torch
    from bladecell_ros.nodes.model_designer import parse_overrides
    from bladecell_ros.services.capture_store import CaptureStore

    from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
    from platform_control.part_families import PartFamilyCatalog, load_part_families

    params = _cell_params()
    designer = params["model_designer"]
    configs = {"current": parse_overrides(designer["overrides_yaml"], "cell_sim.yaml")}
    for item in args.config:
        name, _, text = item.partition("=")
        configs[name] = parse_overrides(text, f"--config {name}")
    if args.skip_current:
        configs.pop("current")
    torch.set_num_threads(int(designer["torch_threads"]) or torch.get_num_threads())

    home = args.home or Path(tempfile.mkdtemp(prefix="bladecell-loss-"))
    os.environ["BLADECELL_HOME"] = str(home)
    store = CaptureStore(home)
    coordinator = params["cell_coordinator"]
    catalog = PartFamilyCatalog(
        load_part_families(params["/**"]["part_families_yaml"]),
        load_camera_params(),
        load_stage_params(),
        load_cell_layout(),
        max_viewpoints=int(coordinator["max_viewpoints"]),
    )
    axes = catalog.scan_axes("HPT-SMALL")
    seed0 = int(params["sim_cell"]["blade"]["seed"])
    blades = {"seen": (seed0, scan_blade(store, seed0, FAMILY, params, axes))}
    for s in args.eval_seeds:
        blades[f"unseen-{s}"] = (s, scan_blade(store, s, f"EVAL-{s}", params, axes))
    val_fraction = float(params["dataset_store"]["val_fraction"])
    dataset = store.export(FAMILY, home / "dataset", val_fraction=val_fraction)
    print(
        f"{len(axes)} viewpoints per blade; {dataset.train} train + {dataset.val} val captures "
        f"in {dataset.dataset_dir}"
    )

    import autonad_core

    for name, overrides in configs.items():
        for design_seed in args.design_seeds:
            out = home / "designs" / f"{name}-s{design_seed}"
            cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            result = autonad_core.design(
                dataset.dataset_dir,
                out,
                preset=designer["preset"],
                device=designer["device"],
                target_device=designer["target_device"],
                overrides={**overrides, "seed": design_seed},
                show_progress=False,
            )
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            row = {
                "config": name,
                "design_seed": design_seed,
                "overrides": overrides,
                "design_wall_s": round(time.perf_counter() - wall0, 1),
                "design_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
                "val_miou": round(float(result.metrics.get("miou", float("nan"))), 4),
                "blades": {},
            }
            for label, (seed, refs) in blades.items():
                iou = score(Path(result.model_dir), store, refs)
                row["blades"][label] = {
                    "seed": seed,
                    "defect_iou": None if iou["defect_iou"] is None else round(iou["defect_iou"], 4),
                    "per_class": {k: None if v is None else round(v, 4) for k, v in iou["per_class"].items()},
                    "true_pixels": iou["true_per_class"],
                }
            print(json.dumps(row), flush=True)
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
