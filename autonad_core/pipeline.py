"""`design()`: AutoNAD end to end (supernet training -> evolution search -> retraining -> evaluation ->
export) into one resumable output folder. The cell's model-designer node calls this; `autonad design`
is the same call from the command line.

Output folder layout:
    config.yaml          resolved configuration of the run
    preprocess.json      input contract (channels, classes, normalisation, tile size)
    supernet/            stage 1 (training_supernet.py)
    search/              stage 2 (search/stage.py): best_arch.json, history.json, search.png, pareto.png
    retrain/best/        stage 3: the deployable model folder (Detector / autonad predict / export)
    export/              model.ts, model.onnx (+ parity check results)
    result.json          DesignResult as JSON
Each stage resumes from its own checkpoint or is skipped when finished, so re-running the same call
after a crash, a kill or a cancelled progress callback continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from autonad_core.atomic_io import atomic_write_json, atomic_write_text
from autonad_core.config import ConfigError, DesignConfig, load_config, resolve_device
from autonad_core.progress import ProgressCallback, ProgressEvent, report

log = logging.getLogger("autonad.design")
__all__ = ["DesignResult", "ProgressEvent", "design", "prepare_run"]


@dataclass
class DesignResult:
    out_dir: Path
    arch_json: Path
    model_dir: Path
    """Retrained subnet folder (arch.json, weights, meta.json, preprocess.json, metrics.json)."""
    metrics: dict
    """Validation scores of the best retrained model (fractions; 'miou' includes background)."""
    latency_ms: float
    """Median latency on the target device at the training input size, batch 1."""
    target_device: str
    params: int
    history: dict[str, str]
    """Paths of the per-stage history files and plots."""
    export: dict[str, str | None]

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> DesignResult:
        paths = {"out_dir", "arch_json", "model_dir"}
        return cls(**{k: (Path(v) if k in paths else v) for k, v in data.items()})


def prepare_run(
    out_dir: Path,
    preset: str | None = "cpu-small",
    config: Path | None = None,
    overrides: Mapping[str, Any] | list[str] | None = None,
) -> DesignConfig:
    """Resolve the configuration and pin it in `<out>/config.yaml` (a resumed run must use the same)."""
    cfg = load_config(preset, config, overrides)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pinned = out_dir / "config.yaml"
    if pinned.is_file():
        saved = load_config(None, pinned)
        free = {"device", "threads"}  # where/how fast it runs may change between resumes
        if saved.model_dump(exclude=free) != cfg.model_dump(exclude=free):
            raise ConfigError(
                f"{pinned}: this output folder was started with another configuration; use a new output "
                "folder, or rerun with the same preset/config/overrides (device and threads may differ)"
            )
    else:
        atomic_write_text(pinned, cfg.to_yaml())
    return cfg


def measure_latency(model_dir: Path, device: str, repeats: int = 10) -> float:
    """Median forward time (ms) of a model folder at its input size, batch 1, on `device`: how the
    design measured it, so the cell's hardware trigger compares like with like."""
    from autonad_core.data.preprocess import Preprocess
    from autonad_core.models.subnet import load_subnet
    from autonad_core.training.timing import time_forward

    pre = Preprocess.load(model_dir)
    model = load_subnet(model_dir).to(device).eval()
    example = torch.zeros(1, len(pre.channels), *pre.input_size, device=device)
    return statistics.median(time_forward(model, example, warmup=3, repeats=repeats))


def design(
    dataset_dir: Path,
    out_dir: Path,
    preset: str | None = "cpu-small",
    config: Path | None = None,
    device: str | None = None,
    target_device: str | None = None,
    progress: ProgressCallback | None = None,
    overrides: Mapping[str, Any] | list[str] | None = None,
    show_progress: bool = True,
) -> DesignResult:
    """Design, retrain, evaluate and export a defect-segmentation network for `dataset_dir`.

    `device` trains (default from the config: CUDA when available); `target_device` is where latency
    counts (the detector's hardware; default: the training device). `progress` receives ProgressEvents;
    raising from it cancels (re-run the same call to resume).
    """
    from autonad_core.deploy.export import export_model
    from autonad_core.search.stage import run_search
    from autonad_core.training.distributed import init_distributed, shutdown_distributed
    from autonad_core.training.retrain import retrain
    from autonad_core.training.supernet_trainer import train_supernet

    extra: dict[str, Any] = {}
    if device is not None:
        extra["device"] = device
    if target_device is not None:
        extra["target_device"] = target_device
    if isinstance(overrides, list):
        from autonad_core.config import parse_overrides

        overrides = parse_overrides(overrides)
    from autonad_core.config import deep_merge

    cfg = prepare_run(out_dir, preset, config, deep_merge(dict(overrides or {}), extra))
    out_dir = Path(out_dir)
    finished = out_dir / "result.json"
    if finished.is_file():  # the whole design is done: nothing to resume
        report(progress, "evaluate", 1.0, "design already finished")
        return DesignResult.from_json(json.loads(finished.read_text()))
    train_supernet(cfg, dataset_dir, out_dir, progress, show_progress)
    ctx, _ = init_distributed(resolve_device(cfg.device))
    if not ctx.is_main:  # search and retraining run on the main rank only
        shutdown_distributed(ctx)
        return None  # type: ignore[return-value]
    shutdown_distributed(ctx)
    searched = run_search(cfg, dataset_dir, out_dir, progress, show_progress)
    retrained = retrain(cfg, dataset_dir, out_dir, None, progress, show_progress)
    model_dir = retrained.model_dir
    target = resolve_device(cfg.target_device or cfg.device)
    report(progress, "evaluate", 0.0, "measuring latency")
    latency = measure_latency(model_dir, target)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    exported: dict[str, str | None] = {"torchscript": None, "onnx": None}
    if cfg.export.torchscript or cfg.export.onnx:
        report(progress, "export", 0.0, "exporting TorchScript/ONNX")
        ex = export_model(
            model_dir,
            out_dir / "export",
            cfg.export.torchscript,
            cfg.export.onnx,
            cfg.export.opset,
            cfg.export.tolerance,
        )
        exported = {
            "torchscript": str(ex.torchscript) if ex.torchscript else None,
            "onnx": str(ex.onnx) if ex.onnx else None,
            "onnx_max_diff": ex.onnx_max_diff,
        }
        report(progress, "export", 1.0, "exported")
    from autonad_core.data.preprocess import Preprocess
    from autonad_core.models.complexity import count_params

    pre = Preprocess.load(model_dir)
    params = count_params(retrained.arch, in_channels=len(pre.channels), num_classes=len(pre.class_names))
    result = DesignResult(
        out_dir=out_dir,
        arch_json=searched.arch_json,
        model_dir=model_dir,
        metrics=metrics,
        latency_ms=latency,
        target_device=target,
        params=int(params),
        history={
            "supernet": str(out_dir / "supernet" / "history.json"),
            "latency_table": str(out_dir / "latency_table.json"),
            "latency_prior": str(out_dir / "supernet" / "latency_prior.json"),
            "latency_prior_png": str(out_dir / "supernet" / "latency_prior.png"),
            "search": str(out_dir / "search" / "history.json"),
            "search_png": str(out_dir / "search" / "search.png"),
            "pareto_png": str(out_dir / "search" / "pareto.png"),
            "retrain": str(out_dir / "retrain" / "history.json"),
        },
        export=exported,
    )
    atomic_write_json(out_dir / "result.json", result.to_json())
    report(
        progress, "evaluate", 1.0, f"done: mIoU {100 * metrics['miou']:.2f}%, {latency:.2f} ms on {target}"
    )
    return result
