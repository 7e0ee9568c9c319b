"""AutoNAD model-side measurements (a script, not a test).

Reports, for the paper's search space with the MT setting (1 input channel, 6 classes):
1. parameter range smallest ... largest architecture, and the spread of random samples;
2. forward+backward time of the largest architecture through the supernet at 320x320, batch 8;
3. inference latency at 320x320, batch 1: materialized subnet vs the supernet path, for the
   smallest, the largest and a few random architectures.

Timing: warm-up runs, then the median of ``--repeats`` runs; the supernet and materialized paths
run interleaved (fair on a shared machine); on CUDA every run is synchronised.

    .venv/bin/python benchmarks/autonad_model.py                 # CPU, all threads
    .venv/bin/python benchmarks/autonad_model.py --threads 2 --repeats 5 --device cuda
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from autonad_core import SearchSpace, Supernet, count_flops, count_params, materialize

console = Console()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fns: list[Callable[[], object]], device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Median wall time in ms of each function. The functions run interleaved, so load from other
    processes on a shared machine hits all of them alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    _sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            _sync(device)
            out.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(t) for t in times]


def parameter_range(space: SearchSpace, samples: int) -> None:
    small, large = space.smallest(), space.largest()
    rng = random.Random(0)
    counts = sorted(count_params(space.sample(rng), 1, 6) for _ in range(samples))
    table = Table(title="Parameters (in_channels 1, 6 classes; analytic = materialized module)")
    for col in ("architecture", "params (M)", "GMACs @320x320"):
        table.add_column(col)
    table.add_row(
        "smallest",
        f"{count_params(small, 1, 6) / 1e6:.2f}",
        f"{count_flops(small, 320, 320, 1, 6) / 1e9:.2f}",
    )
    table.add_row(
        "largest", f"{count_params(large, 1, 6) / 1e6:.2f}", f"{count_flops(large, 320, 320, 1, 6) / 1e9:.2f}"
    )
    q = statistics.quantiles(counts, n=20)
    table.add_row(
        f"{samples} random samples",
        f"median {statistics.median(counts) / 1e6:.2f} (5-95%: {q[0] / 1e6:.2f}-{q[-1] / 1e6:.2f})",
        "",
    )
    console.print(table)


def train_step_time(
    net: Supernet, space: SearchSpace, device: torch.device, batch: int, repeats: int
) -> None:
    arch = space.largest()
    net.train()
    x = torch.randn(batch, 1, 320, 320, device=device)
    target = torch.randint(0, 6, (batch, 320, 320), device=device)

    def step() -> None:
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, arch), target).backward()

    (ms,) = timed([step], device, warmup=1, repeats=repeats)
    console.print(
        f"largest arch, supernet forward+backward, 320x320 batch {batch}: "
        f"[bold]{ms:.0f} ms[/] (median of {repeats})"
    )


def latency(net: Supernet, space: SearchSpace, device: torch.device, repeats: int, samples: int) -> None:
    net.eval()
    rng = random.Random(1)
    archs = [("smallest", space.smallest()), ("largest", space.largest())]
    archs += [(f"random {i}", space.sample(rng)) for i in range(samples)]
    x = torch.randn(1, 1, 320, 320, device=device)
    table = Table(title=f"Inference latency 320x320 batch 1 on {device} (median of {repeats})")
    for col in ("architecture", "params (M)", "supernet path (ms)", "materialized (ms)", "speed-up"):
        table.add_column(col)
    with torch.inference_mode():
        for name, arch in tqdm(archs, desc="latency", leave=False):
            model = materialize(net, arch).eval()
            diff = (model(x) - net(x, arch)).abs().max().item()
            if diff > 1e-4:
                raise RuntimeError(f"{name}: materialized output differs from the supernet by {diff}")
            t_super, t_sub = timed(
                [lambda arch=arch: net(x, arch), lambda model=model: model(x)],
                device,
                warmup=2,
                repeats=repeats,
            )
            table.add_row(
                name,
                f"{count_params(arch, 1, 6) / 1e6:.2f}",
                f"{t_super:.1f}",
                f"{t_sub:.1f}",
                f"{t_super / t_sub:.2f}x",
            )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--train-repeats", type=int, default=3, help="0 skips the training-step timing")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--samples", type=int, default=3, help="random archs in the latency table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    space = SearchSpace()
    console.print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads "
        "(note: the machine may be shared; timings are indicative)"
    )
    parameter_range(space, samples=500)
    net = Supernet(space, in_channels=1, num_classes=6).to(device)
    if args.train_repeats > 0:
        train_step_time(net, space, device, args.batch, args.train_repeats)
    latency(net, space, device, args.repeats, args.samples)


if __name__ == "__main__":
    main()
