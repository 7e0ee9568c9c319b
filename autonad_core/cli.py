"""The `autonad` command: AutoNAD's verbs (design, train-supernet, search, retrain, evaluate, predict,
export) over the library. Sub-commands forward to library functions and hold no logic.

Every command takes `--preset` (paper | cpu-small), `--config FILE.yaml` (merged over the preset) and
`--set key.sub=value` overrides; stage commands write into an output folder and resume it when re-run.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer

from autonad_core import __version__

app = typer.Typer(
    name="autonad",
    help="AutoNAD: automated neural architecture design for pixel-level defect segmentation.",
    no_args_is_help=True,
    add_completion=False,
)

Preset = Annotated[str, typer.Option("--preset", help="Budget preset: paper | cpu-small.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="YAML file merged over the preset.")]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="Override, e.g. --set search.population=20 (repeatable).")
]
Device = Annotated[
    str | None,
    typer.Option("--device", help="Training/inference device (cpu, cuda, cuda:1); default from config."),
]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]
LatencyTableFile = Annotated[
    Path | None,
    typer.Option(
        "--latency-table",
        help="latency_table.json of another design to reuse (same space, device, input size); "
        "default: measured once into OUT/latency_table.json.",
    ),
]
ModelDir = Annotated[Path, typer.Argument(help="Model folder or design output folder.")]
DatasetDir = Annotated[Path, typer.Argument(help="Dataset folder (generic format or MT layout).")]
OutDir = Annotated[Path, typer.Argument(help="Output folder (resumed if it exists).")]


@dataclass(frozen=True)
class ConfigArgs:
    """The options every command shares, resolved as preset <- --config <- --set (--device is a --set)."""

    preset: str = "cpu-small"
    config: Path | None = None
    sets: tuple[str, ...] = ()
    device: str | None = None

    def items(self, **extra: str | None) -> list[str]:
        """The --set strings, plus ``key=value`` for --device and each given ``extra``."""
        items = list(self.sets)
        for key, value in {"device": self.device, **extra}.items():
            if value:
                items.append(f"{key}={value}")
        return items

    def load(self):
        """The resolved configuration (commands that read a model, not an output folder)."""
        from autonad_core.config import load_config

        return load_config(self.preset, self.config, self.items())

    def pin(self, out: Path, **extra: str | None):
        """The resolved configuration, pinned in (or checked against) ``out/config.yaml``."""
        from autonad_core.config import parse_overrides
        from autonad_core.pipeline import prepare_run

        return prepare_run(out, self.preset, self.config, parse_overrides(self.items(**extra)))


# The shared options, declared once; `_command` appends them to every command that takes `opts`.
_SHARED_OPTIONS = (
    inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, default="cpu-small", annotation=Preset),
    inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigFile),
    inspect.Parameter("set_", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Sets),
    inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Device),
)


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
        from autonad_core.deploy.export import ExportError
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


def _command(name: str | None = None, *, device: bool = True) -> Callable[[Callable], Callable]:
    """Register ``func(..., opts: ConfigArgs)`` as a command with the shared options and clear errors."""

    def decorate(func: Callable) -> Callable:
        shared = _SHARED_OPTIONS if device else _SHARED_OPTIONS[:3]
        signature = inspect.signature(func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "opts"]

        @wraps(func)
        def wrapper(*args, **kwargs):
            opts = ConfigArgs(
                preset=kwargs.pop("preset"),
                config=kwargs.pop("config"),
                sets=tuple(kwargs.pop("set_") or ()),
                device=kwargs.pop("device", None),
            )
            return func(*args, opts=opts, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *shared])
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
        return app.command(name)(_friendly_errors(wrapper))

    return decorate


def _table_override(path: Path | None) -> dict[str, str | None]:
    """--latency-table as the `search.latency_table` setting (absolute, so the pinned config holds)."""
    return {"search.latency_table": str(path.resolve()) if path else None}


def _print_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@_command()
def design(
    dataset: DatasetDir,
    out: OutDir,
    target_device: str | None = typer.Option(None, "--target-device", help="Where latency counts."),
    latency_table: LatencyTableFile = None,
    quiet: Quiet = False,
    *,
    opts: ConfigArgs,
) -> None:
    """All three stages (supernet, search, retrain) + evaluation + export."""
    from autonad_core.metrics import format_class_iou
    from autonad_core.pipeline import design as run_design

    items = opts.items(target_device=target_device, **_table_override(latency_table))
    result = run_design(dataset, out, opts.preset, opts.config, overrides=items, show_progress=not quiet)
    m = result.metrics
    typer.echo(
        f"designed {result.model_dir}: mIoU {100 * m['miou']:.2f}% (defects {100 * m['miou_defect']:.2f}%), "
        f"mF1 {100 * m['mf1']:.2f}%, {result.params / 1e6:.2f} M params, {result.latency_ms:.2f} ms on "
        f"{result.target_device}"
    )
    typer.echo(f"IoU per class: {format_class_iou(m['iou'])}")


@_command("train-supernet")
def train_supernet_cmd(
    dataset: DatasetDir,
    out: OutDir,
    quiet: Quiet = False,
    *,
    opts: ConfigArgs,
) -> None:
    """Stage 1: train the supernet and record the latency prior (torchrun for several GPUs)."""
    from autonad_core.training.supernet_trainer import train_supernet

    cfg = opts.pin(out)
    result = train_supernet(cfg, dataset, out, show_progress=not quiet)
    if result.history:
        typer.echo(
            f"supernet: {len(result.history)} epochs, last loss {result.history[-1]['loss']:.4f}; "
            f"weights {result.weights}"
        )


@_command()
def search(
    dataset: DatasetDir,
    out: OutDir,
    latency_table: LatencyTableFile = None,
    quiet: Quiet = False,
    *,
    opts: ConfigArgs,
) -> None:
    """Stage 2: evolution search with the latency-aware prior."""
    from autonad_core.search.stage import run_search

    cfg = opts.pin(out, **_table_override(latency_table))
    result = run_search(cfg, dataset, out, show_progress=not quiet)
    best = result.result.best
    typer.echo(
        f"best: score {best['score']:.3f}, mIoU {100 * best['miou']:.2f}%, {best['latency_ms']:.2f} ms, "
        f"{best['params'] / 1e6:.2f} M params -> {result.arch_json}"
    )


@_command()
def retrain(
    dataset: DatasetDir,
    out: OutDir,
    arch: Path | None = typer.Option(None, "--arch", help="Architecture JSON (default: search result)."),
    quiet: Quiet = False,
    *,
    opts: ConfigArgs,
) -> None:
    """Stage 3: retrain the searched subnet; best model by validation mIoU."""
    from autonad_core.training.retrain import retrain as run_retrain

    cfg = opts.pin(out)
    result = run_retrain(cfg, dataset, out, arch, show_progress=not quiet)
    typer.echo(
        f"best val mIoU {100 * result.fit.best_miou:.2f}% at epoch {result.fit.best_epoch} -> "
        f"{result.model_dir}"
    )


@_command()
def evaluate(
    model: ModelDir,
    dataset: DatasetDir,
    split: str = typer.Option("val", "--split"),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    *,
    opts: ConfigArgs,
) -> None:
    """mIoU / mF1 (all classes and defect classes) from one confusion matrix over the split."""
    from autonad_core.config import resolve_device
    from autonad_core.evaluation import evaluate_model_dir
    from autonad_core.metrics import format_class_iou

    cfg = opts.load()
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
        typer.echo(f"{'':>15}  IoU per class: {format_class_iou(s['iou'])}")


@_command()
def predict(
    model: ModelDir,
    inputs: list[Path] = typer.Argument(..., help="Image files or channel folders."),
    out: Path = typer.Option(..., "--out", help="Folder for <name>_mask.png and <name>_overlay.png."),
    *,
    opts: ConfigArgs,
) -> None:
    """Segment images: class-index masks and colour overlays."""
    from autonad_core.config import resolve_device
    from autonad_core.deploy.predict import predict_files

    cfg = opts.load()
    summary = predict_files(model, inputs, out, resolve_device(cfg.device))
    for item in summary:
        defects = {k: round(v, 4) for k, v in item["class_fraction"].items() if v > 0 and k != "background"}
        typer.echo(f"{item['input']}: {item['mask']} defects {defects or 'none'}")


@_command(device=False)
def export(
    model: ModelDir,
    out: Path = typer.Option(..., "--out", help="Export folder."),
    *,
    opts: ConfigArgs,
) -> None:
    """TorchScript + ONNX export, checked against PyTorch (ONNX Runtime within the tolerance)."""
    from autonad_core.deploy.export import export_model

    cfg = opts.load()
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
