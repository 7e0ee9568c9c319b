"""Evolution search with the latency-aware prior (paper Algorithm 1).

    population <- P architectures sampled with the prior (operators biased towards fast ones),
                  each satisfying the constraints (max params, max latency)
    for g in 1..G:
        score every candidate: 100·mIoU_val(α) − λ·latency_ms(α)   (inherited weights, cached per α)
        top-k <- the k best; log the generation
        next population <- top-k (elitism) + children until P:
            with probability crossover_prob: crossover of two top-k parents
            otherwise: mutation of one top-k parent (each gene resampled with mutation_prob,
                       operators drawn from the prior)
            children violating a constraint, or already in the next population, are rejected
    result <- the best-scoring candidate ever evaluated

mIoU is over all classes including background (the paper's convention), in percent, so λ is "mIoU
points per millisecond"; λ = 'auto' sets it to 5 / mean latency of the initial population (the
authors' A = 5 / mean latency of random subnets): an average-latency subnet pays 5 mIoU points.

Evaluation and latency are injected callables, so the algorithm is tested without a network. State is
saved atomically after every generation (and every few evaluations), and a re-run resumes from it.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from autonad_core.atomic_io import atomic_write_json
from autonad_core.config import SearchConfig
from autonad_core.progress import ProgressCallback, report
from autonad_core.search.candidates import CandidateScore
from autonad_core.search.operators import crossover, mutate

log = logging.getLogger("autonad.search")
SAVE_EVERY = 10


class SearchError(RuntimeError):
    """The search cannot proceed (e.g. no architecture satisfies the constraints)."""


@dataclass
class SearchResult:
    best_arch: object
    best: dict
    history: list[dict]
    latency_weight: float
    evaluated: int


@dataclass
class _State:
    fingerprint: dict
    generation: int = 0
    population: list[str] = field(default_factory=list)
    evaluated: dict[str, dict] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    latency_weight: float | None = None
    rng: list | None = None


def _rng_to_json(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from_json(data: list) -> random.Random:
    rng = random.Random()
    rng.setstate((data[0], tuple(data[1]), data[2]))
    return rng


class EvolutionSearch:
    """Algorithm 1 over `space` (module docstring). `evaluate(arch)` returns an object with `miou`,
    `mf1`, `miou_defect` (fractions); `latency(arch)` ms; `params(arch)` the parameter count."""

    def __init__(
        self,
        space,
        cfg: SearchConfig,
        evaluate: Callable,
        latency: Callable[[object], float],
        params: Callable[[object], int],
        op_probs: dict | None = None,
        seed: int = 0,
        state_path: Path | None = None,
        fingerprint: dict | None = None,
        progress: ProgressCallback | None = None,
        show_progress: bool = True,
    ) -> None:
        if cfg.top_k > cfg.population:
            raise ValueError(
                f"search.top_k ({cfg.top_k}) must not exceed search.population ({cfg.population})"
            )
        self.space = space
        self.cfg = cfg
        self._evaluate = evaluate
        self._latency = latency
        self._params = params
        self.op_probs = op_probs if cfg.use_prior else None
        self.seed = seed
        self.state_path = Path(state_path) if state_path else None
        self.fingerprint = fingerprint or {}
        self.progress = progress
        self.show_progress = show_progress
        self.rejected = {"params": 0, "latency": 0, "duplicate": 0}
        self._known_latency: dict[str, float] = {}

    # ---- candidates ---------------------------------------------------------------------------
    def _arch(self, text: str):
        from autonad_core.models.arch import Arch

        return Arch.from_json(text)

    def feasible(self, arch) -> bool:
        """Parameter limit first (free: counted without building), then latency (measured, cached)."""
        if self.cfg.max_params is not None and self._params(arch) > self.cfg.max_params:
            self.rejected["params"] += 1
            return False
        if self.cfg.max_latency_ms is not None and self.latency_of(arch) > self.cfg.max_latency_ms:
            self.rejected["latency"] += 1
            return False
        return True

    def latency_of(self, arch) -> float:
        """Latency from the resumed state when known, else measured (the meter caches per arch)."""
        known = self._known_latency.get(arch.to_json())
        return known if known is not None else float(self._latency(arch))

    def _record(self, state: _State, arch) -> dict:
        key = arch.to_json()
        if key not in state.evaluated:
            scores = self._evaluate(arch)
            state.evaluated[key] = asdict(
                CandidateScore(
                    miou=float(scores.miou),
                    mf1=float(scores.mf1),
                    miou_defect=float(scores.miou_defect),
                    latency_ms=self.latency_of(arch),
                    params=int(self._params(arch)),
                )
            )
            if len(state.evaluated) % SAVE_EVERY == 0:
                self._save(state, None)
        return state.evaluated[key]

    def score(self, record: dict, latency_weight: float) -> float:
        return 100.0 * record["miou"] - latency_weight * record["latency_ms"]

    # ---- population ---------------------------------------------------------------------------
    def _initial_population(self, rng: random.Random) -> list:
        population, keys = [], set()
        for _ in range(self.cfg.max_tries):
            if len(population) == self.cfg.population:
                break
            arch = self.space.sample(rng, self.op_probs)
            key = arch.to_json()
            if key in keys:
                self.rejected["duplicate"] += 1
                continue
            if self.feasible(arch):
                population.append(arch)
                keys.add(key)
        if not population:
            smallest = self.space.smallest()
            raise SearchError(
                f"no architecture met the constraints in {self.cfg.max_tries} samples "
                f"(max_params={self.cfg.max_params}, max_latency_ms={self.cfg.max_latency_ms}; the smallest "
                f"architecture has {self._params(smallest)} params and {self._latency(smallest):.2f} ms)"
            )
        if len(population) < self.cfg.population:
            log.warning(
                "only %d of %d initial candidates satisfy the constraints",
                len(population),
                self.cfg.population,
            )
        return population

    def _next_population(self, parents: list, rng: random.Random) -> list:
        population = list(parents)
        keys = {a.to_json() for a in population}
        for _ in range(self.cfg.max_tries):
            if len(population) >= self.cfg.population:
                break
            if len(parents) > 1 and rng.random() < self.cfg.crossover_prob:
                a, b = rng.sample(parents, 2)
                child = crossover(self.space, a, b, rng)
            else:
                child = mutate(self.space, rng.choice(parents), rng, self.cfg.mutation_prob, self.op_probs)
            key = child.to_json()
            if key in keys:
                self.rejected["duplicate"] += 1
                continue
            if self.feasible(child):
                population.append(child)
                keys.add(key)
        return population

    # ---- persistence --------------------------------------------------------------------------
    def _save(self, state: _State, rng: random.Random | None) -> None:
        if rng is not None:
            state.rng = _rng_to_json(rng)
        if self.state_path is None:
            return
        atomic_write_json(self.state_path, asdict(state))

    def _load(self) -> _State | None:
        if self.state_path is None or not self.state_path.is_file():
            return None
        data = json.loads(self.state_path.read_text())
        if data.get("fingerprint") != self.fingerprint:
            from autonad_core.config import ConfigError

            raise ConfigError(
                f"{self.state_path}: search state was started with another configuration; use a new output "
                "folder or the same configuration"
            )
        return _State(**data)

    # ---- main loop ----------------------------------------------------------------------------
    def run(self) -> SearchResult:
        state = self._load()
        if state is None or state.rng is None:
            state = _State(fingerprint=self.fingerprint)
            rng = random.Random(self.seed)
            state.population = [a.to_json() for a in self._initial_population(rng)]
            self._save(state, rng)
        else:
            rng = _rng_from_json(state.rng)
        self._known_latency = {k: r["latency_ms"] for k, r in state.evaluated.items()}
        cfg = self.cfg
        bar = tqdm(
            total=cfg.generations,
            initial=state.generation,
            desc="search",
            disable=not self.show_progress,
            leave=False,
            dynamic_ncols=True,
        )
        while state.generation < cfg.generations:
            population = [self._arch(t) for t in state.population]
            records = [self._record(state, a) for a in population]
            if state.latency_weight is None:
                if cfg.latency_weight == "auto":
                    mean_latency = sum(r["latency_ms"] for r in records) / len(records)
                    state.latency_weight = 5.0 / mean_latency if mean_latency > 0 else 0.0
                else:
                    state.latency_weight = float(cfg.latency_weight)
            lam = state.latency_weight
            ranked = sorted(zip(population, records, strict=True), key=lambda p: -self.score(p[1], lam))
            top = ranked[: cfg.top_k]
            scores = [self.score(r, lam) for r in records]
            best_arch, best = top[0]
            entry = {
                "generation": state.generation + 1,
                "best_score": self.score(best, lam),
                "mean_score": sum(scores) / len(scores),
                "best_miou": best["miou"],
                "best_latency_ms": best["latency_ms"],
                "best_params": best["params"],
                "best_arch": best_arch.to_json(),
                "population": len(population),
                "evaluated_total": len(state.evaluated),
                "rejected": dict(self.rejected),
            }
            state.history.append(entry)
            log.info(
                "generation %d/%d: best score %.3f (mIoU %.2f%%, %.2f ms, %.2f M params), mean %.3f",
                entry["generation"],
                cfg.generations,
                entry["best_score"],
                100 * best["miou"],
                best["latency_ms"],
                best["params"] / 1e6,
                entry["mean_score"],
            )
            state.generation += 1
            if state.generation < cfg.generations:
                state.population = [a.to_json() for a in self._next_population([a for a, _ in top], rng)]
            self._save(state, rng)
            bar.update(1)
            bar.set_postfix(best=f"{entry['best_score']:.2f}", miou=f"{100 * best['miou']:.1f}")
            report(
                self.progress,
                "search",
                state.generation / cfg.generations,
                f"generation {state.generation}/{cfg.generations}",
                best_score=entry["best_score"],
                best_miou=best["miou"],
                best_latency_ms=best["latency_ms"],
            )
        bar.close()
        lam = state.latency_weight
        key, best = max(state.evaluated.items(), key=lambda kv: self.score(kv[1], lam))
        best = dict(best, score=self.score(best, lam))
        return SearchResult(self._arch(key), best, state.history, lam, len(state.evaluated))


def plot_search(history: list[dict], evaluated: dict[str, dict] | None, path: Path) -> Path:
    """Best and mean score per generation (and, if given, mIoU vs latency of every candidate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    gens = [h["generation"] for h in history]
    fig, axes = plt.subplots(1, 2 if evaluated else 1, figsize=(10 if evaluated else 5, 3.8), squeeze=False)
    ax = axes[0][0]
    ax.plot(gens, [h["best_score"] for h in history], "o-", label="best")
    ax.plot(gens, [h["mean_score"] for h in history], "s--", label="mean")
    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("score = 100·mIoU − λ·latency")
    ax.legend()
    ax.grid(alpha=0.3)
    if evaluated:
        ax = axes[0][1]
        lat = [r["latency_ms"] for r in evaluated.values()]
        miou = [100 * r["miou"] for r in evaluated.values()]
        ax.scatter(lat, miou, s=12, alpha=0.7)
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("mIoU (%), inherited weights")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
