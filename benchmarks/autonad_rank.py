"""How well do inherited weights rank subnets? Kendall τ between the inherited mIoU (supernet weights,
what the search sees) and the retrained mIoU of the same random subnets, for cross / entangled /
classical weight sharing (issue 14 item 3; paper Table VII's claim that cross sharing ranks best).

    .venv/bin/python benchmarks/autonad_rank.py --seeds 0 1 2               # cpu-small budgets
    .venv/bin/python benchmarks/autonad_rank.py --sampling sandwich         # sandwich + distillation
    .venv/bin/python benchmarks/autonad_rank.py --tiny                      # minutes: smoke run

Per seed and sharing mode: one supernet trained with the cpu-small recipe (`--sampling` rule, no
latency prior: nothing here is timed), then `--subnets` distinct random subnets drawn from
`random.Random(f"rank-{seed}")` (the same subnets for every mode), each evaluated with inherited weights
and retrained with the preset's retraining recipe, inheriting its weights from that supernet (as the
pipeline does). τ = scipy.stats.kendalltau(inherited, retrained) (τ-b), mean ± sd over seeds; a
supernet whose subnets all score the same gives τ = nan, shown as '-'. Results: <out>/rank.json,
<out>/rank.md and <out>/rank.png (inherited vs retrained mIoU, one colour per mode). Every stage
resumes when re-run with the same --out. Same budget for every mode.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from scipy.stats import kendalltau
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autonad_core.atomic_io import atomic_write_json  # noqa: E402
from autonad_core.config import DesignConfig, load_config  # noqa: E402
from autonad_core.data.preprocess import Preprocess  # noqa: E402
from autonad_core.plots import finish, pyplot  # noqa: E402
from autonad_core.search.candidates import InheritedEvaluator  # noqa: E402
from autonad_core.seed_stats import format_mean_sd, mean_sd  # noqa: E402
from autonad_core.training.common import build_space, prepare_data  # noqa: E402
from autonad_core.training.retrain import retrain  # noqa: E402
from autonad_core.training.supernet_trainer import load_supernet, train_supernet  # noqa: E402

DATASET = REPO.parent / "shared" / "datasets" / "mt320"
MODES = ("cross", "entangled", "classical")
TINY = [
    "data.input_size=[64,64]",
    "data.max_train_images=12",
    "data.max_val_images=3",
    "supernet.epochs=1",
    "retrain.epochs=1",
    "retrain.eval_every=1",
]


def random_subnets(space, n: int, seed: int) -> list:
    """`n` distinct random architectures (the same list for every sharing mode of a seed)."""
    rng = random.Random(f"rank-{seed}")
    archs, keys = [], set()
    for _ in range(100 * n):
        arch = space.sample(rng)
        if arch.to_json() not in keys:
            keys.add(arch.to_json())
            archs.append(arch)
        if len(archs) == n:
            return archs
    raise RuntimeError(f"the search space holds fewer than {n} distinct architectures")


def rank_one(cfg: DesignConfig, mode: str, archs: list, out: Path) -> dict:
    """Supernet with `mode` sharing, then inherited and retrained mIoU of every subnet, and τ."""
    started = time.perf_counter()
    supernet = cfg.supernet.model_copy(
        update={"sharing": mode, "prior": cfg.supernet.prior.model_copy(update={"enabled": False})}
    )
    run_cfg = cfg.model_copy(update={"supernet": supernet})
    train_supernet(run_cfg, DATASET, out)
    net, _, _ = load_supernet(out / "supernet", "cpu")
    data = prepare_data(run_cfg, DATASET, Preprocess.load(out), need_train=False)
    evaluate = InheritedEvaluator(net, data.val, len(data.spec.classes), "cpu")
    inherited, retrained = [], []
    for i, arch in enumerate(tqdm(archs, desc=f"{mode}: subnets", leave=False)):
        inherited.append(100 * evaluate(arch).miou)
        fit = retrain(run_cfg, DATASET, out, arch, show_progress=False, stage_name=f"rank/{i:02d}").fit
        retrained.append(100 * fit.best_miou)
    tau = kendalltau(inherited, retrained).statistic
    return {
        "sharing": mode,
        "tau": float(tau),
        "inherited": inherited,
        "retrained": retrained,
        "inherited_mean": mean_sd(inherited)[0],
        "retrained_mean": mean_sd(retrained)[0],
        "minutes": (time.perf_counter() - started) / 60,
    }


def markdown(results: dict[str, list[dict]], run: dict) -> str:
    lines = [
        f"Kendall τ, inherited vs retrained mIoU ({'TINY smoke run' if run['tiny'] else 'cpu-small'}, "
        f"{run['subnets']} random subnets, sampling '{run['sampling']}', seeds {run['seeds']}, "
        f"{run['minutes']:.1f} min; host shared: {run['shared_host']})",
        "",
        "| sharing | Kendall τ | inherited mIoU (%) | retrained mIoU (%) | minutes |",
        "|---|---|---|---|---|",
    ]
    for mode, rows in results.items():
        lines.append(
            f"| {mode} | {format_mean_sd([r['tau'] for r in rows], 2)} | "
            f"{format_mean_sd([r['inherited_mean'] for r in rows])} | "
            f"{format_mean_sd([r['retrained_mean'] for r in rows])} | "
            f"{format_mean_sd([r['minutes'] for r in rows])} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict[str, list[dict]], path: Path) -> Path:
    fig, ax = pyplot().subplots(figsize=(6.4, 4.4))
    for mode, rows in results.items():
        xs = [x for r in rows for x in r["inherited"]]
        ys = [y for r in rows for y in r["retrained"]]
        taus = format_mean_sd([r["tau"] for r in rows], 2)
        ax.scatter(xs, ys, s=18, alpha=0.7, label=f"{mode} (τ {taus})")
    ax.set_xlabel("inherited mIoU (%)")
    ax.set_ylabel("retrained mIoU (%)")
    ax.set_title("ranking by inherited weights")
    return finish(fig, ax, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny budgets and 4 subnets: a smoke run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subnets", type=int, default=None, help="random subnets per mode (default 10)")
    parser.add_argument("--sampling", choices=("uniform", "sandwich"), default="uniform")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", type=Path, default=Path("/tmp/autonad_rank_benchmark"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--shared-host", action="store_true", help="say in the table the host was shared")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    subnets = args.subnets or (4 if args.tiny else 10)
    overrides = (list(TINY) if args.tiny else []) + ["device=cpu", f"supernet.sampling={args.sampling}"]
    out = args.out / ("tiny" if args.tiny else "full") / args.sampling
    started = time.perf_counter()
    results: dict[str, list[dict]] = {mode: [] for mode in args.modes}
    for seed in args.seeds:
        cfg = load_config("cpu-small", None, [*overrides, f"seed={seed}"])
        archs = random_subnets(build_space(cfg), subnets, seed)
        for mode in args.modes:
            row = rank_one(cfg, mode, archs, out / f"seed{seed}" / mode)
            results[mode].append(row)
            print(
                f"[seed {seed} {mode}] τ {row['tau']:.3f}, inherited {row['inherited_mean']:.1f}%", flush=True
            )
    run = {
        "tiny": args.tiny,
        "seeds": args.seeds,
        "subnets": subnets,
        "sampling": args.sampling,
        "minutes": (time.perf_counter() - started) / 60,
        "shared_host": "yes" if args.shared_host else "no",
    }
    table = markdown(results, run)
    figure = plot(results, out / "rank.png")
    atomic_write_json(out / "rank.json", {"results": results, "run": run, "figure": str(figure)})
    (out / "rank.md").write_text(table)
    print("\n" + table + f"figure: {figure}")


if __name__ == "__main__":
    main()
