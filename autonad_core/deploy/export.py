"""Export a retrained subnet for deployment: TorchScript (traced) and ONNX, each checked against the
PyTorch model on the same input (ONNX Runtime must match within `tolerance`, default 1e-4 max absolute
difference of the logits); a mismatch is an error, never a silently wrong file.

Output folder: `model.ts`, `model.onnx`, `preprocess.json` (the input contract), `export.json`
(input size, opset, measured max differences). Input (N, C, H, W): the batch is dynamic, H and W are the
training tile size. Why fixed: the PPM's adaptive average pooling has no size-generic ONNX form (the
exporter bakes the traced kernel in, so other sizes would silently be wrong); the detector tiles frames at
the tile size anyway (pad smaller frames). The TorchScript model is traced at the tile size likewise.
ONNX is exported from a batch-2 example and checked at batch 1 and 2: torch.export specialises a
dimension of size 1 to a constant, and one MT design's subnet (tests/autonad/pipeline/
test_export_predict.py) then kept batch 1 in a Reshape that ONNX Runtime refused at batch 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from autonad_core.data.preprocess import PREPROCESS_FILE, Preprocess
from autonad_core.deploy.predict import resolve_model_dir


class ExportError(RuntimeError):
    """An exported model does not reproduce the PyTorch output within the tolerance."""


@dataclass
class ExportResult:
    directory: Path
    torchscript: Path | None
    onnx: Path | None
    torchscript_max_diff: float | None
    onnx_max_diff: float | None
    input_size: tuple[int, int]


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


@contextlib.contextmanager
def _quiet():
    """Exporters print per-node chatter and tracer warnings (shape arithmetic is traced as constants,
    which is why every export is verified numerically): keep the console readable."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir", "torch.export")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _onnx_export(model, example: torch.Tensor, path: Path, opset: int) -> None:
    """torch.export-based exporter, dynamic batch, fixed H and W (see the module docstring)."""
    try:
        with _quiet():
            torch.onnx.export(
                model,
                (example,),
                str(path),
                opset_version=opset,
                input_names=["image"],
                output_names=["logits"],
                dynamo=True,
                external_data=False,
                verbose=False,
                dynamic_shapes=({0: torch.export.Dim.AUTO},),
            )
    except Exception as exc:
        raise ExportError(f"{path}: ONNX export failed: {exc}") from exc


def _onnx_max_diff(path: Path, model, inputs: list[torch.Tensor]) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for inp in inputs:
        with torch.no_grad():
            ref = model(inp).numpy()
        try:
            out = session.run(["logits"], {"image": inp.numpy()})[0]
        except Exception as exc:
            raise ExportError(f"{path}: ONNX Runtime cannot run input {tuple(inp.shape)}: {exc}") from exc
        if out.shape != ref.shape:
            raise ExportError(f"{path}: ONNX output shape {out.shape} != PyTorch {ref.shape}")
        worst = max(worst, _max_diff(out, ref))
    return worst


def export_model(
    model_dir: Path,
    out_dir: Path,
    torchscript: bool = True,
    onnx: bool = True,
    opset: int = 18,
    tolerance: float = 1e-4,
    input_size: tuple[int, int] | None = None,
    seed: int = 0,
) -> ExportResult:
    from autonad_core.models.subnet import load_subnet

    model_dir = resolve_model_dir(model_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    preprocess = Preprocess.load(model_dir)
    size = tuple(input_size or preprocess.input_size)
    model = load_subnet(model_dir).cpu().eval()
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(1, len(preprocess.channels), *size, generator=generator)
    with torch.no_grad():
        reference = model(example).numpy()
    result = ExportResult(out_dir, None, None, None, None, size)

    if torchscript:
        path = out_dir / "model.ts"
        with torch.no_grad(), _quiet():
            traced = torch.jit.trace(model, example, check_trace=False)
        traced.save(str(path))
        loaded = torch.jit.load(str(path))
        with torch.no_grad():
            result.torchscript_max_diff = _max_diff(loaded(example).numpy(), reference)
        if result.torchscript_max_diff > tolerance:
            diff = result.torchscript_max_diff
            raise ExportError(f"{path}: TorchScript differs from PyTorch by {diff:.3g} > {tolerance}")
        result.torchscript = path

    if onnx:
        path = out_dir / "model.onnx"
        batch = torch.randn(2, *example.shape[1:], generator=generator)
        _onnx_export(model, batch, path, opset)
        worst = _onnx_max_diff(path, model, [example, batch])
        result.onnx_max_diff = worst
        if worst > tolerance:
            raise ExportError(f"{path}: ONNX Runtime differs from PyTorch by {worst:.3g} > {tolerance}")
        result.onnx = path

    shutil.copyfile(model_dir / PREPROCESS_FILE, out_dir / PREPROCESS_FILE)
    info = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()}
    info.update(model_dir=str(model_dir), opset=opset, tolerance=tolerance)
    (out_dir / "export.json").write_text(json.dumps(info, indent=2))
    return result
