"""Stage 3 of AutoNAD: retrain the searched subnet (paper §7): Adam lr 1e-4 with poly decay,
cross-entropy only, the supernet's augmentation, best checkpoint by validation mIoU.

The subnet starts from the weights it inherits from the supernet (`retrain.inherit`, default on, as the
authors' code does: fine-tuning converges in far fewer epochs than training from scratch); with
`inherit: false` it starts from a freshly initialised supernet's slices.

Output (`<out>/retrain/`): `last.pt` (resumable), `history.json`, and `best/`: the model folder the
detector, `autonad predict` and `autonad export` load (arch.json, weights, meta.json from the model side's
`save_subnet`, plus `preprocess.json` and `metrics.json`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from autonad_core.atomic_io import atomic_write_json
from autonad_core.config import DesignConfig, resolve_device
from autonad_core.data.preprocess import Preprocess
from autonad_core.progress import ProgressCallback
from autonad_core.training.checkpoint import seed_everything
from autonad_core.training.common import (
    PreparedData,
    apply_threads,
    build_loss,
    build_space,
    class_pixel_counts,
    prepare_data,
)
from autonad_core.training.fit import FitResult, fit_segmentation
from autonad_core.training.supernet_trainer import STAGE as SUPERNET_STAGE
from autonad_core.training.supernet_trainer import load_supernet

STAGE = "retrain"
METRICS_FILE = "metrics.json"
TRAIN_PIXELS = "train_pixels"  # metrics.json: labelled training pixels per class


@dataclass
class RetrainOutput:
    model_dir: Path
    arch: object
    fit: FitResult


def _fit_and_save(
    cfg: DesignConfig,
    model: torch.nn.Module,
    data: PreparedData,
    dataset_dir: Path,
    stage_dir: Path,
    stage: str,
    origin: dict,
    device: torch.device,
    progress: ProgressCallback | None,
    show_progress: bool,
) -> FitResult:
    """Train ``model`` on ``data`` with ``cfg.retrain``'s schedule into ``stage_dir``; the best
    checkpoint becomes a model folder (subnet, preprocessing, metrics). ``origin`` (the architecture,
    or the parent's weights hash) joins the fingerprint that lets an interrupted run resume only
    on the same inputs. Shared by retraining and fine-tuning, so both save the same folder."""
    from autonad_core.models.subnet import save_subnet

    names = data.preprocess.class_names
    # what the model was shown: a class with no training pixels cannot be detected, whatever its score
    train_pixels = dict(zip(names, class_pixel_counts(data.train.masks, len(names)).tolist(), strict=True))

    def save_best(module: torch.nn.Module, folder: Path, scores: dict) -> None:
        save_subnet(module, folder)
        data.preprocess.save(folder)
        atomic_write_json(
            folder / METRICS_FILE, {"split": cfg.data.val_split, **scores, TRAIN_PIXELS: train_pixels}
        )

    fingerprint = {
        "dataset": str(Path(dataset_dir).resolve()),
        "seed": cfg.seed,
        **origin,
        "data": cfg.data.model_dump(mode="json", exclude={"num_workers"}),
        "retrain": cfg.retrain.model_dump(mode="json"),
        "loss": cfg.loss.model_dump(mode="json"),
    }
    return fit_segmentation(
        model,
        data,
        cfg.retrain,
        stage_dir,
        cfg.seed,
        device,
        save_best,
        fingerprint,
        progress,
        show_progress,
        stage=stage,
        loss_fn=build_loss(cfg.loss, data),
    )


def _arch_from(out_dir: Path, arch):
    from autonad_core.models.arch import Arch

    if arch is None:
        path = Path(out_dir) / "search" / "best_arch.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no searched architecture (run `autonad search` first or pass one)"
            )
        return Arch.from_json(path.read_text())
    if isinstance(arch, str | Path):
        return Arch.from_json(Path(arch).read_text())
    return arch


def retrain(
    cfg: DesignConfig,
    dataset_dir: Path,
    out_dir: Path,
    arch=None,
    progress: ProgressCallback | None = None,
    show_progress: bool = True,
    stage_name: str = STAGE,
) -> RetrainOutput:
    """Retrain `arch` (default: the search result); the best model goes to `<out>/<stage_name>/best`
    (`retrain`; benchmarks retraining several subnets of one supernet give each its own folder)."""
    from autonad_core.models.subnet import materialize
    from autonad_core.models.supernet import Supernet

    out_dir = Path(out_dir)
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    arch = _arch_from(out_dir, arch)
    seed_everything(cfg.seed)
    preprocess = Preprocess.load(out_dir) if (out_dir / "preprocess.json").is_file() else None
    data = prepare_data(cfg, dataset_dir, preprocess)
    if cfg.retrain.inherit:
        net, space, _ = load_supernet(out_dir / SUPERNET_STAGE, device)
    else:
        space = build_space(cfg)
        net = Supernet(space, data.spec.in_channels, data.spec.num_classes, sharing=cfg.supernet.sharing)
    space.validate(arch)
    model = materialize(net, arch, drop_path_rate=cfg.retrain.drop_path)
    del net

    result = _fit_and_save(
        cfg,
        model,
        data,
        dataset_dir,
        out_dir / stage_name,
        STAGE,
        {"arch": arch.to_json()},
        device,
        progress,
        show_progress,
    )
    return RetrainOutput(result.best_dir, arch, result)


FINETUNE_STAGE = "finetune"


def design_config_of(model_dir: Path) -> DesignConfig | None:
    """The configuration a model folder was trained with (`<design out>/config.yaml`, two levels up
    from `retrain/best` or `finetune/best`), or None when the folder stands alone."""
    from autonad_core.config import load_config

    pinned = Path(model_dir).resolve().parent.parent / "config.yaml"
    return load_config(None, pinned) if pinned.is_file() else None


def finetune(
    cfg: DesignConfig,
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    show_progress: bool = True,
) -> RetrainOutput:
    """Lightweight retraining (§V-H): the deployed network, from its current weights, on new labelled
    data. Architecture and input contract (channels, classes, normalisation, tile) stay the model's,
    so the detector loads the result like its parent; `cfg.retrain` sets the (short) schedule. The
    best model by validation mIoU goes to `<out>/finetune/best`; an interrupted run resumes."""
    from autonad_core.models.subnet import load_subnet

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    seed_everything(cfg.seed)
    preprocess = Preprocess.load(model_dir)
    data = prepare_data(cfg, dataset_dir, preprocess)  # refuses other classes or channels, naming them
    model = load_subnet(model_dir)
    weights = (model_dir / "weights.pt").read_bytes()
    result = _fit_and_save(
        cfg,
        model,
        data,
        dataset_dir,
        out_dir / FINETUNE_STAGE,
        FINETUNE_STAGE,
        {"parent_weights": hashlib.sha256(weights).hexdigest()},
        device,
        progress,
        show_progress,
    )
    return RetrainOutput(result.best_dir, model.arch, result)
