"""The `autonad` command: AutoNAD's verbs (design, train-supernet, search, retrain, evaluate, predict,
export) over the library. Sub-commands forward to library functions and hold no logic.

Every command takes `--preset` (paper | cpu-small), `--config FILE.yaml` (merged over the preset) and
`--set key.sub=value` overrides; stage commands write into an output folder and resume it when re-run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import typer

from autonad_core import __version__

app = typer.Typer(
    name="autonad",
    help="AutoNAD: automated neural architecture design for pixel-level defect segmentation.",
    no_args_is_help=True,
    add_completion=False,
)

PresetOpt = typer.Option("cpu-small", "--preset", help="Budget preset: paper | cpu-small.")
ConfigOpt = typer.Option(None, "--config", help="YAML file merged over the preset.")
SetOpt = typer.Option(None, "--set", help="Override, e.g. --set search.population=20 (repeatable).")
DeviceOpt = typer.Option(
    None, "--device", help="Training/inference device (cpu, cuda, cuda:1); default from config."
)
QuietOpt = typer.Option(False, "--quiet", help="No progress bars.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autonad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """AutoNAD command line."""


def _log_to_stderr() -> None:
    """AutoNAD's own INFO logs (per-generation search lines) on stderr; libraries keep their defaults."""
    logger = logging.getLogger("autonad")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _friendly_errors(func: Callable) -> Callable:
    """Expected failures (bad data, bad config, missing stage output) -> one clear line, exit code 1
    (set AUTONAD_TRACEBACK=1 for the full traceback)."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        from autonad_core.config import ConfigError
        from autonad_core.data.spec import DatasetError
        from autonad_core.export import ExportError
        from autonad_core.search.evolution import SearchError

        _log_to_stderr()
        try:
            return func(*args, **kwargs)
        except (ConfigError, DatasetError, ExportError, SearchError, FileNotFoundError, ValueError) as exc:
            if os.environ.get("AUTONAD_TRACEBACK"):  # developers: the full traceback
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _config(preset: str | None, config: Path | None, sets: list[str] | None, device: str | None):
    from autonad_core.config import load_config

    items = list(sets or [])
    if device:
        items.append(f"device={device}")
    return load_config(preset, config, items)


def _run_config(out: Path, preset, config, sets, device):
    from autonad_core.config import parse_overrides
    from autonad_core.pipeline import prepare_run

    items = list(sets or [])
    if device:
        items.append(f"device={device}")
    return prepare_run(out, preset, config, parse_overrides(items))


def _print_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
@_friendly_errors
def design(
    dataset: Path = typer.Argument(..., help="Dataset folder (generic format or MT layout)."),
    out: Path = typer.Argument(..., help="Output folder (resumed if it exists)."),
    preset: str = PresetOpt,
    config: Path | None = ConfigOpt,
    set_: list[str] | None = SetOpt,
    device: str | None = DeviceOpt,
    target_device: str | None = typer.Option(None, "--target-device", help="Where latency counts."),
    quiet: bool = QuietOpt,
) -> None:
    """All three stages (supernet, search, retrain) + evaluation + export."""
    from autonad_core.pipeline import design as run_design

    items = list(set_ or [])
    if device:
        items.append(f"device={device}")
    if target_device:
        items.append(f"target_device={target_device}")
    result = run_design(dataset, out, preset, config, overrides=items, show_progress=not quiet)
    m = result.metrics
    typer.echo(
        f"designed {result.model_dir}: mIoU {100 * m['miou']:.2f}% (defects {100 * m['miou_defect']:.2f}%), "
        f"mF1 {100 * m['mf1']:.2f}%, {result.params / 1e6:.2f} M params, {result.latency_ms:.2f} ms on "
        f"{result.target_device}"
    )


@app.command("train-supernet")
@_friendly_errors
def train_supernet_cmd(
    dataset: Path = typer.Argument(...),
    out: Path = typer.Argument(...),
    preset: str = PresetOpt,
    config: Path | None = ConfigOpt,
    set_: list[str] | None = SetOpt,
    device: str | None = DeviceOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Stage 1: train the supernet and record the latency prior (torchrun for several GPUs)."""
    from autonad_core.training.supernet_trainer import train_supernet

    cfg = _run_config(out, preset, config, set_, device)
    result = train_supernet(cfg, dataset, out, show_progress=not quiet)
    if result.history:
        typer.echo(
            f"supernet: {len(result.history)} epochs, last loss {result.history[-1]['loss']:.4f}; "
            f"weights {result.weights}"
        )


@app.command()
@_friendly_errors
def search(
    dataset: Path = typer.Argument(...),
    out: Path = typer.Argument(..., help="Output folder holding a trained supernet."),
    preset: str = PresetOpt,
    config: Path | None = ConfigOpt,
    set_: list[str] | None = SetOpt,
    device: str | None = DeviceOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Stage 2: evolution search with the latency-aware prior."""
    from autonad_core.search.stage import run_search

    cfg = _run_config(out, preset, config, set_, device)
    result = run_search(cfg, dataset, out, show_progress=not quiet)
    best = result.result.best
    typer.echo(
        f"best: score {best['score']:.3f}, mIoU {100 * best['miou']:.2f}%, {best['latency_ms']:.2f} ms, "
        f"{best['params'] / 1e6:.2f} M params -> {result.arch_json}"
    )


@app.command()
@_friendly_errors
def retrain(
    dataset: Path = typer.Argument(...),
    out: Path = typer.Argument(...),
    arch: Path | None = typer.Option(None, "--arch", help="Architecture JSON (default: search result)."),
    preset: str = PresetOpt,
    config: Path | None = ConfigOpt,
    set_: list[str] | None = SetOpt,
    device: str | None = DeviceOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Stage 3: retrain the searched subnet; best model by validation mIoU."""
    from autonad_core.retrain import retrain as run_retrain

    cfg = _run_config(out, preset, config, set_, device)
    result = run_retrain(cfg, dataset, out, arch, show_progress=not quiet)
    typer.echo(
        f"best val mIoU {100 * result.fit.best_miou:.2f}% at epoch {result.fit.best_epoch} -> "
        f"{result.model_dir}"
    )


@app.command()
@_friendly_errors
def evaluate(
    model: Path = typer.Argument(..., help="Model folder or design output folder."),
    dataset: Path = typer.Argument(...),
    split: str = typer.Option("val", "--split"),
    preset: str = PresetOpt,
    config: Path | None = ConfigOpt,
    set_: list[str] | None = SetOpt,
    device: str | None = DeviceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """mIoU / mF1 (all classes and defect classes) from one confusion matrix over the split."""
    from autonad_core.config import resolve_device
    from autonad_core.evaluation import evaluate_model_dir

    cfg = _config(preset, config, set_, device)
    result = evaluate_model_dir(model, dataset, split, resolve_device(cfg.device), cfg.data.max_val_images)
    if as_json:
        _print_json(result)
        return
    for name in ("model", "all_background"):
        s = result[name]
        typer.echo(
            f"{name:>15}: mIoU {100 * s['miou']:6.2f}%  mF1 {100 * s['mf1']:6.2f}%  "
            f"defect mIoU {100 * s['miou_defect']:6.2f}%  defect mF1 {100 * s['mf1_defect']:6.2f}%"
        )


@app.command()
@_friendly_errors
def predict(
    model: Path = typer.Argument(..., help="Model folder or design output folder."),
    inputs: list[Path] = typer.Argument(..., help="Image files or channel folders."),
    out: Path = typer.Option(..., "--out", help="Folder for <name>_mask.png and <name>_overlay.png."),
    preset: str = PresetOpt,
    config: Path | None = ConfigOpt,
    set_: list[str] | None = SetOpt,
    device: str | None = DeviceOpt,
) -> None:
    """Segment images: class-index masks and colour overlays."""
    from autonad_core.config import resolve_device
    from autonad_core.predict import predict_files

    cfg = _config(preset, config, set_, device)
    summary = predict_files(model, inputs, out, resolve_device(cfg.device))
    for item in summary:
        defects = {k: round(v, 4) for k, v in item["class_fraction"].items() if v > 0 and k != "background"}
        typer.echo(f"{item['input']}: {item['mask']} defects {defects or 'none'}")


@app.command()
@_friendly_errors
def export(
    model: Path = typer.Argument(..., help="Model folder or design output folder."),
    out: Path = typer.Option(..., "--out", help="Export folder."),
    preset: str = PresetOpt,
    config: Path | None = ConfigOpt,
    set_: list[str] | None = SetOpt,
) -> None:
    """TorchScript + ONNX export, checked against PyTorch (ONNX Runtime within the tolerance)."""
    from autonad_core.export import export_model

    cfg = _config(preset, config, set_, None)
    e = cfg.export
    result = export_model(model, out, e.torchscript, e.onnx, e.opset, e.tolerance)
    typer.echo(
        f"exported to {result.directory}: TorchScript diff {result.torchscript_max_diff}, "
        f"ONNX diff {result.onnx_max_diff}"
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
