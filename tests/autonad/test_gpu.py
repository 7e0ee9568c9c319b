"""GPU readiness: `benchmarks/gpu_check.py` says clearly when there is no CUDA, reports failing checks
without stopping; tests marked `gpu` run the model, AMP and the latency table on CUDA (skipped, with
the reason, on a machine without CUDA)."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

CUDA = torch.cuda.is_available()


def _gpu_check(repo_root: Path):
    spec = importlib.util.spec_from_file_location("gpu_check", repo_root / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_check", module)  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_gpu_check_without_cuda_exits_cleanly_with_a_clear_message(repo_root: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # hides any GPU, so this runs the same everywhere
    proc = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "gpu_check: no CUDA device available" in proc.stdout and "nothing to check" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_failing_check_is_reported_and_the_table_lists_every_check(repo_root: Path) -> None:
    gpu_check = _gpu_check(repo_root)

    def broken() -> str:
        raise RuntimeError("device lost")

    results = [gpu_check.run_check("ok", lambda: "fine"), gpu_check.run_check("bad", broken)]
    assert [r.ok for r in results] == [True, False]
    assert results[1].detail == "RuntimeError: device lost"
    table = gpu_check.format_table(results).splitlines()
    assert table[0].split(" | ")[:3] == ["check", "result", "seconds"]
    assert (
        table[2].startswith("ok ") and "PASS" in table[2] and "FAIL" in table[3] and "device lost" in table[3]
    )


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
def test_supernet_on_cuda_matches_cpu(repo_root: Path) -> None:
    from autonad_core import SearchSpace, Supernet

    space = SearchSpace.from_yaml(repo_root / "autonad_core/configs/presets/space_cpu_small.yaml")
    torch.manual_seed(0)
    net = Supernet(space, 1, 6).eval()
    x = torch.randn(2, 1, 64, 64)
    arch = space.sample(random.Random(0))
    matmul_tf32 = torch.backends.cuda.matmul.allow_tf32
    # TF32 (cuDNN's default on Ampere and later) rounds to 10 mantissa bits: ~1e-3 off, seen on an H200.
    # This checks the CUDA path computes the same function, so it compares at full fp32.
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            cpu = net(x, arch)
            gpu = net.cuda()(x.cuda(), arch).cpu()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
    assert torch.allclose(cpu, gpu, atol=1e-4), float((cpu - gpu).abs().max())


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_amp_supernet_steps_stay_finite(dtype: str, repo_root: Path) -> None:
    if dtype == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU does not support bf16")
    detail = _gpu_check(repo_root).check_amp(dtype)
    assert "loss" in detail


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
def test_latency_table_on_cuda_names_the_gpu(repo_root: Path) -> None:
    from autonad_core import SearchSpace
    from autonad_core.training.latency_table import measure_table

    space = SearchSpace.from_yaml(repo_root / "autonad_core/configs/presets/space_cpu_small.yaml")
    table = measure_table(space, 1, 6, (64, 64), "cuda", warmup=2, repeats=3)
    assert table.meta["device"] == f"cuda: {torch.cuda.get_device_name(0)}"
    assert all(ms > 0 for ms in table.entries.values())
    assert table.latency_ms(space.largest()) > table.latency_ms(space.smallest())
