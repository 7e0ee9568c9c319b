"""GPU readiness of AutoNAD, checked on the machine it runs on; prints one table.

    .venv/bin/python benchmarks/gpu_check.py [--skip-design] [--keep DIR]

Checks (each timed; a failing check is reported with its error and the others still run):
1. cuda: the device, its memory, and a matmul against the CPU result;
2. amp-bf16 / amp-fp16: supernet training steps under autocast (fp16 with a GradScaler), finite loss;
3. latency-table: the design's latency table measured on the GPU (cpu-small space at 128²) and its sum
   for one subnet against that subnet's end-to-end latency;
4. ddp-nccl: `torchrun --nproc_per_node=<GPUs>` runs supernet steps under DistributedDataParallel with
   the NCCL backend (a world of one on a one-GPU machine still goes through NCCL) and checks that every
   rank ends with the same weights;
5. design-paper: a short `autonad design --preset paper` (Table I space, 2 supernet epochs, P = 4, G = 2,
   2 retraining epochs) on a small synthetic data set, on the GPU.

Without CUDA it says so and exits with status 0 (nothing to check); with CUDA the status is 1 when any
check fails.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CPU_SMALL_SPACE = REPO / "autonad_core" / "configs" / "presets" / "space_cpu_small.yaml"
DDP_OK = "DDP-OK"


@dataclass
class CheckResult:
    name: str
    ok: bool | None  # None = skipped
    detail: str
    seconds: float


def no_cuda_message() -> str | None:
    """Why this machine cannot run the checks, or None when it can."""
    import torch

    if torch.cuda.is_available():
        return None
    build = torch.version.cuda or "none (CPU-only build)"
    return (
        f"gpu_check: no CUDA device available (torch {torch.__version__}, CUDA build {build}); "
        "nothing to check. Run it on a machine with an NVIDIA GPU and a CUDA build of torch."
    )


def _tiny_step_setup(batch: int = 4, size: int = 128):
    import torch

    from autonad_core.models.search_space import SearchSpace
    from autonad_core.models.supernet import Supernet

    space = SearchSpace.from_yaml(CPU_SMALL_SPACE)
    torch.manual_seed(0)
    net = Supernet(space, in_channels=1, num_classes=6).cuda()
    x = torch.randn(batch, 1, size, size, device="cuda")
    y = torch.randint(0, 6, (batch, size, size), device="cuda")
    return space, net, x, y


def check_cuda() -> str:
    import torch

    props = torch.cuda.get_device_properties(0)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    err = float(((a.cuda() @ b.cuda()).cpu() - a @ b).abs().max())
    if err > 0.5:  # TF32 matmuls differ by ~1e-2 at this size; a broken device by far more
        raise RuntimeError(f"GPU matmul differs from CPU by {err:.3g}")
    return (
        f"{props.name}, {props.total_memory / 2**30:.0f} GiB, sm {props.major}.{props.minor}, "
        f"{torch.cuda.device_count()} device(s), torch {torch.__version__} / CUDA {torch.version.cuda}; "
        f"matmul max diff {err:.1e}"
    )


def check_amp(dtype_name: str) -> str:
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise NotApplicableError("this GPU does not support bf16")
    space, net, x, y = _tiny_step_setup()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    rng, losses, times = random.Random(0), [], []
    for _ in range(6):
        arch = space.sample(rng)
        torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype):
            logits = net(x, arch)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        losses.append(float(loss))
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"non-finite losses {losses}")
    return (
        f"6 supernet steps (batch 4, 128²): loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
        f"median step {1e3 * statistics.median(times[1:]):.1f} ms with a new subnet each step (first-seen "
        f"shapes pay kernel selection), logits {logits.dtype}"
    )


def check_latency_table() -> str:
    import torch

    from autonad_core.models.search_space import SearchSpace
    from autonad_core.models.subnet import Subnet
    from autonad_core.training.latency_table import measure_table
    from autonad_core.training.timing import time_forward

    space = SearchSpace.from_yaml(CPU_SMALL_SPACE)
    start = time.perf_counter()
    table = measure_table(space, 1, 6, (128, 128), "cuda", warmup=3, repeats=10)
    seconds = time.perf_counter() - start
    if not all(ms > 0 for ms in table.entries.values()):
        raise RuntimeError("a latency-table entry is not positive")
    arch = space.sample(random.Random(0))
    model = Subnet(arch, 1, 6).cuda().eval()
    measured = statistics.median(time_forward(model, torch.zeros(1, 1, 128, 128, device="cuda"), 5, 20))
    return (
        f"{len(table.entries)} entries in {seconds:.1f} s on {table.meta['device']}; one subnet: table "
        f"{table.latency_ms(arch):.2f} ms vs end-to-end {measured:.2f} ms"
    )


def ddp_worker() -> int:
    """Run by torchrun: NCCL process group, DDP supernet steps, identical weights on every rank."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from autonad_core.training.supernet_trainer import sample_archs

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    space, net, x, y = _tiny_step_setup(batch=2)
    torch.manual_seed(rank)  # different data per rank, same initial weights (seeded before)
    x, y = torch.randn_like(x), torch.randint(0, 6, y.shape, device="cuda")
    model = DistributedDataParallel(net, device_ids=[local_rank], find_unused_parameters=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for step in range(3):
        arch = sample_archs(space, 0, 0, step, False)[0]  # the same arch on every rank
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x, arch), y).backward()
        optimizer.step()
    checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    same = all(torch.equal(g, gathered[0]) for g in gathered)
    if rank == 0:
        print(f"{DDP_OK if same else 'DDP-MISMATCH'} world={world} checksums={[float(g) for g in gathered]}")
    dist.destroy_process_group()
    return 0 if same else 1


def check_ddp() -> str:
    import torch

    n = torch.cuda.device_count()
    torchrun = Path(sys.executable).parent / "torchrun"
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    cmd = [*launcher, "--standalone", f"--nproc_per_node={n}", str(Path(__file__).resolve()), "--ddp-worker"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    found = [ln for ln in lines if ln.startswith((DDP_OK, "DDP-MISMATCH"))]
    if proc.returncode != 0 or not found or not found[0].startswith(DDP_OK):
        raise RuntimeError(f"torchrun exit {proc.returncode}: {' | '.join(lines[-4:])}")
    return f"{n} rank(s), NCCL, 3 DDP steps: {found[0][len(DDP_OK) + 1 :]}"


def _synthetic_dataset(root: Path, n_train: int = 16, n_val: int = 6, size: int = 96) -> Path:
    """Grey images with bright rectangles (class 1) and dark discs (class 2)."""
    import cv2
    import numpy as np
    import yaml

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        names = []
        for i in range(n):
            image = rng.integers(90, 140, (size, size), dtype=np.uint8)
            mask = np.zeros((size, size), np.uint8)
            y0, x0 = rng.integers(5, size - 30, 2)
            image[y0 : y0 + 20, x0 : x0 + 12], mask[y0 : y0 + 20, x0 : x0 + 12] = 230, 1
            cy, cx = rng.integers(15, size - 15, 2)
            cv2.circle(image, (int(cx), int(cy)), 8, 20, -1)
            cv2.circle(mask, (int(cx), int(cy)), 8, 2, -1)
            name = f"{split}_{i:03d}.png"
            cv2.imwrite(str(root / "images" / name), image)
            cv2.imwrite(str(root / "masks" / name), mask)
            names.append(name)
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    spec = {"name": "gpu-check", "classes": ["background", "bar", "disc"], "channels": ["grey"]}
    (root / "dataset.yaml").write_text(yaml.safe_dump(spec))
    return root


def check_design(keep: Path | None) -> str:
    from autonad_core.pipeline import design

    with tempfile.TemporaryDirectory() as tmp:
        base = keep or Path(tmp)
        dataset = _synthetic_dataset(base / "dataset")
        overrides = {
            "device": "cuda",
            "target_device": "cuda",
            "data": {"input_size": [96, 96]},
            "supernet": {"epochs": 2, "batch_size": 4},
            "search": {"population": 4, "generations": 2, "top_k": 2, "latency_repeats": 5},
            "retrain": {"epochs": 2, "batch_size": 4, "eval_every": 1},
        }
        result = design(dataset, base / "design", "paper", overrides=overrides, show_progress=False)
        m = result.metrics
        return (
            f"paper preset (Table I space): mIoU {100 * m['miou']:.1f}%, {result.params / 1e6:.2f} M params, "
            f"{result.latency_ms:.2f} ms on {result.target_device}; ONNX "
            f"{'ok' if result.export.get('onnx') else 'off'}"
        )


class NotApplicableError(Exception):
    """A check that does not apply on this GPU (e.g. bf16 on a pre-Ampere card)."""


def run_check(name: str, func: Callable[[], str]) -> CheckResult:
    start = time.perf_counter()
    try:
        detail, ok = func(), True
    except NotApplicableError as exc:
        detail, ok = f"skipped: {exc}", None
    except Exception as exc:  # a failing check is reported, the others still run
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return CheckResult(name, ok, detail, time.perf_counter() - start)


def format_table(results: list[CheckResult]) -> str:
    rows = [("check", "result", "seconds", "detail")]
    rows += [
        (r.name, {True: "PASS", False: "FAIL", None: "SKIP"}[r.ok], f"{r.seconds:.1f}", r.detail)
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [" | ".join(row[i].ljust(widths[i]) for i in range(3)) + " | " + row[3] for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths) + "-+-" + "-" * 6)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-design", action="store_true", help="leave out the short paper-preset design")
    parser.add_argument("--keep", type=Path, default=None, help="write the design check's files here")
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker()
    message = no_cuda_message()
    if message:
        print(message)
        return 0
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    checks: list[tuple[str, Callable[[], str]]] = [
        ("cuda", check_cuda),
        ("amp-bf16", lambda: check_amp("bf16")),
        ("amp-fp16", lambda: check_amp("fp16")),
        ("latency-table", check_latency_table),
        ("ddp-nccl", check_ddp),
    ]
    if not args.skip_design:
        checks.append(("design-paper", lambda: check_design(args.keep)))
    results = []
    for name, func in checks:
        results.append(run_check(name, func))
        print(f"[gpu_check] {name}: {results[-1].detail}", file=sys.stderr, flush=True)
    print(format_table(results))
    return 1 if any(r.ok is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
