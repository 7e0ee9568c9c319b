"""Benchmark: the model's life after its first design (issue 18) — old vs retrained model on blades
whose defects look different, and the retraining time.

    .venv/bin/python benchmarks/model_life.py [--resolution 96] [--normal 6] [--shifted 8] [--shift 0.8]
        [--design-epochs 30] [--finetune-epochs 15] [--threads 2] [--json F]

In a fresh temporary $BLADECELL_HOME (SQLite):
1. design family A with AutoNAD (cpu-small preset, reduced budget) on `--normal` simulated blades;
2. inspect `--shifted` blades rendered with the simulator's appearance shift (defects' colour contrast
   inverted towards `--shift`, coating from another lot) through the cell's detect/record steps;
3. the health check (input statistics) before and after review;
4. review: every detection confirmed or marked false positive against the simulator's truth, and the
   truth painted as each capture's mask (what the web editor stores), through the label service;
5. `ModelRetrainer.retrain` (fine-tune from the deployed weights on the snapshot): per-class IoU of the
   old and the new model on the held-out shifted blades (whole cycles), and the retraining time.
The machine may be shared with other work: say so when quoting the times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--normal", type=int, default=6, help="normal blades for the first design")
    parser.add_argument("--shifted", type=int, default=8, help="blades with the shifted appearance")
    parser.add_argument("--views", type=int, default=4, help="views per blade")
    parser.add_argument("--shift", type=float, default=0.8)
    parser.add_argument("--design-epochs", type=int, default=30, help="retraining epochs of the design")
    parser.add_argument("--finetune-epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bladecell-model-life-"))
    home = root / "home"
    home.mkdir()
    os.environ["BLADECELL_HOME"] = str(home)
    os.environ.pop("BLADECELL_DATABASE_URL", None)

    import cv2
    from bladecell_ros.services.designer import ModelDesigner
    from bladecell_ros.services.replay import ReplayCell, read_blades
    from bladecell_ros.services.retrainer import ModelRetrainer
    from sqlalchemy import select

    from database import migrate
    from database.engine import create_db_engine, make_session_factory
    from database.orm import Capture, CorrectionKind, Defect, InspectionCycle, Role
    from database.services import ModelRegistry, accounts, labels, model_life
    from database.services.transactions import unit_of_work
    from database.settings import load_settings
    from database.storage import ContentStore
    from platform_control.sim.dataset import generate_dataset

    settings = load_settings()
    migrate.upgrade(settings.url)
    factory = make_session_factory(create_db_engine(settings.url))
    store = ContentStore(home)
    registry = ModelRegistry(factory)
    family = "HPT-A"
    res = (args.resolution, args.resolution)
    common = dict(presets=("small",), views_per_blade=args.views, resolution=res, progress=False)
    t = time.perf_counter()
    generate_dataset(args.normal, 21, root / "normal", **common)
    generate_dataset(args.shifted, 22, root / "shifted", appearance_shift=args.shift, **common)
    render_s = time.perf_counter() - t

    overrides = {
        "data": {"input_size": [64, 64], "mode": "crop"},
        "supernet": {"epochs": 4, "batch_size": 4},
        "search": {"population": 6, "generations": 2, "top_k": 2, "latency_repeats": 3, "latency_warmup": 1},
        "retrain": {"epochs": args.design_epochs, "batch_size": 4},
        "export": {"torchscript": False, "onnx": False},
        "threads": args.threads,
    }
    t = time.perf_counter()
    designed = ModelDesigner(home, registry, overrides=overrides).run(family, root / "normal")
    design_s = time.perf_counter() - t
    print(f"designed {designed.version} in {design_s:.0f} s (val mIoU {designed.miou:.3f})")

    cell = ReplayCell(home, factory, threads=args.threads)
    for b, views in read_blades(root / "normal").items():
        cell.inspect(root / "normal", b, views, family, f"SN-N{b}")
    shifted = {
        b: cell.inspect(root / "shifted", b, views, family, f"SN-S{b}")
        for b, views in read_blades(root / "shifted").items()
    }
    with unit_of_work(factory, immediate=True) as session:
        before = model_life.health_out(session, model_life.assess(session, store, family), family)
        engineer = accounts.create_user(session, "bench-eng", Role.ENGINEER)
    print(f"health after the shifted blades: {before['level']}: {before['reasons']}")

    t = time.perf_counter()
    uuids = {c.cycle_id: c for c in shifted.values()}
    with unit_of_work(factory, immediate=True) as session:
        engineer = session.merge(engineer)
        rows = session.execute(
            select(Capture, InspectionCycle).join(InspectionCycle, InspectionCycle.id == Capture.cycle_id)
        ).all()
        for capture, cycle in rows:
            replay = uuids.get(cycle.cycle_uuid.hex)
            if replay is None:
                continue
            truth = cv2.imread(
                str(root / "shifted" / "masks" / f"{replay.stems[capture.viewpoint_index]}.png"),
                cv2.IMREAD_UNCHANGED,
            )
            for d in session.scalars(select(Defect).where(Defect.capture_id == capture.id)):
                hit = (truth[d.bbox_y : d.bbox_y + d.bbox_h, d.bbox_x : d.bbox_x + d.bbox_w] > 0).any()
                kind = CorrectionKind.CONFIRM if hit else CorrectionKind.FALSE_POSITIVE
                labels.correct_defect(session, store, d.id, kind, engineer)
            _, png = cv2.imencode(".png", truth)
            labels.correct_capture(session, store, capture.id, png.tobytes(), engineer)
    review_s = time.perf_counter() - t
    with unit_of_work(factory, immediate=True) as session:
        after = model_life.health_out(session, model_life.assess(session, store, family), family)
    print(f"health after review: {after['level']}: {after['reasons']}")

    retrainer = ModelRetrainer(
        home,
        factory,
        threads=args.threads,
        overrides={"retrain": {"epochs": args.finetune_epochs, "batch_size": 4}},
    )
    out = retrainer.retrain(family, actor="benchmark")

    def mean(values: dict[str, float], skip_background: bool = False) -> float:
        vals = [
            v for k, v in values.items() if math.isfinite(v) and not (skip_background and k == "background")
        ]
        return sum(vals) / len(vals) if vals else float("nan")

    print(f"\nheld-out shifted blades: {out.heldout_samples} captures; trained on {out.train_samples}")
    print(f"{'class':14s} {'old IoU':>8s} {'new IoU':>8s}")
    for name in out.candidate_iou:
        print(f"{name:14s} {out.deployed_iou.get(name, float('nan')):8.3f} {out.candidate_iou[name]:8.3f}")
    print(f"{'mIoU (all)':14s} {mean(out.deployed_iou):8.3f} {mean(out.candidate_iou):8.3f}")
    print(f"{'mIoU (defect)':14s} {mean(out.deployed_iou, True):8.3f} {mean(out.candidate_iou, True):8.3f}")
    print(
        f"retraining: {out.timings['finetune_s']:.1f} s fine-tune ({args.finetune_epochs} epochs, "
        f"{args.threads} threads), {out.seconds:.1f} s in all; promotable: {out.promotable}"
    )
    result = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpu_count": os.cpu_count(),
        "render_s": render_s,
        "design_s": design_s,
        "review_s": review_s,
        "health_before_review": before,
        "health_after_review": after,
        "old_iou": out.deployed_iou,
        "new_iou": out.candidate_iou,
        "old_miou": mean(out.deployed_iou),
        "new_miou": mean(out.candidate_iou),
        "old_miou_defect": mean(out.deployed_iou, True),
        "new_miou_defect": mean(out.candidate_iou, True),
        "heldout_captures": out.heldout_samples,
        "train_captures": out.train_samples,
        "retrain_timings_s": out.timings,
        "promotable": out.promotable,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
