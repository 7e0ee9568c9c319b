"""Training a standalone segmentation network (retraining a searched subnet, or a baseline): Adam with
poly learning-rate decay, cross-entropy, the same augmentation as the supernet, validation mIoU every
`eval_every` epochs, the best model kept. Checkpoints are atomic and per epoch, so an interrupted run
resumes where it stopped (identically: same RNG-state handling as the supernet trainer)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from autonad_core.atomic_io import atomic_torch_save, atomic_write_json
from autonad_core.config import ConfigError, RetrainConfig
from autonad_core.deploy.inference import evaluate
from autonad_core.metrics import SegmentationScores
from autonad_core.progress import ProgressCallback, report
from autonad_core.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
)
from autonad_core.training.common import (
    LossFn,
    PreparedData,
    poly_factor,
    segmentation_loss,
    train_loader,
    use_amp,
)
from autonad_core.training.distributed import DistContext

SaveBest = Callable[[nn.Module, Path, dict], None]
"""save_best(model, folder, validation scores) writes the best model into `folder`."""


@dataclass
class FitResult:
    best_dir: Path
    best_miou: float
    best_epoch: int
    best_scores: dict
    history: list[dict]


def replace_dir(build: Callable[[Path], None], target: Path) -> Path:
    """Write a folder via `build(tmp)` then swap it in, so `target` is never half written."""
    target = Path(target)
    tmp, old = target.with_name(target.name + ".tmp"), target.with_name(target.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _recover_dir(target: Path) -> None:
    old = target.with_name(target.name + ".old")
    if not target.exists() and old.exists():
        old.rename(target)


def fit_segmentation(
    model: nn.Module,
    data: PreparedData,
    rc: RetrainConfig,
    stage_dir: Path,
    seed: int,
    device: str,
    save_best: SaveBest,
    fingerprint: dict,
    progress: ProgressCallback | None = None,
    show_progress: bool = True,
    stage: str = "retrain",
    loss_fn: LossFn = segmentation_loss,
) -> FitResult:
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    best_dir = stage_dir / "best"
    _recover_dir(best_dir)
    ckpt_path = stage_dir / "last.pt"
    model = model.to(device)
    amp = use_amp(rc.amp, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=rc.lr, weight_decay=rc.weight_decay)
    ctx = DistContext()
    steps = len(train_loader(data.train, rc.batch_size, seed, 0, ctx))
    total = steps * rc.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: poly_factor(step, total, rc.poly_power)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    history: list[dict] = []
    best = {"miou": -1.0, "epoch": 0, "scores": {}}
    start = 0
    if ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        if ckpt["fingerprint"] != fingerprint:
            raise ConfigError(f"{ckpt_path}: started with another configuration; use a new output folder")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        history, best, start = ckpt["history"], ckpt["best"], ckpt["epoch"]
        restore_rng_state(ckpt["rng"])
    num_classes = len(data.preprocess.class_names)

    for epoch in range(start, rc.epochs):
        model.train()
        loader = train_loader(data.train, rc.batch_size, seed, epoch, ctx)
        losses, seen, began = [], 0, time.perf_counter()
        bar = tqdm(
            loader,
            desc=f"{stage} {epoch + 1}/{rc.epochs}",
            disable=not show_progress,
            leave=False,
            dynamic_ncols=True,
        )
        for step, (image, mask) in enumerate(bar):
            image, mask = image.to(device), mask.to(device)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                loss = loss_fn(model(image), mask)
            scaler.scale(loss).backward()
            if rc.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), rc.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(float(loss.detach()))
            seen += image.shape[0]
            rate = seen / max(time.perf_counter() - began, 1e-9)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", img_s=f"{rate:.1f}")
            report(
                progress,
                stage,
                (epoch * steps + step + 1) / total,
                f"epoch {epoch + 1}/{rc.epochs}",
                loss=losses[-1],
                img_per_s=rate,
            )
        bar.close()
        entry = {
            "epoch": epoch + 1,
            "loss": sum(losses) / len(losses),
            "step_losses": losses,
            "lr": scheduler.get_last_lr()[0],
            "seconds": time.perf_counter() - began,
        }
        if (epoch + 1) % rc.eval_every == 0 or epoch + 1 == rc.epochs:
            model.eval()
            scores: SegmentationScores = evaluate(model, data.val, num_classes, device, rc.batch_size).scores(
                data.preprocess.class_names
            )
            entry["val"] = scores.as_dict()
            if scores.miou > best["miou"]:
                best = {"miou": scores.miou, "epoch": epoch + 1, "scores": scores.as_dict()}
                scores_now = best["scores"]
                replace_dir(lambda tmp, s=scores_now: save_best(model, tmp, s), best_dir)
        history.append(entry)
        atomic_torch_save(
            {
                "fingerprint": fingerprint,
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "history": history,
                "best": best,
                "rng": capture_rng_state(),
            },
            ckpt_path,
        )
        atomic_write_json(stage_dir / "history.json", {"best": best, "epochs": history})
    return FitResult(best_dir, best["miou"], best["epoch"], best["scores"], history)
