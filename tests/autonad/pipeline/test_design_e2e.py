"""A tiny end-to-end `autonad design` (supernet -> search -> retrain -> evaluation -> export) on a few
dozen real MT images at 64x64 through the CLI: it finishes in under 3 minutes, the model loads, beats
the all-background predictor on the validation images (same metric code), and the output folder
resumes / refuses a different configuration."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import make_mt_subset

import autonad_core
from autonad_core.evaluation import evaluate_model_dir

AUTONAD = str(Path(sys.executable).parent / "autonad")
TINY = [
    "threads=1",
    "data.input_size=[64,64]",
    # whole images resized to 64²: this 12 + 40-epoch budget was set for it; cpu-small's native 64²
    # crops of the 320² images (sliding-window evaluation) ended below all-background at this budget
    # (val mIoU 10.3 % vs 39.7 %, one run): each epoch sees 1/25 of the pixels
    "data.mode=resize",
    "data.augment.rot90=false",
    "data.augment.scale_range=[1.0,1.0]",
    "supernet.epochs=12",
    "supernet.lr=2e-3",
    "search.population=4",
    "search.generations=2",
    "search.top_k=2",
    "search.latency_repeats=3",
    "retrain.epochs=40",
    "retrain.lr=2e-3",
    "retrain.eval_every=5",
]


def _design(dataset: Path, out: Path, extra: list[str] | None = None) -> subprocess.CompletedProcess:
    args = [AUTONAD, "design", str(dataset), str(out), "--preset", "cpu-small", "--quiet"]
    for item in TINY + (extra or []):
        args += ["--set", item]
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_tiny_design_end_to_end_beats_all_background(mt320_dir: Path, tmp_path: Path) -> None:
    # 40 train / 12 val real MT images of the 'uneven' class (large defects learnable at 64x64)
    dataset = make_mt_subset(mt320_dir, tmp_path / "mt_uneven", ("uneven",), 40, 12)
    out = tmp_path / "design"
    started = time.monotonic()
    proc = _design(dataset, out)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < 180, f"tiny design took {elapsed:.0f} s"
    assert "designed" in proc.stdout and "mIoU" in proc.stdout

    result = json.loads((out / "result.json").read_text())
    for key in (
        "supernet",
        "search",
        "retrain",
        "latency_prior",
        "search_png",
        "pareto_png",
        "latency_prior_png",
    ):
        assert Path(result["history"][key]).is_file(), key
    assert Path(result["export"]["onnx"]).is_file() and result["export"]["onnx_max_diff"] <= 1e-4
    assert result["latency_ms"] > 0 and result["params"] > 0
    search = json.loads((out / "search" / "history.json").read_text())
    assert len(search["generations"]) == 2 and search["prior_used"] is True

    scores = evaluate_model_dir(out, dataset, "val")
    assert scores["images"] == 12
    assert scores["model"]["miou"] > scores["all_background"]["miou"], scores
    assert scores["model"]["miou"] == pytest.approx(result["metrics"]["miou"], abs=1e-9)

    detector = autonad_core.Detector(out)
    frame = np.asarray(__import__("cv2").imread(str(next((dataset / "images").iterdir())), 0))
    prediction = detector.predict(frame)
    assert prediction.mask.shape == frame.shape == (320, 320)

    # Re-running the finished design returns the stored result without training again.
    mtime = (out / "retrain" / "last.pt").stat().st_mtime
    again = autonad_core.design(dataset, out, preset="cpu-small", overrides=TINY, show_progress=False)
    assert again.model_dir == Path(result["model_dir"])
    assert (out / "retrain" / "last.pt").stat().st_mtime == mtime
    # ... and a different configuration in the same folder is refused, naming the file.
    refused = _design(dataset, out, ["search.population=7"])
    assert refused.returncode == 1
    assert "config.yaml" in refused.stderr and "another configuration" in refused.stderr


def test_cli_reports_bad_dataset_clearly(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "dataset.yaml").write_text("classes: [background, crack]\nchannels: [grey]\n")
    (root / "train.txt").write_text("a.png\n")
    (root / "val.txt").write_text("b.png\n")
    for name in ("a.png", "b.png"):
        (root / "images" / name).write_bytes(b"not an image")
        (root / "masks" / name).write_bytes(b"not an image")
    proc = subprocess.run(
        [AUTONAD, "train-supernet", str(root), str(tmp_path / "out"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "images/a.png" in proc.stderr
    assert "Traceback" not in proc.stderr
    help_text = subprocess.run([AUTONAD, "--help"], capture_output=True, text=True, timeout=60).stdout
    for command in ("design", "train-supernet", "search", "retrain", "evaluate", "predict", "export"):
        assert command in help_text
