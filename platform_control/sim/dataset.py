"""Labelled multispectral datasets from the simulated cell, in the generic folder format autonad reads.

Layout (autonad_core/data/FORMAT.md): `dataset.yaml` (classes, channels, bit depth, splits),
`images/<stem>/<channel>.png` (one single-channel PNG per light channel), `masks/<stem>.png` (8-bit class
indices), `train.txt` / `val.txt` (one stem per line). Splits are by blade, so no blade appears in both.
`meta/<blade>.json` keeps the ground truth behind the masks: the blade preset and seed, every defect's
class and geometry (blade frame), and the stage axes and class pixel counts of every view.

Views per blade: evenly spaced stops of the coverage planner's real scan plan, plus (optionally) one
view centred on each defect, so every class is well represented. Stage poses are set kinematically
here (images do not depend on how the stage got there); `scan.py` drives the motion through physics.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm.auto import tqdm

from platform_control.blade import blade_preset, generate_blade, label_mask
from platform_control.coverage import CoveragePlanner
from platform_control.imaging import load_imaging_plan
from platform_control.params import load_camera_params
from platform_control.sim.cell import SimCell
from platform_control.sim.defects import load_defects_config
from platform_control.sim.optics import load_optics
from platform_control.sim.placement import BladeSurface, sample_defects
from platform_control.sim.render import SimBlade
from platform_control.stage import StageKinematics, StageLimitError

DESCRIPTOR_NAME = "dataset.yaml"


@dataclass(frozen=True)
class DatasetSummary:
    root: Path
    samples: int
    train: int
    val: int
    class_pixels: dict[str, int]


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def _view_axes(
    plan_axes: np.ndarray, defects, stage: StageKinematics, views_per_blade: int | None, defect_views: bool
) -> list[tuple[str, np.ndarray]]:
    views: list[tuple[str, np.ndarray]] = []
    if views_per_blade is None or views_per_blade >= len(plan_axes):
        picks = range(len(plan_axes))
    else:
        picks = np.unique(np.linspace(0, len(plan_axes) - 1, max(views_per_blade, 1)).round().astype(int))
    views += [(f"plan{int(i):03d}", plan_axes[i]) for i in picks]
    if defect_views:
        for k, d in enumerate(defects):
            try:
                views.append((f"defect{k:02d}", stage.viewpoint_to_axes(d.frame.center, d.frame.normal)))
            except StageLimitError:
                continue
    return views


def generate_dataset(
    n_blades: int,
    seed: int,
    out_dir: Path | str,
    *,
    presets: Sequence[str] = ("small", "medium"),
    views_per_blade: int | None = 6,
    defect_views: bool = True,
    defects_per_blade: tuple[int, int] = (3, 8),
    resolution: tuple[int, int] | None = None,
    binning: int | None = None,
    val_fraction: float = 0.2,
    overwrite: bool = False,
    progress: bool = True,
    appearance_shift: float = 0.0,
) -> DatasetSummary:
    """Render `n_blades` generated blades with seeded random defects into `out_dir`.

    The same `seed` (and arguments) gives byte-identical files. `resolution` (width, height) overrides
    the optics file's frame size; `binning` instead renders the camera's whole sensor binned 1x, 2x, 4x
    (each blade's meta file states the frame's binning and pixel footprint on the blade);
    `views_per_blade=None` renders every stop of the scan plan. `appearance_shift` in [0, 1] renders
    defects and coating changed (`sim.appearance_shift`; masks unchanged).
    """
    if n_blades < 1:
        raise ValueError(f"n_blades must be at least 1, got {n_blades}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    for name in presets:
        blade_preset(name)
    if resolution is not None and binning is not None:
        raise ValueError("give a frame resolution or a sensor binning, not both")
    optics = load_optics()
    if resolution is not None:
        optics = optics.with_resolution(*resolution)
    if binning is not None:
        optics = optics.with_binning(load_camera_params(), binning)
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} is not empty; choose another directory or pass overwrite=True")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    imaging = load_imaging_plan()
    classes = load_defects_config().classes
    channels = imaging.order
    n_val = max(1, round(val_fraction * n_blades)) if n_blades > 1 else 0
    splits: dict[str, list[str]] = {"train": [], "val": []}
    class_pixels = np.zeros(len(classes), dtype=np.int64)
    bar = tqdm(total=n_blades, desc="blades", disable=not progress, unit="blade")
    for b in range(n_blades):
        rng = np.random.default_rng([seed, b])
        preset = presets[int(rng.integers(len(presets)))]
        blade_seed = int(rng.integers(2**31))
        mesh = generate_blade(blade_preset(preset), seed=blade_seed)
        surface = BladeSurface(mesh, label_mask(mesh, ["airfoil"]))
        defects = sample_defects(surface, rng, defects_per_blade)
        with SimCell(SimBlade(mesh, defects, blade_seed), optics=optics) as cell:
            stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
            plan = CoveragePlanner(cell.camera_params, stage).plan(mesh)
            cell.place_blade("fixture")
            views = _view_axes(plan.axes, defects, stage, views_per_blade, defect_views)
            renderer = cell.renderer()
            if appearance_shift:
                renderer.shift_appearance(appearance_shift)
            meta_views = []
            for v, (label, axes) in enumerate(views):
                cell.set_stage_axes(axes)
                cap = renderer.capture(cell.data, np.random.default_rng([seed, b, v]))
                stem = f"b{b:04d}_v{v:03d}"
                for channel, frame in zip(cap.channels, cap.frames, strict=True):
                    _write_png(root / "images" / stem / f"{channel}.png", frame)
                _write_png(root / "masks" / f"{stem}.png", cap.mask)
                counts = np.bincount(cap.mask.ravel(), minlength=len(classes))
                class_pixels += counts
                meta_views.append(
                    {
                        "stem": stem,
                        "view": label,
                        "stage_axes": np.round(axes, 7).tolist(),
                        "class_pixels": {c: int(n) for c, n in zip(classes, counts, strict=True) if n},
                    }
                )
                (splits["val"] if b >= n_blades - n_val else splits["train"]).append(stem)
        meta = {
            "blade": b,
            "preset": preset,
            "blade_seed": blade_seed,
            "mesh_faces": len(mesh.faces),
            "frame": renderer.frame_metadata(),  # size, binning, pixel footprint on the blade (um)
            "defects": [d.to_json() for d in defects],
            "views": meta_views,
        }
        (root / "meta").mkdir(exist_ok=True)
        (root / "meta" / f"b{b:04d}.json").write_text(json.dumps(meta, indent=1))
        bar.update(1)
    bar.close()
    if n_val == 0:  # a single blade: hold out its last views instead
        if len(splits["train"]) < 2:
            raise ValueError("one blade with one view cannot fill both splits: render more views or blades")
        cut = max(1, round(val_fraction * len(splits["train"])))
        splits["train"], splits["val"] = splits["train"][:-cut], splits["train"][-cut:]
    for split, stems in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems))
    descriptor = {
        "name": f"bladecell-sim-seed{seed}",
        "classes": list(classes),
        "channels": list(channels),
        "bit_depth": optics.sensor.output_bit_depth,
        "splits": {"train": "train.txt", "val": "val.txt"},
    }
    (root / DESCRIPTOR_NAME).write_text(yaml.safe_dump(descriptor, sort_keys=False))
    return DatasetSummary(
        root,
        sum(len(s) for s in splits.values()),
        len(splits["train"]),
        len(splits["val"]),
        {c: int(n) for c, n in zip(classes, class_pixels, strict=True)},
    )
