"""Crash safety of supernet training: a run killed with SIGKILL in the middle of epoch 2 and resumed
ends with bit-identical weights and loss log to an uninterrupted run; and the torchrun DDP path (gloo,
2 CPU processes) keeps both ranks' weights identical."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

CHILD = r"""
import sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from autonad_core.config import load_config
from autonad_core.training.supernet_trainer import train_supernet

dataset, out, space, mode, marker = sys.argv[1:6]
cfg = load_config(None, None, {
    "device": "cpu", "threads": 1, "seed": 3, "space": {"yaml": space},
    "data": {"input_size": [32, 32], "max_train_images": 16, "max_val_images": 4},
    "supernet": {"epochs": 2, "batch_size": 4, "prior": {"enabled": True}},
})
calls = 0

def progress(event):
    global calls
    calls += 1
    if mode == "crash" and calls == 6:  # epoch 2 (of 2), step 2 (of 4): mid-epoch
        Path(marker).write_text("blocked")
        time.sleep(600)

result = train_supernet(cfg, dataset, out, progress=progress, show_progress=False)
if mode == "ddp":
    import torch.distributed as dist
    torch.save(result.net.state_dict(), Path(out) / f"rank{dist.get_rank()}.pt")
"""


def _start(script: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen, timeout: float = 240) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} did not appear in {timeout} s")
        time.sleep(0.1)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.mark.slow
def test_kill_minus_nine_mid_epoch_then_resume_is_identical(
    mt_tiny: Path, tiny_space_yaml: Path, tmp_path: Path
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    straight, crashed, marker = tmp_path / "straight", tmp_path / "crashed", tmp_path / "blocked"
    a = _start(script, mt_tiny, straight, tiny_space_yaml, "straight", marker)
    b = _start(script, mt_tiny, crashed, tiny_space_yaml, "crash", marker)
    _wait_for(marker, b)
    on_disk = _load(crashed / "supernet" / "last.pt")
    assert on_disk["epoch"] == 1  # the epoch-1 checkpoint is complete; epoch 2 is in flight
    os.kill(b.pid, signal.SIGKILL)
    b.wait(timeout=30)
    assert b.returncode == -signal.SIGKILL
    assert not (crashed / "supernet" / "supernet.pt").exists()
    assert not list((crashed / "supernet").glob(".*.tmp"))  # no torn temporary left behind
    _finish(a)
    _finish(_start(script, mt_tiny, crashed, tiny_space_yaml, "resume", marker))

    ref, got = _load(straight / "supernet" / "supernet.pt"), _load(crashed / "supernet" / "supernet.pt")
    assert ref["state_dict"].keys() == got["state_dict"].keys()
    for key, value in ref["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key
    ref_log = _load(straight / "supernet" / "last.pt")["history"]
    got_log = _load(crashed / "supernet" / "last.pt")["history"]
    assert [e["step_losses"] for e in ref_log] == [e["step_losses"] for e in got_log]
    assert len(ref_log) == 2 and len(ref_log[1]["step_losses"]) == 4
    # the latency prior comes from the latency table (every block configuration of the tiny space:
    # stage 1 has one width, stages 2-4 two, each with mlp, transformer, conv3 and conv5 -> 4 + 3 * 8)
    import json

    prior = json.loads((crashed / "supernet" / "latency_prior.json").read_text())
    assert prior["measurements"] == 28
    assert (crashed / "latency_table.json").is_file()
    assert (crashed / "supernet" / "latency_prior.png").stat().st_size > 5000


@pytest.mark.slow
def test_torchrun_ddp_two_cpu_ranks_keep_identical_weights(
    mt_tiny: Path, tiny_space_yaml: Path, tmp_path: Path
) -> None:
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(mt_tiny),
            str(out),
            str(tiny_space_yaml),
            "ddp",
            str(tmp_path / "unused"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r0, r1 = _load(out / "rank0.pt"), _load(out / "rank1.pt")
    saved = _load(out / "supernet" / "supernet.pt")["state_dict"]
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key  # gradients were all-reduced: ranks never diverge
        assert torch.equal(r0[key], saved[key])
    history = _load(out / "supernet" / "last.pt")["history"]
    # 16 images over 2 ranks x batch 4 -> 2 steps per epoch
    assert [len(e["step_losses"]) for e in history] == [2, 2]
    shutil.rmtree(out)


def test_sandwich_rule_and_retraining_from_scratch(
    mt_tiny: Path, tiny_space_yaml: Path, tmp_path: Path
) -> None:
    """Sandwich rule: largest + smallest + one random subnet per step, the two distilled from the
    largest; retraining without inheritance starts from fresh weights and keeps its best model
    loadable with its metrics."""
    from autonad_core import SearchSpace, load_subnet
    from autonad_core.config import load_config
    from autonad_core.training.retrain import retrain
    from autonad_core.training.supernet_trainer import sample_archs, train_supernet

    space = SearchSpace.from_yaml(tiny_space_yaml)
    archs = sample_archs(space, seed=0, epoch=3, step=5, sampling="sandwich")
    assert archs[:2] == [space.largest(), space.smallest()]
    assert archs == sample_archs(space, seed=0, epoch=3, step=5, sampling="sandwich")  # same on every rank
    assert len(sample_archs(space, 0, 3, 5, "uniform")) == 1
    assert sample_archs(space, 0, 3, 5, "uniform") != sample_archs(space, 0, 3, 6, "uniform")

    cfg = load_config(None, None, {
        "device": "cpu", "threads": 1, "space": {"yaml": str(tiny_space_yaml)},
        "data": {"input_size": [32, 32], "max_train_images": 8, "max_val_images": 4},
        "supernet": {"epochs": 1, "batch_size": 4, "sampling": "sandwich", "prior": {"enabled": False}},
        "retrain": {"epochs": 2, "batch_size": 4, "inherit": False, "drop_path": 0.0},
    })  # fmt: skip
    result = train_supernet(cfg, mt_tiny, tmp_path, show_progress=False)
    assert len(result.history[0]["step_losses"]) == 2
    assert result.prior_json is None and not (tmp_path / "supernet" / "latency_prior.json").exists()
    out = retrain(cfg, mt_tiny, tmp_path, arch=space.smallest(), show_progress=False)
    assert out.fit.best_epoch in (1, 2)
    model = load_subnet(out.model_dir)
    assert model.arch == space.smallest()
    # retrain.drop_path = 0 retrains without stochastic depth (the supernet's rate is 0.1)
    from autonad_core.ops import DropPath

    assert model.drop_path_rate == 0.0
    assert [m.drop_prob for m in model.modules() if isinstance(m, DropPath)] == [0.0] * len(
        space.smallest().block_ops()
    )
    import json

    metrics = json.loads((out.model_dir / "metrics.json").read_text())
    assert metrics["miou"] == pytest.approx(out.fit.best_miou)
    # what the model was shown, per class: the labelled pixels of the training split as trained on
    # (8 images resized to 32², the config's max_train_images and input_size)
    from autonad_core.data.spec import IGNORE_INDEX
    from autonad_core.training.common import prepare_data

    data = prepare_data(cfg, mt_tiny)
    counts = metrics["train_pixels"]
    assert list(counts) == list(data.spec.classes) and len(data.train.masks) == 8
    labelled = sum(int((m != IGNORE_INDEX).sum()) for m in data.train.masks)
    assert sum(counts.values()) == labelled == 8 * 32 * 32
    for k, name in enumerate(data.spec.classes):
        assert counts[name] == sum(int((m == k).sum()) for m in data.train.masks), name
    history = json.loads((tmp_path / "retrain" / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2] and "val" in history["epochs"][1]
