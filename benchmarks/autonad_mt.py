"""AutoNAD on the magnetic-tile data (../shared/datasets/mt320) with the `cpu-small` preset: the searched
subnet vs two plain-torch baselines trained with the same budget, and the weight-sharing ablation
(paper Table VII). Not a test: run it on a quiet machine and paste the table into the closing note.

    .venv/bin/python benchmarks/autonad_mt.py                 # full cpu-small budget (18 min on 2 cores)
    .venv/bin/python benchmarks/autonad_mt.py --workers 1     # every training alone, one after another
    .venv/bin/python benchmarks/autonad_mt.py --quick         # minutes: proves the whole script works

What is compared:
- AutoNAD: `autonad_core.design` (supernet with cross sharing -> evolution search with the latency prior
  -> retraining of the best subnet, inheriting its weights).
- U-Net (base 8) and DeepLabv3+-style (width 16) baselines (autonad_core/baselines), scaled to the
  parameter range of the cpu-small search space (0.2-1.2 M) so the comparison is about architecture, not
  size, and so they train on 2 cores; trained from scratch for as many epochs as AutoNAD spent on
  supernet + retraining, Adam with poly decay at the supernet's lr, same augmentation and loss.
- Ablation: the architecture found above, with weights inherited from supernets trained with cross /
  entangled / classical sharing (same budget), evaluated directly ("inherited") and after the same
  retraining ("retrained").
Metrics: mIoU / mF1 over all classes incl. background (the paper's convention) and mIoU over the defect
classes, from one confusion matrix over the 78 validation images at the preset's input size. Latency:
median of 20 runs, batch 1, 320x320, CPU, after 5 warm-up runs, measured at the end with nothing else
running. Results land in <out>/benchmark.json and <out>/benchmark.md; every stage resumes if the script
is re-run with the same --out.

Scheduling: the design runs alone with all threads, because it measures its latency table (the prior's
and the search's latency) and a second job would corrupt those timings. The four other trainings (two
baselines, two ablation supernets + retrainings) time nothing, so they run as separate processes,
`--workers` at once with `--threads // workers` torch threads each (default 2 x 1 on 2 cores): these
small models at 128x128 gain little from a second OpenMP thread (U-Net step 0.156 s on 1 thread, 0.140 s
on 2; two 1-thread processes side by side 0.160 s each), so two at once nearly halve that phase. Their
"train (min)" is the wall time of that process, sharing the machine. Each such job logs to
<out>/logs/<job>.log. The header of the table names the CPU and a reference time (one U-Net training
step, 1 thread), so runs on hosts of different speed can be compared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autonad_core import Arch, count_params, load_subnet  # noqa: E402
from autonad_core.atomic_io import atomic_write_json  # noqa: E402
from autonad_core.baselines import DeepLabV3Plus, UNet  # noqa: E402
from autonad_core.config import DesignConfig, load_config  # noqa: E402
from autonad_core.data.preprocess import Preprocess  # noqa: E402
from autonad_core.pipeline import design  # noqa: E402
from autonad_core.search.candidates import InheritedEvaluator  # noqa: E402
from autonad_core.training.checkpoint import seed_everything  # noqa: E402
from autonad_core.training.common import build_loss, prepare_data  # noqa: E402
from autonad_core.training.fit import fit_segmentation  # noqa: E402
from autonad_core.training.retrain import retrain  # noqa: E402
from autonad_core.training.supernet_trainer import load_supernet, train_supernet  # noqa: E402
from autonad_core.training.timing import cpu_name, time_forward  # noqa: E402

DATASET = REPO.parent / "shared" / "datasets" / "mt320"
QUICK = [
    "data.input_size=[64,64]",
    "data.max_train_images=24",
    "data.max_val_images=8",
    "supernet.epochs=2",
    "search.population=4",
    "search.generations=2",
    "search.top_k=2",
    "search.latency_repeats=2",
    "retrain.epochs=2",
    "retrain.eval_every=1",
]


def cpu_latency_ms(model: torch.nn.Module, in_channels: int, size: int = 320, repeats: int = 20) -> float:
    model = model.cpu().eval()
    example = torch.zeros(1, in_channels, size, size)
    return statistics.median(time_forward(model, example, warmup=5, repeats=repeats))


def scores_row(name: str, params: int, latency: float, scores: dict, seconds: float) -> dict:
    return {
        "model": name,
        "params_M": params / 1e6,
        "cpu_latency_320_ms": latency,
        "miou": 100 * scores["miou"],
        "mf1": 100 * scores["mf1"],
        "miou_defect": 100 * scores["miou_defect"],
        "train_minutes": seconds / 60,
    }


BASELINES: dict[str, Callable[[], torch.nn.Module]] = {
    "U-Net": lambda: UNet(1, 6, base=8),
    "DeepLabv3+-style": lambda: DeepLabV3Plus(1, 6, width=16),
}


def train_baseline(name: str, cfg: DesignConfig, out: Path) -> dict:
    """Same data, augmentation and epoch budget as AutoNAD (supernet + retraining epochs), from scratch.
    Returns the scores and where the best weights are; latency is measured later, alone."""
    torch.manual_seed(cfg.seed)
    model = BASELINES[name]()
    seed_everything(cfg.seed)
    data = prepare_data(cfg, DATASET)
    budget = cfg.retrain.model_copy(
        update={"epochs": cfg.supernet.epochs + cfg.retrain.epochs, "lr": cfg.supernet.lr, "inherit": False}
    )
    stage = out / "baselines" / name

    def save_best(module: torch.nn.Module, folder: Path, scores: dict) -> None:
        torch.save(module.state_dict(), folder / "weights.pt")
        atomic_write_json(folder / "metrics.json", scores)

    size = sum(p.numel() for p in model.parameters())
    fingerprint = {
        "baseline": f"{name}/{type(model).__name__}/{size}",
        "data": cfg.data.model_dump(mode="json"),
        "fit": budget.model_dump(),
        "loss": cfg.loss.model_dump(mode="json"),
    }
    started = time.perf_counter()
    result = fit_segmentation(
        model,
        data,
        budget,
        stage,
        cfg.seed,
        "cpu",
        save_best,
        fingerprint,
        stage=name,
        loss_fn=build_loss(cfg.loss, data),
    )
    return {
        "model": name,
        "params": size,
        "scores": result.best_scores,
        "seconds": time.perf_counter() - started,
        "weights": str(result.best_dir / "weights.pt"),
    }


def ablation_run(cfg: DesignConfig, sharing: str, arch_json: str, out: Path, design_out: Path) -> dict:
    """Inherited and retrained mIoU of the searched arch with weights from a supernet trained with
    `sharing` (the design's own supernet for cross, which was already retrained on exactly this arch)."""
    started = time.perf_counter()
    arch = Arch.from_json(arch_json)
    # the ablation evaluates the arch already found, so its supernets need no latency prior
    supernet = cfg.supernet.model_copy(update={"sharing": sharing})
    if sharing != "cross":
        no_prior = supernet.prior.model_copy(update={"enabled": False})
        supernet = supernet.model_copy(update={"prior": no_prior})
    run_cfg = cfg.model_copy(update={"supernet": supernet})
    run_out = design_out if sharing == "cross" else out / f"ablation_{sharing}"
    if sharing != "cross":
        train_supernet(run_cfg, DATASET, run_out)
    net, _, _ = load_supernet(run_out / "supernet", "cpu")
    data = prepare_data(run_cfg, DATASET, Preprocess.load(run_out), need_train=False)
    inherited = InheritedEvaluator(net, data.val, len(data.spec.classes), "cpu")(arch)
    if sharing == "cross":
        metrics = json.loads((design_out / "retrain" / "best" / "metrics.json").read_text())
    else:
        metrics = retrain(run_cfg, DATASET, run_out, arch).fit.best_scores
    return {
        "sharing": sharing,
        "inherited_miou": 100 * inherited.miou,
        "retrained_miou": 100 * metrics["miou"],
        "retrained_mf1": 100 * metrics["mf1"],
        "minutes": (time.perf_counter() - started) / 60,
    }


def _job_in_worker(log: Path, threads: int, fn: Callable, args: tuple):
    """Runs in a worker process: its own thread count, its output (progress bars included) to `log`."""
    torch.set_num_threads(threads)
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(log, "a", buffering=1) as stream,
        contextlib.redirect_stdout(stream),
        contextlib.redirect_stderr(stream),
    ):
        try:
            return fn(*args)
        except BaseException:
            traceback.print_exc()  # into the job's log; the exception still reaches run_jobs
            raise


def run_jobs(jobs: dict[str, tuple[Callable, tuple]], workers: int, threads: int, log_dir: Path) -> dict:
    """Run independent jobs `workers` at a time (in submission order) and return {name: result}.

    workers == 1 runs them here, one after the other, with their progress on the console. A failing
    job does not stop the others (their checkpoints stay valid for a rerun); the failures are raised
    together at the end, each naming its log."""
    if workers <= 1:
        return {name: fn(*args) for name, (fn, args) in jobs.items()}
    results, failures = {}, []
    context = multiprocessing.get_context("spawn")  # fork after OpenMP was used can hang the child
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {}
        for name, (fn, args) in jobs.items():
            log = log_dir / f"{name}.log"
            futures[pool.submit(_job_in_worker, log, threads, fn, args)] = (name, log)
            print(f"[queue] {name}: log {log}", flush=True)
        for future in as_completed(futures):
            name, log = futures[future]
            try:
                results[name] = future.result()
                print(f"[done] {name}", flush=True)
            except Exception as exc:  # reported with the job's name and log below
                failures.append(f"{name}: {type(exc).__name__}: {exc} (log: {log})")
                print(f"[failed] {failures[-1]}", flush=True)
    if failures:
        raise RuntimeError("benchmark jobs failed:\n  " + "\n  ".join(failures))
    return results


def reference_step_ms(steps: int = 10) -> float:
    """Median time of one U-Net (base 8) training step, batch 8 x 1 x 128 x 128, on 1 thread: a yardstick
    of this host's speed, printed with the table (hosts of the same name differed 3x in our runs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        model = UNet(1, 6, base=8)
        optimizer = torch.optim.Adam(model.parameters())
        image = torch.randn(8, 1, 128, 128, generator=generator)
        target = torch.randint(0, 6, (8, 128, 128), generator=generator)
        times = []
        for i in range(steps + 3):
            began = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(image), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if i >= 3:
                times.append(1000 * (time.perf_counter() - began))
        return statistics.median(times)
    finally:
        torch.set_num_threads(threads)


def markdown(rows: list[dict], ablation_rows: list[dict], cfg: DesignConfig, run: dict) -> str:
    lines = [
        f"AutoNAD on MT ({'QUICK smoke run' if run['quick'] else 'cpu-small preset'}, input "
        f"{cfg.data.input_size[0]}x{cfg.data.input_size[1]}, {run['minutes']:.1f} min total, "
        f"seed {cfg.seed})",
        f"Host: {run['cpu']}, {run['threads']} torch threads; design alone, then {run['workers']} jobs "
        f"at once x {run['threads_per_job']} thread(s); reference U-Net training step (1 thread) "
        f"{run['reference_step_ms']:.0f} ms",
        "",
        "| model | params (M) | CPU latency 320x320 (ms) | mIoU (%) | mF1 (%) | defect mIoU (%) "
        "| train (min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['params_M']:.2f} | {r['cpu_latency_320_ms']:.1f} | {r['miou']:.1f} | "
            f"{r['mf1']:.1f} | {r['miou_defect']:.1f} | {r['train_minutes']:.1f} |"
        )
    lines += [
        "",
        "Weight-sharing ablation (same searched architecture; paper Table VII):",
        "",
        "| sharing | inherited mIoU (%) | retrained mIoU (%) | retrained mF1 (%) | minutes |",
        "|---|---|---|---|---|",
    ]
    for r in ablation_rows:
        lines.append(
            f"| {r['sharing']} | {r['inherited_miou']:.1f} | {r['retrained_miou']:.1f} | "
            f"{r['retrained_mf1']:.1f} | {r['minutes']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script end to end")
    parser.add_argument("--out", type=Path, default=Path("/tmp/autonad_mt_benchmark"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--workers", type=int, default=2, help="trainings run at once after the design")
    parser.add_argument("--seed", type=int, default=None, help="seed of every stage (default: the preset's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    workers = max(1, args.workers)
    overrides = list(QUICK) if args.quick else []
    overrides += ["device=cpu"] + ([f"threads={args.threads}"] if args.threads else [])
    overrides += [f"seed={args.seed}"] if args.seed is not None else []
    cfg = load_config("cpu-small", None, overrides)
    job_cfg = cfg.model_copy(update={"threads": max(1, threads // workers)}) if workers > 1 else cfg
    out = args.out / ("quick" if args.quick else "full")
    repeats = 3 if args.quick else 20
    started = time.perf_counter()
    reference = reference_step_ms()
    print(f"[host] {cpu_name()}: U-Net training step {reference:.0f} ms on 1 thread", flush=True)

    # 1. the design, alone: its prior and search time subnets
    design_out = out / "autonad"
    t0 = time.perf_counter()
    result = design(DATASET, design_out, preset="cpu-small", overrides=overrides)
    design_minutes = (time.perf_counter() - t0) / 60
    arch_json = Path(result.arch_json).read_text()
    print(f"[autonad] designed in {design_minutes:.1f} min: {result.metrics}", flush=True)

    # 2. trainings that time nothing, `workers` at once, longest first
    jobs = {
        "U-Net": (train_baseline, ("U-Net", job_cfg, out)),
        "ablation-entangled": (ablation_run, (job_cfg, "entangled", arch_json, out, design_out)),
        "ablation-classical": (ablation_run, (job_cfg, "classical", arch_json, out, design_out)),
        "DeepLabv3+-style": (train_baseline, ("DeepLabv3+-style", job_cfg, out)),
    }
    done = run_jobs(jobs, workers, job_cfg.threads or threads, out / "logs")
    torch.set_num_threads(threads)
    ablation_rows = [ablation_run(cfg, "cross", arch_json, out, design_out)]
    ablation_rows[0]["minutes"] = design_minutes
    ablation_rows += [done["ablation-entangled"], done["ablation-classical"]]
    for row in ablation_rows:
        print(f"[ablation] {row}", flush=True)

    # 3. latency of every model, alone, with all threads
    arch = Arch.from_json(arch_json)
    rows = [
        scores_row(
            "AutoNAD (searched, retrained)",
            count_params(arch, 1, 6),
            cpu_latency_ms(load_subnet(result.model_dir), 1, repeats=repeats),
            result.metrics,
            design_minutes * 60,
        )
    ]
    for name in ("U-Net", "DeepLabv3+-style"):
        job = done[name]
        model = BASELINES[name]()
        model.load_state_dict(torch.load(job["weights"], map_location="cpu"))
        latency = cpu_latency_ms(model, 1, repeats=repeats)
        rows.append(scores_row(name, job["params"], latency, job["scores"], job["seconds"]))
    for row in rows:
        print(f"[model] {row}", flush=True)

    run = {
        "quick": args.quick,
        "minutes": (time.perf_counter() - started) / 60,
        "cpu": cpu_name(),
        "threads": threads,
        "workers": workers,
        "threads_per_job": job_cfg.threads or threads,
        "reference_step_ms": reference,
    }
    table = markdown(rows, ablation_rows, cfg, run)
    atomic_write_json(
        out / "benchmark.json",
        {"rows": rows, "ablation": ablation_rows, "run": run, "config": cfg.model_dump(mode="json")},
    )
    (out / "benchmark.md").write_text(table)
    print("\n" + table)


if __name__ == "__main__":
    main()
