"""Stage 2 of AutoNAD: run the evolution search over a trained supernet and write its results.

Latency in the score, λ, the constraint and the prior comes from the design's latency table
(`<out>/latency_table.json`, measured once or given by `search.latency_table`), so a re-run with the same
seed and table picks the same architecture. The best architecture is also timed end to end, for the
report only (`history.json` → `best.measured_latency_ms`).

Output folder (`<out>/search/`): `state.json` (resumable), `best_arch.json`, `history.json` (one entry
per generation + every evaluated candidate), `search.png` (best/mean score per generation, mIoU vs
latency of all candidates), `pareto.png` (the Pareto front of inherited mIoU vs table latency, the
chosen architecture starred).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autonad_core.atomic_io import atomic_write_json, atomic_write_text
from autonad_core.config import DesignConfig, resolve_device
from autonad_core.data.preprocess import Preprocess
from autonad_core.plots import plot_pareto
from autonad_core.progress import ProgressCallback
from autonad_core.search.candidates import InheritedEvaluator
from autonad_core.search.evolution import EvolutionSearch, SearchResult, plot_search
from autonad_core.training.checkpoint import seed_everything
from autonad_core.training.common import apply_threads, prepare_data
from autonad_core.training.latency_prior import load_prior_probabilities
from autonad_core.training.latency_table import TABLE_FILE, LatencyTable, design_table
from autonad_core.training.supernet_trainer import PRIOR_JSON, load_supernet
from autonad_core.training.supernet_trainer import STAGE as SUPERNET_STAGE
from autonad_core.training.timing import time_forward

STAGE = "search"
BEST_ARCH = "best_arch.json"


@dataclass
class SearchOutput:
    directory: Path
    arch_json: Path
    result: SearchResult


def search_fingerprint(cfg: DesignConfig, dataset_dir: Path, table: LatencyTable) -> dict:
    return {
        "dataset": str(Path(dataset_dir).resolve()),
        "seed": cfg.seed,
        "search": cfg.search.model_dump(mode="json"),
        "val": [cfg.data.val_split, cfg.data.max_val_images],
        "latency_table_sha256": table.sha256(),
    }


def run_search(
    cfg: DesignConfig,
    dataset_dir: Path,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    show_progress: bool = True,
) -> SearchOutput:
    from autonad_core.models.complexity import count_params

    out_dir = Path(out_dir)
    stage_dir = out_dir / STAGE
    apply_threads(cfg)
    stage_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    target = resolve_device(cfg.search.target_device or cfg.target_device or device)
    seed_everything(cfg.seed)
    net, space, meta = load_supernet(out_dir / SUPERNET_STAGE, device)
    preprocess = Preprocess.load(out_dir)
    data = prepare_data(cfg, dataset_dir, preprocess, need_train=False)
    in_ch, classes = meta["in_channels"], meta["num_classes"]
    prior_path = out_dir / SUPERNET_STAGE / PRIOR_JSON
    op_probs = load_prior_probabilities(prior_path) if cfg.search.use_prior and prior_path.is_file() else None
    size = tuple(cfg.search.latency_input_size or cfg.data.input_size)
    table = design_table(cfg, out_dir, space, in_ch, classes)
    evaluator = InheritedEvaluator(net, data.val, classes, device, cfg.search.eval_batch_size)
    search = EvolutionSearch(
        space,
        cfg.search,
        evaluate=evaluator,
        latency=table.latency_ms,
        params=lambda arch: count_params(arch, in_channels=in_ch, num_classes=classes),
        op_probs=op_probs,
        seed=cfg.seed,
        state_path=stage_dir / "state.json",
        fingerprint=search_fingerprint(cfg, dataset_dir, table),
        progress=progress,
        show_progress=show_progress,
    )
    result = search.run()
    arch_json = atomic_write_text(stage_dir / BEST_ARCH, result.best_arch.to_json(indent=2))
    state = search.state_path.read_text() if search.state_path else "{}"
    import json

    evaluated = json.loads(state).get("evaluated", {})
    atomic_write_json(
        stage_dir / "history.json",
        {
            "latency_weight": result.latency_weight,
            "target_device": target,
            "latency_input_size": list(size),
            "prior_used": op_probs is not None,
            "latency_table": str(out_dir / TABLE_FILE),
            "latency_table_device": table.meta["device"],
            "best": dict(
                result.best, measured_latency_ms=_measured_ms(net, result.best_arch, target, size, cfg)
            ),
            "generations": result.history,
            "candidates": [dict(r, arch=k) for k, r in evaluated.items()],
        },
    )
    plot_search(result.history, evaluated, stage_dir / "search.png")
    plot_pareto(list(evaluated.values()), result.best, stage_dir / "pareto.png")
    return SearchOutput(stage_dir, arch_json, result)


def _measured_ms(net, arch, target: str, size: tuple[int, int], cfg: DesignConfig) -> float:
    """End-to-end median latency of the materialized best subnet (reported beside the table's sum)."""
    import statistics

    import torch

    from autonad_core.models.subnet import materialize

    model = materialize(net, arch).to(target).eval()
    example = torch.zeros((1, net.in_channels, *size), device=target)
    times = time_forward(model, example, cfg.search.latency_warmup, cfg.search.latency_repeats)
    return statistics.median(times)
