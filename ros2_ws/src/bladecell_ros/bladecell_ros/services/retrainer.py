"""Lightweight retraining of a family's deployed model (§V-H), ROS-free; `bladecell model ...` and the
admin API route wrap it.

`retrain(family)`: freeze the family's current labels as a snapshot (the newest; the same labels give
the same snapshot), write it as an AutoNAD dataset folder with a held-out part (whole cycles, chosen
by a hash of the cycle, so a blade is never on both sides), fine-tune the deployed network from its
current weights (`autonad_core.training.retrain.finetune`), score candidate and deployed model on
the held-out part with one metric code, register the candidate with its lineage, snapshot and both
scores, and promote it when asked to and `model_life.promotion_verdict` allows.

`like=OTHER`: a family without a model of its own starts from OTHER's deployed architecture and
weights (same classes and channels), trained on this family's snapshot instead of a search.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bladecell_ros.services.designer import new_model_version, scalar_metrics
from bladecell_ros.services.detection import NoModelError
from platform_control.cycle.refs import safe_name

# A short schedule: a few passes adapt the network to a minor shift (the paper's lightweight retraining).
DEFAULT_FINETUNE = {"retrain": {"epochs": 8, "lr": 5e-4, "eval_every": 1}}


class RetrainError(ValueError):
    """A retraining that cannot start (no snapshot data, no deployed model, mismatched classes)."""


@dataclass(frozen=True)
class RetrainOutcome:
    version: str
    parent_version: str
    snapshot_id: int
    snapshot_sha256: str
    dataset_dir: Path
    model_dir: Path
    train_samples: int
    heldout_samples: int
    candidate_iou: dict[str, float]
    deployed_iou: dict[str, float]
    deltas: dict[str, float]
    promotable: bool
    promoted: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def heldout_cycles(cycles: list[str], fraction: float) -> set[str]:
    """The cycles whose hash ranks in the top `fraction` (at least one, never all when >1)."""
    ranked = sorted(set(cycles), key=lambda c: hashlib.sha256(c.encode()).hexdigest())
    if len(ranked) < 2:
        return set()
    count = min(len(ranked) - 1, max(1, round(fraction * len(ranked))))
    return set(ranked[:count])


def export_snapshot(
    home: Path,
    items: list[dict[str, Any]],
    class_names: list[str],
    channels: list[str],
    out_dir: Path,
    heldout_fraction: float = 0.3,
) -> tuple[int, int]:
    """Write a snapshot as an AutoNAD dataset folder (files hard-linked from the content store);
    returns (train, held-out) sample counts. `channels` is the model's channel order."""
    if len(items) < 2:
        raise RetrainError(
            f"the snapshot holds {len(items)} labelled capture(s); retraining needs at least 2"
        )
    held = heldout_cycles([i["cycle_uuid"] for i in items], heldout_fraction)
    splits: dict[str, list[str]] = {"train": [], "val": []}
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for n, item in enumerate(items):
        stem = f"c{item['capture_id']:09d}"
        frames = {f["channel"]: f for f in item["frames"]}
        missing = [c for c in channels if c not in frames]
        if missing:
            raise RetrainError(f"capture {item['capture_id']} lacks channel(s) {missing} the model needs")
        for channel in channels:
            _link(home / frames[channel]["path"], tmp / "images" / stem / f"{channel}.png")
        _link(home / item["mask_path"], tmp / "masks" / f"{stem}.png")
        if held:
            split = "val" if item["cycle_uuid"] in held else "train"
        else:  # one cycle: every third capture is held out
            split = "val" if n % 3 == 2 else "train"
        splits[split].append(stem)
    if not splits["val"]:
        splits["val"].append(splits["train"].pop())
    for split, stems in splits.items():
        (tmp / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems))
    descriptor = {
        "name": out_dir.name,
        "classes": class_names,
        "channels": channels,
        "splits": {"train": "train.txt", "val": "val.txt"},
    }
    (tmp / "dataset.yaml").write_text(yaml.safe_dump(descriptor, sort_keys=False))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return len(splits["train"]), len(splits["val"])


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def finetune_config(
    parent_dir: Path, out_dir: Path, device: str, threads: int = 0, overrides: Mapping[str, Any] | None = None
) -> Any:
    """The configuration of a fine-tuning of ``parent_dir`` into ``out_dir``: the parent design's own
    (its pinned `config.yaml`, so data and loss settings stay the parent's; cpu-small when the folder
    stands alone) with the short `DEFAULT_FINETUNE` schedule, ``overrides``, ``device`` and no export;
    pinned in ``out_dir`` so a model fine-tuned from this one finds it the same way."""
    from autonad_core.config import deep_merge, load_config

    extra: dict[str, Any] = {"device": device, "export": {"torchscript": False, "onnx": False}}
    if threads > 0:
        extra["threads"] = threads
    merged = deep_merge(deep_merge(DEFAULT_FINETUNE, dict(overrides or {})), extra)
    pinned = Path(parent_dir).parent.parent / "config.yaml"
    cfg = load_config(None, pinned, merged) if pinned.is_file() else load_config("cpu-small", None, merged)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(cfg.to_yaml())
    return cfg


def channel_stats(split: Any) -> dict[str, dict[str, float]]:
    """Per channel {mean, std} of a loaded split's images at unit scale (the input-shift baseline)."""
    import numpy as np

    from autonad_core.data.preprocess import to_unit

    pixels = np.concatenate([to_unit(i, split.bit_depth).reshape(-1, i.shape[-1]) for i in split.images])
    channels = split.spec.channels
    return {
        c: {"mean": float(pixels[:, k].mean()), "std": float(pixels[:, k].std())}
        for k, c in enumerate(channels)
    }


def per_class_iou(scores: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in dict(scores.get("iou", {})).items()}


class ModelRetrainer:
    """Retrains a family's deployed model on its newest labels (see module docstring).

    ``factory``: a database session factory; ``finetune_fn`` / ``evaluate_fn`` default to
    autonad_core's (tests may pass their own)."""

    def __init__(
        self,
        home: Path,
        factory: Any,
        *,
        device: str = "cpu",
        threads: int = 0,
        overrides: Mapping[str, Any] | None = None,
        heldout_fraction: float = 0.3,
        finetune_fn: Callable[..., Any] | None = None,
        evaluate_fn: Callable[..., dict] | None = None,
    ) -> None:
        from database.services.registry import ModelRegistry

        self.home = Path(home).expanduser().resolve()
        self.factory = factory
        self.registry = ModelRegistry(factory)
        self.device, self.threads = device, threads
        self.overrides = dict(overrides or {})
        self.heldout_fraction = heldout_fraction
        self.finetune_fn = finetune_fn
        self.evaluate_fn = evaluate_fn

    def _model_dir(self, weights_path: str) -> Path:
        path = Path(weights_path)
        return path if path.is_absolute() else self.home / path

    def snapshot(self, family: str, note: str = "") -> tuple[int, str, list[dict], list[str], list[str]]:
        from database.services import labels
        from database.services.transactions import unit_of_work
        from database.storage import ContentStore

        with unit_of_work(self.factory, immediate=True) as session:
            row = labels.create_snapshot(session, ContentStore(self.home), family, None, note)
            return row.id, row.content_sha256, list(row.items), list(row.class_names), list(row.channels)

    def retrain(
        self,
        family: str,
        *,
        like: str | None = None,
        actor: str = "",
        auto_promote: bool = False,
        tolerance: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> RetrainOutcome:
        from autonad_core.data.mt import open_dataset
        from autonad_core.data.preprocess import Preprocess
        from database.orm import ModelOrigin
        from database.services import ModelCandidate, model_life
        from database.services.registry import Actor

        say = progress or (lambda message: None)
        began = time.perf_counter()
        timings: dict[str, float] = {}
        source_family = like or family
        parent = self.registry.deployed_for(source_family)
        if parent is None:
            raise NoModelError(f"no deployed model for part family {source_family!r}: design one first")
        if like is not None and self.registry.deployed_for(family) is not None:
            raise RetrainError(f"{family!r} already has a deployed model; retrain it without --like")
        parent_dir = self._model_dir(parent.weights_path)
        say(f"freezing the labels of {family}")
        snapshot_id, digest, items, class_names, _ = self.snapshot(family, f"retrain from {parent.version}")
        try:
            preprocess = Preprocess.load(parent_dir)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise RetrainError(f"model {parent.version!r} cannot be retrained: {exc}") from exc
        if tuple(class_names) != tuple(preprocess.class_names):
            raise RetrainError(
                f"snapshot {snapshot_id} labels classes {class_names}, model {parent.version!r} has "
                f"{list(preprocess.class_names)}"
            )
        dataset_dir = self.home / "datasets" / safe_name(family) / f"snapshot-{snapshot_id}"
        train_n, held_n = export_snapshot(
            self.home, items, class_names, list(preprocess.channels), dataset_dir, self.heldout_fraction
        )
        timings["export_s"] = time.perf_counter() - began
        version = new_model_version(family)
        out_dir = self.home / "models" / safe_name(family) / version
        cfg = finetune_config(parent_dir, out_dir, self.device, self.threads, self.overrides)
        say(f"fine-tuning {parent.version} on snapshot {snapshot_id} ({train_n} train, {held_n} held out)")
        finetune = self.finetune_fn
        if finetune is None:
            from autonad_core.training.retrain import finetune
        start = time.perf_counter()
        result = finetune(cfg, parent_dir, dataset_dir, out_dir, None, False)
        timings["finetune_s"] = time.perf_counter() - start
        model_dir = Path(result.model_dir)
        evaluate = self.evaluate_fn
        if evaluate is None:
            from autonad_core.evaluation import evaluate_model_dir as evaluate
        start = time.perf_counter()
        cand = evaluate(model_dir, dataset_dir, "val", self.device)["model"]
        base = evaluate(parent_dir, dataset_dir, "val", self.device)["model"]
        timings["evaluate_s"] = time.perf_counter() - start
        cand_iou, base_iou = per_class_iou(cand), per_class_iou(base)
        with self.factory() as session:
            limits = (
                model_life.thresholds_for(session, family)
                if _family_exists(session, family)
                else dict(model_life.DEFAULT_THRESHOLDS)
            )
        tol = limits["promotion_tolerance"] if tolerance is None else float(tolerance)
        promotable, deltas = model_life.promotion_verdict(cand_iou, base_iou, tol)
        input_stats = channel_stats(open_dataset(dataset_dir).load_split("train"))
        metrics = {
            **scalar_metrics(cand),
            **{f"heldout.deployed.{k}": v for k, v in scalar_metrics(base).items()},
        }
        weights = model_dir / "weights.pt"
        candidate = ModelCandidate(
            version=version,
            part_family=family,
            architecture=json.loads((model_dir / "arch.json").read_text()),
            metrics=metrics,
            latency_ms=parent.latency_ms,
            latency_device=parent.latency_device,
            weights_path=model_dir.relative_to(self.home).as_posix()
            if model_dir.is_relative_to(self.home)
            else str(model_dir),
            weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
            dataset_snapshot=f"snapshot {snapshot_id} sha256:{digest}"[:200],
            notes=f"fine-tuned from {parent.version} ({cfg.retrain.epochs} epochs, lr {cfg.retrain.lr:g}) on "
            f"{train_n} captures; held-out {held_n}",
            origin=ModelOrigin.LIKE_FAMILY if like else ModelOrigin.RETRAINED,
            parent_version=parent.version,
            snapshot_id=snapshot_id,
            class_names=class_names,
            channels=list(preprocess.channels),
            input_stats=input_stats,
        )
        who = Actor(name=actor or "retrainer")
        self.registry.register_candidate(candidate, who)
        figures = {"candidate_iou": cand_iou, "deployed_iou": base_iou, "deltas": deltas, "tolerance": tol}
        promoted = False
        if like is not None:  # the family's first model: deployed like a design's
            self.registry.deploy(version, who)
            promoted = True
        elif auto_promote and promotable:
            self.registry.promote(
                family,
                version,
                Actor(name="auto-promotion"),
                reason=f"not worse than {parent.version} on any class by more than {tol:g} IoU",
                figures=figures,
            )
            promoted = True
        timings["total_s"] = time.perf_counter() - began
        return RetrainOutcome(
            version=version,
            parent_version=parent.version,
            snapshot_id=snapshot_id,
            snapshot_sha256=digest,
            dataset_dir=dataset_dir,
            model_dir=model_dir,
            train_samples=train_n,
            heldout_samples=held_n,
            candidate_iou=cand_iou,
            deployed_iou=base_iou,
            deltas=deltas,
            promotable=promotable,
            promoted=promoted,
            seconds=timings["total_s"],
            timings=timings,
        )


def _family_exists(session: Any, code: str) -> bool:
    from sqlalchemy import select

    from database.orm import PartFamily

    return session.scalar(select(PartFamily.id).where(PartFamily.code == code)) is not None


def api_runner(home: Path, factory: Any, **options: Any) -> Callable[..., dict[str, Any]]:
    """What the admin route `POST /model-life/retrain` runs (attached by `bladecell db serve`)."""
    retrainer = ModelRetrainer(home, factory, **options)

    def run(part_family: str, **kwargs: Any) -> dict[str, Any]:
        outcome = retrainer.retrain(part_family, **kwargs)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in outcome.__dict__.items()}

    return run
