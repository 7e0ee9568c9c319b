"""AutoNAD on the magnetic-tile data (../shared/datasets/mt320) with the `cpu-small` preset: the searched
subnet vs two plain-torch baselines trained with the same budget, and the weight-sharing ablation
(paper Table VII). Not a test: run it on a quiet machine and paste the table into the closing note.

    .venv/bin/python benchmarks/autonad_mt.py                 # full cpu-small budget (< 60 min, 2 cores)
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
median of 20 runs, batch 1, 320x320, CPU, after 5 warm-up runs. Results land in <out>/benchmark.json
and <out>/benchmark.md; every stage resumes if the script is re-run with the same --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
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
from autonad_core.retrain import retrain  # noqa: E402
from autonad_core.search.candidates import InheritedEvaluator  # noqa: E402
from autonad_core.training.checkpoint import seed_everything  # noqa: E402
from autonad_core.training.common import build_loss, prepare_data  # noqa: E402
from autonad_core.training.fit import fit_segmentation  # noqa: E402
from autonad_core.training.supernet_trainer import load_supernet, train_supernet  # noqa: E402
from autonad_core.training.timing import time_forward  # noqa: E402

DATASET = REPO.parent / "shared" / "datasets" / "mt320"
QUICK = [
    "data.input_size=[64,64]",
    "data.max_train_images=24",
    "data.max_val_images=8",
    "supernet.epochs=2",
    "supernet.prior.every_n_steps=4",
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


def train_baseline(name: str, model: torch.nn.Module, cfg: DesignConfig, out: Path, repeats: int) -> dict:
    """Same data, augmentation and epoch budget as AutoNAD (supernet + retraining epochs), from scratch."""
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
    model.load_state_dict(torch.load(result.best_dir / "weights.pt", map_location="cpu"))
    params = sum(p.numel() for p in model.parameters())
    return scores_row(
        name,
        params,
        cpu_latency_ms(model, 1, repeats=repeats),
        result.best_scores,
        time.perf_counter() - started,
    )


def ablation(cfg: DesignConfig, arch: Arch, out: Path, design_out: Path) -> list[dict]:
    """Inherited and retrained mIoU of the searched arch under each weight-sharing strategy."""
    rows = []
    for sharing in ("cross", "entangled", "classical"):
        started = time.perf_counter()
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
        if sharing == "cross":  # the design already retrained exactly this arch from this supernet
            metrics = json.loads((design_out / "retrain" / "best" / "metrics.json").read_text())
        else:
            metrics = retrain(run_cfg, DATASET, run_out, arch).fit.best_scores
        rows.append(
            {
                "sharing": sharing,
                "inherited_miou": 100 * inherited.miou,
                "retrained_miou": 100 * metrics["miou"],
                "retrained_mf1": 100 * metrics["mf1"],
                "minutes": (time.perf_counter() - started) / 60,
            }
        )
        print(f"[ablation] {rows[-1]}", flush=True)
    return rows


def markdown(
    rows: list[dict], ablation_rows: list[dict], cfg: DesignConfig, quick: bool, total_min: float
) -> str:
    lines = [
        f"AutoNAD on MT ({'QUICK smoke run' if quick else 'cpu-small preset'}, input "
        f"{cfg.data.input_size[0]}x{cfg.data.input_size[1]}, {total_min:.1f} min total, "
        f"{torch.get_num_threads()} CPU threads, seed {cfg.seed})",
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
        "| sharing | inherited mIoU (%) | retrained mIoU (%) | retrained mF1 (%) |",
        "|---|---|---|---|",
    ]
    for r in ablation_rows:
        lines.append(
            f"| {r['sharing']} | {r['inherited_miou']:.1f} | {r['retrained_miou']:.1f} | "
            f"{r['retrained_mf1']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script end to end")
    parser.add_argument("--out", type=Path, default=Path("/tmp/autonad_mt_benchmark"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=None, help="seed of every stage (default: the preset's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = list(QUICK) if args.quick else []
    overrides += ["device=cpu"] + ([f"threads={args.threads}"] if args.threads else [])
    overrides += [f"seed={args.seed}"] if args.seed is not None else []
    cfg = load_config("cpu-small", None, overrides)
    out = args.out / ("quick" if args.quick else "full")
    repeats = 3 if args.quick else 20
    started = time.perf_counter()

    design_out = out / "autonad"
    t0 = time.perf_counter()
    result = design(DATASET, design_out, preset="cpu-small", overrides=overrides)
    arch = Arch.from_json(Path(result.arch_json).read_text())
    subnet = load_subnet(result.model_dir)
    rows = [
        scores_row(
            "AutoNAD (searched, retrained)",
            count_params(arch, 1, 6),
            cpu_latency_ms(subnet, 1, repeats=repeats),
            result.metrics,
            time.perf_counter() - t0,
        )
    ]
    print(f"[autonad] {rows[-1]}", flush=True)
    torch.manual_seed(cfg.seed)
    rows.append(train_baseline("U-Net", UNet(1, 6, base=8), cfg, out, repeats))
    print(f"[baseline] {rows[-1]}", flush=True)
    torch.manual_seed(cfg.seed)
    rows.append(train_baseline("DeepLabv3+-style", DeepLabV3Plus(1, 6, width=16), cfg, out, repeats))
    print(f"[baseline] {rows[-1]}", flush=True)
    ablation_rows = ablation(cfg, arch, out, design_out)

    total = (time.perf_counter() - started) / 60
    table = markdown(rows, ablation_rows, cfg, args.quick, total)
    atomic_write_json(
        out / "benchmark.json",
        {"rows": rows, "ablation": ablation_rows, "minutes": total, "config": cfg.model_dump(mode="json")},
    )
    (out / "benchmark.md").write_text(table)
    print("\n" + table)


if __name__ == "__main__":
    main()
