"""AutoNAD on the magnetic-tile data (../shared/datasets/mt320) with the `cpu-small` preset: the searched
subnet vs two plain-torch baselines under a stated, equal budget, over several seeds, and the
weight-sharing ablation (paper Table VII). Not a test: run it on a quiet machine and paste the tables
into the closing note.

    .venv/bin/python benchmarks/autonad_mt.py --seeds 0 1 2        # full cpu-small budget, 3 seeds
    .venv/bin/python benchmarks/autonad_mt.py --budget recipe      # retraining = the baseline's steps
    .venv/bin/python benchmarks/autonad_mt.py --tiny               # minutes: proves the script works
    .venv/bin/python benchmarks/autonad_mt.py --ablation           # the models' table only (no ablation)

Data: MT at its own 320x320 (as the paper): cpu-small trains every network on class-aware 128x128
crops and evaluates by sliding windows stitched to the full 320x320 mask (`data.mode=crop`), the same
for AutoNAD and the baselines.

Budget (stated in the table header; batch size, augmentation, loss and data the same for all):
- `--budget total` (default): every row gets the same number of optimiser steps. AutoNAD spends S
  supernet epochs + R retraining epochs (cpu-small: S = 50, R = 40); each baseline trains S + R epochs
  from scratch. The retraining uses the baseline's recipe (Adam, lr = the baseline's, poly 0.9) but, by
  construction, fewer steps than a baseline.
- `--budget recipe`: the retraining gets exactly a baseline's recipe, steps included (S + R epochs),
  so AutoNAD spends S more steps in total than each baseline (its search cost), stated so.
Metrics: mIoU / mF1 over all classes incl. background (the paper's convention), defect-class mIoU and
IoU per class, from one confusion matrix over the 78 validation images, mean ± sd over `--seeds`.
AutoNAD rows also give the inherited (supernet weights, as the search saw it) and the retrained mIoU.
Latency: median of 20 runs, batch 1, 320x320 (the search's latency table is measured at 320x320 too),
CPU, after 5 warm-up runs, measured at the end with nothing else running. Minutes: wall time of
each row (AutoNAD: supernet + search + retraining + export). Results: <out>/benchmark.json,
<out>/benchmark.md and PNGs (supernet curves per sharing mode, Pareto front of seed 0's search with the
baselines, per-class IoU bars); every stage resumes if the script is re-run with the same --out.

Scheduling: each seed's design runs alone with all threads, because the first measures the latency
table (later seeds reuse it, so every seed searches with the same latencies). The other trainings (two
baselines, two ablation supernets + retrainings per seed) time nothing, so they run as separate
processes, `--workers` at once with `--threads // workers` torch threads each. Their minutes are the
wall time of that process, sharing the machine; each logs to <out>/logs/<job>.log. The header names
the CPU and a reference time (one U-Net training step, 1 thread), so hosts can be compared.
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
from autonad_core.metrics import format_class_iou  # noqa: E402
from autonad_core.pipeline import design  # noqa: E402
from autonad_core.plots import plot_class_iou, plot_pareto, plot_supernet_curves  # noqa: E402
from autonad_core.search.candidates import InheritedEvaluator  # noqa: E402
from autonad_core.seed_stats import format_mean_sd, mean_sd  # noqa: E402
from autonad_core.training.checkpoint import seed_everything  # noqa: E402
from autonad_core.training.common import build_loss, prepare_data, steps_per_epoch  # noqa: E402
from autonad_core.training.fit import fit_segmentation  # noqa: E402
from autonad_core.training.retrain import retrain  # noqa: E402
from autonad_core.training.supernet_trainer import load_supernet, train_supernet  # noqa: E402
from autonad_core.training.timing import cpu_name, time_forward  # noqa: E402

DATASET = REPO.parent / "shared" / "datasets" / "mt320"
LATENCY_SIZE = 320
TINY = [
    "data.input_size=[64,64]",
    "data.max_train_images=16",
    "data.max_val_images=4",
    "supernet.epochs=1",
    "search.population=4",
    "search.generations=1",
    "search.top_k=2",
    "search.latency_warmup=1",
    "search.latency_repeats=1",
    "search.latency_input_size=[64,64]",
    "retrain.epochs=1",
    "retrain.eval_every=1",
]
TINY_LATENCY_SIZE = 64
ABLATION_SHARING = ("entangled", "classical")


def cpu_latency_ms(model: torch.nn.Module, in_channels: int, size: int, repeats: int) -> float:
    model = model.cpu().eval()
    example = torch.zeros(1, in_channels, size, size)
    return statistics.median(time_forward(model, example, warmup=5, repeats=repeats))


BASELINES: dict[str, Callable[[], torch.nn.Module]] = {
    "U-Net": lambda: UNet(1, 6, base=8),
    "DeepLabv3+-style": lambda: DeepLabV3Plus(1, 6, width=16),
}


def recipe(cfg: DesignConfig, budget: str) -> tuple[int, int]:
    """(retraining epochs, baseline epochs) of a `budget`; see the module docstring."""
    total = cfg.supernet.epochs + cfg.retrain.epochs
    return (cfg.retrain.epochs, total) if budget == "total" else (total, total)


def benchmark_config(overrides: list[str], seed: int, budget: str) -> tuple[DesignConfig, int]:
    """(cpu-small + overrides with the retraining at the baseline's lr and, for `recipe`, steps;
    baseline epochs), both from the preset's S and R before the retraining is changed."""
    cfg = load_config("cpu-small", None, [*overrides, f"seed={seed}"])
    retrain_epochs, baseline_epochs = recipe(cfg, budget)
    retrain_cfg = cfg.retrain.model_copy(update={"lr": cfg.supernet.lr, "epochs": retrain_epochs})
    return cfg.model_copy(update={"retrain": retrain_cfg}), baseline_epochs


def train_baseline(name: str, cfg: DesignConfig, out: Path, epochs: int) -> dict:
    """Same data, augmentation, loss and lr as AutoNAD's retraining, `epochs` from scratch. Returns the
    scores and where the best weights are; latency is measured later, alone."""
    torch.manual_seed(cfg.seed)
    model = BASELINES[name]()
    seed_everything(cfg.seed)
    data = prepare_data(cfg, DATASET)
    budget = cfg.retrain.model_copy(update={"epochs": epochs, "inherit": False})
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
        "steps": epochs * steps_per_epoch(len(data.train), budget.batch_size, 1),
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
        "supernet_history": str(run_out / "supernet" / "history.json"),
    }


def model_row(name: str, params: int, latency: float, scores: dict, seconds: float, steps: int) -> dict:
    return {
        "model": name,
        "params_M": params / 1e6,
        "cpu_latency_ms": latency,
        "miou": 100 * scores["miou"],
        "mf1": 100 * scores["mf1"],
        "miou_defect": 100 * scores["miou_defect"],
        "iou": {k: 100 * v for k, v in scores["iou"].items()},
        "minutes": seconds / 60,
        "steps": steps,
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


def _cell(rows: list[dict], key: str, digits: int = 1) -> str:
    return format_mean_sd([r[key] for r in rows if r.get(key) is not None], digits)


def markdown(per_model: dict[str, list[dict]], ablation: dict[str, list[dict]], run: dict) -> str:
    """Tables of mean ± sd over the seeds: models, per-class IoU, weight-sharing ablation."""
    lines = [
        f"AutoNAD on MT ({'TINY smoke run' if run['tiny'] else 'cpu-small preset'}; "
        f"{run['crop']} crops, sliding-window evaluation on the full images; seeds {run['seeds']}; "
        f"{run['minutes']:.1f} min total)",
        f"Budget '{run['budget']}': {run['budget_text']}",
        f"Host (shared with other jobs: {run['shared_host']}): {run['cpu']}, {run['threads']} torch threads; "
        f"designs alone, then {run['workers']} jobs at once x {run['threads_per_job']} thread(s); "
        f"reference U-Net training step (1 thread) {run['reference_step_ms']:.0f} ms",
        "",
        f"| model | params (M) | CPU latency {run['latency_size']}² (ms) | optimiser steps "
        "| inherited mIoU (%) | mIoU (%) | mF1 (%) | defect mIoU (%) | minutes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in per_model.items():
        steps = "/".join(sorted({str(r["steps"]) for r in rows}))
        lines.append(
            f"| {name} | {_cell(rows, 'params_M', 2)} | {_cell(rows, 'cpu_latency_ms')} | {steps} | "
            f"{_cell(rows, 'inherited_miou')} | {_cell(rows, 'miou')} | {_cell(rows, 'mf1')} | "
            f"{_cell(rows, 'miou_defect')} | {_cell(rows, 'minutes')} |"
        )
    classes = list(next(iter(per_model.values()))[0]["iou"])
    lines += ["", "IoU per class (%):", "", "| model | " + " | ".join(classes) + " |"]
    lines.append("|---|" + "---|" * len(classes))
    for name, rows in per_model.items():
        cells = [format_mean_sd([r["iou"][c] for r in rows]) for c in classes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Weight-sharing ablation (each seed's searched architecture; paper Table VII):",
        "",
        "| sharing | inherited mIoU (%) | retrained mIoU (%) | retrained mF1 (%) | minutes |",
        "|---|---|---|---|---|",
    ]
    for sharing, rows in ablation.items():
        lines.append(
            f"| {sharing} | {_cell(rows, 'inherited_miou')} | {_cell(rows, 'retrained_miou')} | "
            f"{_cell(rows, 'retrained_mf1')} | {_cell(rows, 'minutes')} |"
        )
    return "\n".join(lines) + "\n"


def budget_text(cfg: DesignConfig, baseline_epochs: int, steps_per_epoch_: int) -> str:
    """The budget line of the table, from the configuration the designs ran with."""
    s, n, retrain_epochs = cfg.supernet.epochs, steps_per_epoch_, cfg.retrain.epochs
    return (
        f"AutoNAD {s} supernet + {retrain_epochs} retraining epochs = {(s + retrain_epochs) * n} steps "
        f"(retraining: Adam lr {cfg.supernet.lr:g}, poly {cfg.retrain.poly_power:g}); each baseline "
        f"{baseline_epochs} epochs = {baseline_epochs * n} steps, same optimiser, lr and schedule; "
        f"batch {cfg.retrain.batch_size}, {n} steps per epoch"
    )


def write_figures(out: Path, seed0: dict, per_model: dict[str, list[dict]]) -> list[str]:
    """The three report PNGs from seed 0's runs and the per-seed rows."""
    histories = {r["sharing"]: json.loads(Path(r["supernet_history"]).read_text()) for r in seed0["ablation"]}
    paths = [plot_supernet_curves(histories, out / "supernet_curves.png")]
    search = json.loads((seed0["design_out"] / "search" / "history.json").read_text())
    baselines = [
        {"name": f"{name} (measured)", "latency_ms": rows[0]["cpu_latency_ms"], "miou": rows[0]["miou"] / 100}
        for name, rows in per_model.items()
        if not name.startswith("AutoNAD")
    ]
    paths.append(
        plot_pareto(
            search["candidates"],
            search["best"],
            out / "pareto.png",
            baselines,
            title="seed 0 search: candidates (inherited mIoU, latency-table sum) vs baselines "
            "(retrained mIoU, measured latency)",
        )
    )
    means = {
        name: {c: mean_sd([r["iou"][c] / 100 for r in rows])[0] for c in rows[0]["iou"]}
        for name, rows in per_model.items()
    }
    sds = {
        name: {c: mean_sd([r["iou"][c] / 100 for r in rows])[1] for c in rows[0]["iou"]}
        for name, rows in per_model.items()
    }
    paths.append(plot_class_iou(means, out / "class_iou.png", sds))
    return [str(p) for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny budgets: checks the script end to end")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", choices=("total", "recipe"), default="total")
    parser.add_argument("--out", type=Path, default=Path("/tmp/autonad_mt_benchmark"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--workers", type=int, default=2, help="trainings run at once after the designs")
    parser.add_argument("--shared-host", action="store_true", help="say in the table the host was shared")
    parser.add_argument(
        "--ablation",
        nargs="*",
        choices=ABLATION_SHARING,
        default=list(ABLATION_SHARING),
        help="sharing modes trained for the ablation beside the design's own cross sharing "
        "(none: only the models' table; halves the run on a slow host)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    workers = max(1, args.workers)
    overrides = list(TINY) if args.tiny else [f"search.latency_input_size=[{LATENCY_SIZE},{LATENCY_SIZE}]"]
    overrides += ["device=cpu"] + ([f"threads={args.threads}"] if args.threads else [])
    latency_size = TINY_LATENCY_SIZE if args.tiny else LATENCY_SIZE
    out = args.out / ("tiny" if args.tiny else "full") / args.budget
    repeats = 3 if args.tiny else 20
    started = time.perf_counter()
    reference = reference_step_ms()
    print(f"[host] {cpu_name()}: U-Net training step {reference:.0f} ms on 1 thread", flush=True)

    # 1. the designs, alone; seed 0 measures the latency table, later seeds reuse it
    seeds: dict[int, dict] = {}
    table_override: list[str] = []
    for seed in args.seeds:
        seed_out = out / f"seed{seed}"
        cfg, baseline_epochs = benchmark_config(overrides + table_override, seed, args.budget)
        design_out = seed_out / "autonad"
        t0 = time.perf_counter()
        result = design(DATASET, design_out, config=None, overrides=cfg.model_dump(mode="json"))
        minutes = (time.perf_counter() - t0) / 60
        table_override = table_override or [f"search.latency_table={design_out / 'latency_table.json'}"]
        seeds[seed] = {
            "cfg": cfg,
            "baseline_epochs": baseline_epochs,
            "out": seed_out,
            "design_out": design_out,
            "result": result,
            "minutes": minutes,
        }
        print(
            f"[autonad seed {seed}] designed in {minutes:.1f} min: mIoU {100 * result.metrics['miou']:.1f}%",
            flush=True,
        )

    # 2. trainings that time nothing, `workers` at once
    jobs = {}
    for seed, info in seeds.items():
        cfg = info["cfg"]
        job_cfg = cfg.model_copy(update={"threads": max(1, threads // workers)}) if workers > 1 else cfg
        arch_json = Path(info["result"].arch_json).read_text()
        baseline_epochs = info["baseline_epochs"]
        for name in BASELINES:
            jobs[f"{name}-seed{seed}"] = (train_baseline, (name, job_cfg, info["out"], baseline_epochs))
        for sharing in args.ablation:
            args_ = (job_cfg, sharing, arch_json, info["out"], info["design_out"])
            jobs[f"ablation-{sharing}-seed{seed}"] = (ablation_run, args_)
    done = run_jobs(jobs, workers, max(1, threads // workers) if workers > 1 else threads, out / "logs")
    torch.set_num_threads(threads)

    # 3. rows per seed; latency of every model alone, with all threads
    per_model: dict[str, list[dict]] = {}
    ablation: dict[str, list[dict]] = {}
    for seed, info in seeds.items():
        cfg, result = info["cfg"], info["result"]
        cross = ablation_run(
            cfg, "cross", Path(result.arch_json).read_text(), info["out"], info["design_out"]
        )
        cross["minutes"] = info["minutes"]
        info["ablation"] = [cross] + [done[f"ablation-{s}-seed{seed}"] for s in args.ablation]
        for row in info["ablation"]:
            ablation.setdefault(row["sharing"], []).append(row)
        data_len = len(prepare_data(cfg, DATASET).train)
        n = steps_per_epoch(data_len, cfg.retrain.batch_size, 1)
        info["steps_per_epoch"] = n
        arch = Arch.from_json(Path(result.arch_json).read_text())
        row = model_row(
            "AutoNAD (searched, retrained)",
            count_params(arch, 1, 6),
            cpu_latency_ms(load_subnet(result.model_dir), 1, latency_size, repeats),
            result.metrics,
            info["minutes"] * 60,
            (cfg.supernet.epochs + cfg.retrain.epochs) * n,
        )
        row["inherited_miou"] = cross["inherited_miou"]
        per_model.setdefault(row["model"], []).append(row)
        for name in BASELINES:
            job = done[f"{name}-seed{seed}"]
            model = BASELINES[name]()
            model.load_state_dict(torch.load(job["weights"], map_location="cpu"))
            latency = cpu_latency_ms(model, 1, latency_size, repeats)
            per_model.setdefault(name, []).append(
                model_row(name, job["params"], latency, job["scores"], job["seconds"], job["steps"])
            )
    for name, rows in per_model.items():
        for r in rows:
            print(
                f"[{name}] mIoU {r['miou']:.1f}%  IoU per class: "
                + format_class_iou({k: v / 100 for k, v in r["iou"].items()}),
                flush=True,
            )

    first = seeds[args.seeds[0]]
    job_threads = max(1, threads // workers) if workers > 1 else threads
    run = {
        "tiny": args.tiny,
        "seeds": args.seeds,
        "budget": args.budget,
        "budget_text": budget_text(first["cfg"], first["baseline_epochs"], first["steps_per_epoch"]),
        "crop": "x".join(str(v) for v in first["cfg"].data.input_size),
        "latency_size": latency_size,
        "minutes": (time.perf_counter() - started) / 60,
        "cpu": cpu_name(),
        "threads": threads,
        "workers": workers,
        "threads_per_job": job_threads,
        "shared_host": "yes" if args.shared_host else "no",
        "reference_step_ms": reference,
    }
    figures = write_figures(out, first, per_model)
    table = markdown(per_model, ablation, run)
    atomic_write_json(
        out / "benchmark.json",
        {
            "models": per_model,
            "ablation": ablation,
            "run": run,
            "figures": figures,
            "config": first["cfg"].model_dump(mode="json"),
        },
    )
    (out / "benchmark.md").write_text(table)
    print("\n" + table)
    print("figures: " + ", ".join(figures))


if __name__ == "__main__":
    main()
