"""Stage 1 of AutoNAD: train the weight-sharing supernet (paper §5).

AdamW (lr 5e-4) with per-step cosine decay; one subnet sampled uniformly per step (or, with
`supernet.sampling: sandwich`, largest + smallest + one random, gradients summed, the two smaller ones
distilled in place from the largest's predictions); cross-entropy; AMP on CUDA only; DDP under torchrun.
The architecture of step s in epoch e is drawn from `random.Random(f"{seed}-{e}-{s}")`, so it is the same
on every rank and after a resume. At the end the main rank writes the latency prior, built from the
design's latency table (measured once on the target device, latency_table.py).

Output folder (`<out>/supernet/`): `last.pt` (atomic, every epoch: weights, optimizer, scheduler, AMP
scaler, RNG states, epoch, loss log), `history.json`, `supernet.pt` (final weights),
`latency_prior.json` + `latency_prior.png`; the table itself is `<out>/latency_table.json`.
Re-running with the same configuration resumes from `last.pt`; a finished stage is not re-run.
"""

from __future__ import annotations

import json
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from autonad_core.atomic_io import atomic_torch_save, atomic_write_json
from autonad_core.config import ConfigError, DesignConfig, resolve_device
from autonad_core.progress import ProgressCallback, report
from autonad_core.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    seed_everything,
)
from autonad_core.training.common import (
    apply_threads,
    build_loss,
    build_space,
    copy_space_yaml,
    cosine_factor,
    distillation_loss,
    prepare_data,
    train_loader,
    use_amp,
)
from autonad_core.training.distributed import DistContext, init_distributed
from autonad_core.training.latency_prior import plot_prior
from autonad_core.training.latency_prior import prior_json as build_prior_json
from autonad_core.training.latency_table import design_table
from autonad_core.training.unused_slices import UnusedSliceGuard

STAGE = "supernet"
CHECKPOINT = "last.pt"
WEIGHTS = "supernet.pt"
PRIOR_JSON = "latency_prior.json"
PRIOR_PNG = "latency_prior.png"


@dataclass
class SupernetResult:
    directory: Path
    weights: Path
    prior_json: Path | None
    history: list[dict]
    net: torch.nn.Module | None = None
    """The trained supernet (None when the stage was already finished and nothing was trained)."""


def fingerprint(cfg: DesignConfig, dataset_dir: Path) -> dict:
    """What must not change between a run and its resume."""
    data = cfg.data.model_dump(mode="json", exclude={"num_workers"})
    return {
        "dataset": str(Path(dataset_dir).resolve()),
        "seed": cfg.seed,
        "data": data,
        "space": cfg.space.model_dump(mode="json"),
        "supernet": cfg.supernet.model_dump(mode="json"),
        "loss": cfg.loss.model_dump(mode="json"),
    }


def check_fingerprint(saved: dict, current: dict, where: Path) -> None:
    if saved == current:
        return
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            diffs.append(f"  {key}: checkpoint {saved.get(key)!r} != now {current.get(key)!r}")
    raise ConfigError(
        f"{where}: the output folder was started with another configuration; use a new output folder "
        "or the same configuration:\n" + "\n".join(diffs)
    )


def sample_archs(space, seed: int, epoch: int, step: int, sampling: str) -> list:
    """The subnets of one step (`uniform`: one; `sandwich`: largest, smallest, one random), the same
    on every rank and after a resume."""
    rng = random.Random(f"{seed}-{epoch}-{step}")
    if sampling == "sandwich":
        return [space.largest(), space.smallest(), space.sample(rng)]
    return [space.sample(rng)]


def load_supernet(directory: Path, device: str = "cpu"):
    """(net, meta) from `<out>/supernet/supernet.pt` (meta: sharing, in_channels, num_classes)."""
    from autonad_core.models.search_space import SearchSpace
    from autonad_core.models.supernet import Supernet

    path = Path(directory) / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained supernet (run `autonad train-supernet` first)")
    blob = load_checkpoint(path)
    # The space YAML is copied into the output folder; stored relative so the folder can move.
    space = (
        SearchSpace.from_yaml(Path(directory).parent / blob["space_yaml"])
        if blob["space_yaml"]
        else SearchSpace()
    )
    net = Supernet(space, blob["in_channels"], blob["num_classes"], sharing=blob["sharing"])
    net.load_state_dict(blob["state_dict"])
    return net.to(device).eval(), space, blob


def train_supernet(
    cfg: DesignConfig,
    dataset_dir: Path,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    show_progress: bool = True,
) -> SupernetResult:
    from autonad_core.models.supernet import Supernet

    sc = cfg.supernet
    apply_threads(cfg)
    stage_dir = Path(out_dir) / STAGE
    device = resolve_device(cfg.device)
    ctx, device = init_distributed(device)
    amp = use_amp(sc.amp, device)
    seed_everything(cfg.seed)
    current = fingerprint(cfg, dataset_dir)
    ckpt_path = stage_dir / CHECKPOINT
    ckpt = load_checkpoint(ckpt_path) if ckpt_path.is_file() else None
    if ckpt is not None:
        check_fingerprint(ckpt["fingerprint"], current, ckpt_path)
        if ckpt["epoch"] >= sc.epochs and (stage_dir / WEIGHTS).is_file():
            report(progress, STAGE, 1.0, "supernet already trained")
            prior = stage_dir / PRIOR_JSON
            return SupernetResult(
                stage_dir, stage_dir / WEIGHTS, prior if prior.is_file() else None, ckpt["history"]
            )

    data = prepare_data(cfg, dataset_dir)
    loss_fn = build_loss(cfg.loss, data)
    if ctx.is_main:
        stage_dir.mkdir(parents=True, exist_ok=True)
        data.preprocess.save(Path(out_dir))
        copy_space_yaml(cfg, Path(out_dir))
    space = build_space(cfg)
    net = Supernet(space, data.spec.in_channels, data.spec.num_classes, sharing=sc.sharing).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=sc.lr, weight_decay=sc.weight_decay)
    steps = len(train_loader(data.train, sc.batch_size, cfg.seed, 0, ctx))
    total_steps = steps * sc.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_factor(step, total_steps, sc.lr, sc.min_lr)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    guard = UnusedSliceGuard(optimizer, sc.hold_unused_slices)
    history: list[dict] = []
    start_epoch = 0
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        history = ckpt["history"]
        start_epoch = ckpt["epoch"]
        restore_rng_state(ckpt["rng"])
    model = DistributedDataParallel(net, find_unused_parameters=True) if ctx.enabled else net

    for epoch in range(start_epoch, sc.epochs):
        loader = train_loader(data.train, sc.batch_size, cfg.seed, epoch, ctx, cfg.data.num_workers)
        model.train()
        losses: list[float] = []
        seen, started = 0, time.perf_counter()
        bar = tqdm(
            loader,
            desc=f"supernet {epoch + 1}/{sc.epochs}",
            disable=not (show_progress and ctx.is_main),
            leave=False,
            dynamic_ncols=True,
        )
        for step, (image, mask) in enumerate(bar):
            image, mask = image.to(device, non_blocking=True), mask.to(device, non_blocking=True)
            archs = sample_archs(space, cfg.seed, epoch, step, sc.sampling)
            optimizer.zero_grad(set_to_none=True)
            step_loss, teacher = 0.0, None
            for i, arch in enumerate(archs):
                sync_now = (not ctx.enabled) or i == len(archs) - 1
                with model.no_sync() if not sync_now else nullcontext():
                    with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                        logits = model(image, arch)
                        loss = loss_fn(logits, mask)
                        if teacher is not None and sc.distill_weight > 0:
                            kd = distillation_loss(logits, teacher, mask)
                            loss = (1 - sc.distill_weight) * loss + sc.distill_weight * kd
                    scaler.scale(loss).backward()
                if sc.sampling == "sandwich" and i == 0:  # the largest subnet teaches the others
                    teacher = logits.detach().float().softmax(dim=1)
                step_loss += float(loss.detach())
            if sc.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(net.parameters(), sc.grad_clip)
            guard.step(scaler)
            scaler.update()
            scheduler.step()
            losses.append(_mean_over_ranks(step_loss, ctx, device))
            seen += image.shape[0] * ctx.world_size
            global_step = epoch * steps + step
            rate = seen / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", img_s=f"{rate:.1f}")
            report(
                progress,
                STAGE,
                (global_step + 1) / total_steps,
                f"epoch {epoch + 1}/{sc.epochs} step {step + 1}/{steps}",
                loss=losses[-1],
                img_per_s=rate,
            )
        bar.close()
        elapsed = time.perf_counter() - started
        history.append(
            {
                "epoch": epoch + 1,
                "loss": sum(losses) / len(losses),
                "step_losses": losses,
                "lr": scheduler.get_last_lr()[0],
                "seconds": elapsed,
                "img_per_s": seen / max(elapsed, 1e-9),
            }
        )
        if ctx.is_main:
            atomic_torch_save(
                {
                    "fingerprint": current,
                    "epoch": epoch + 1,
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "history": history,
                    "rng": capture_rng_state(),
                },
                ckpt_path,
            )
            atomic_write_json(stage_dir / "history.json", history)
        ctx.barrier()

    prior_json = None
    if ctx.is_main:
        atomic_torch_save(
            {
                "state_dict": net.state_dict(),
                "sharing": sc.sharing,
                "in_channels": data.spec.in_channels,
                "num_classes": data.spec.num_classes,
                "space_yaml": "space.yaml" if cfg.space.yaml else None,
            },
            stage_dir / WEIGHTS,
        )
        if sc.prior.enabled:
            table = design_table(cfg, Path(out_dir), space, data.spec.in_channels, data.spec.num_classes)
            prior_data = build_prior_json(table, space, sc.prior.temperature, sc.prior.uniform_mix)
            prior_json = atomic_write_json(stage_dir / PRIOR_JSON, prior_data)
            plot_prior(prior_data, stage_dir / PRIOR_PNG)
    ctx.barrier()
    return SupernetResult(stage_dir, stage_dir / WEIGHTS, prior_json, history, net)


def _mean_over_ranks(value: float, ctx: DistContext, device: str) -> float:
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], device=device, dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / ctx.world_size


def read_history(stage_dir: Path) -> list[dict]:
    path = Path(stage_dir) / "history.json"
    return json.loads(path.read_text()) if path.is_file() else []
