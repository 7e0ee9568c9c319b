"""Evolution search (Algorithm 1) with injected scoring: constraints always hold, elitism makes the best
score monotone, the prior biases sampling, lambda 'auto' follows the authors' rule, and an interrupted
search resumes to the same result."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from autonad_core import SearchSpace, count_params
from autonad_core.config import SearchConfig
from autonad_core.search.evolution import EvolutionSearch, SearchError


@dataclass
class FakeScores:
    miou: float
    mf1: float
    miou_defect: float


def fake_miou(arch) -> float:
    """Deterministic, structured 'accuracy': deeper/wider and conv-heavy nets score higher."""
    convs = sum(op == "conv" for _, _, op in arch.block_ops())
    return 0.3 + 0.02 * sum(arch.depths) + 0.0005 * sum(arch.widths) + 0.03 * convs


def fake_latency(arch) -> float:
    return 0.5 + sum(w * d for w, d in zip(arch.widths, arch.depths, strict=True)) / 100.0


class Counter:
    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def __call__(self, arch) -> FakeScores:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("simulated crash")
        m = fake_miou(arch)
        return FakeScores(m, m + 0.05, m - 0.1)


@pytest.fixture(scope="module")
def space(tiny_space_yaml: Path) -> SearchSpace:
    return SearchSpace.from_yaml(tiny_space_yaml)


def _search(space, cfg, evaluate, state=None, op_probs=None, seed=0):
    return EvolutionSearch(
        space,
        cfg,
        evaluate,
        fake_latency,
        lambda a: count_params(a, 1, 6),
        op_probs=op_probs,
        seed=seed,
        state_path=state,
        show_progress=False,
    )


def test_constraints_hold_for_every_candidate_and_elitism_is_monotone(space, tmp_path: Path) -> None:
    rng = random.Random(1)
    samples = [space.sample(rng) for _ in range(200)]
    params = sorted(count_params(a, 1, 6) for a in samples)
    lats = sorted(fake_latency(a) for a in samples)
    max_params, max_lat = params[len(params) // 2], lats[len(lats) * 2 // 3]
    cfg = SearchConfig(
        population=10,
        generations=5,
        top_k=3,
        mutation_prob=0.3,
        crossover_prob=0.4,
        latency_weight=0.5,
        max_params=max_params,
        max_latency_ms=max_lat,
    )
    search = _search(space, cfg, Counter(), tmp_path / "state.json")
    result = search.run()
    import json

    state = json.loads((tmp_path / "state.json").read_text())
    assert len(state["evaluated"]) > cfg.population  # new children were produced
    for rec in state["evaluated"].values():
        assert rec["params"] <= max_params and rec["latency_ms"] <= max_lat
    assert search.rejected["params"] + search.rejected["latency"] > 0  # the limits actually bit
    best = [h["best_score"] for h in result.history]
    assert best == sorted(best)  # elitism: never loses its best
    assert len(result.history) == cfg.generations
    # result is the best-scoring evaluated candidate, score = 100·mIoU − λ·latency
    scores = {k: 100 * r["miou"] - 0.5 * r["latency_ms"] for k, r in state["evaluated"].items()}
    assert result.best["score"] == pytest.approx(max(scores.values()))
    assert result.best_arch.to_json() == max(scores, key=scores.get)
    assert result.best["params"] == count_params(result.best_arch, 1, 6)


def test_latency_weight_auto_is_five_over_mean_initial_latency(space, tmp_path: Path) -> None:
    import json

    cfg = SearchConfig(population=8, generations=1, top_k=2, latency_weight="auto")
    result = _search(space, cfg, Counter(), tmp_path / "s.json").run()
    initial = json.loads((tmp_path / "s.json").read_text())["evaluated"]  # G=1: only the initial population
    assert len(initial) == 8
    mean_latency = sum(r["latency_ms"] for r in initial.values()) / 8
    assert result.latency_weight == pytest.approx(5.0 / mean_latency)


def test_prior_biases_initial_population_and_mutation(space) -> None:
    conv_heavy = {pos: {"conv": 0.9, "mlp": 0.05, "transformer": 0.05} for pos in space.block_positions()}
    cfg = SearchConfig(population=40, generations=1, top_k=5, use_prior=True, latency_weight=0.0)
    collected = []

    def evaluate(arch):
        collected.append(arch)
        return Counter()(arch)

    _search(space, cfg, evaluate, op_probs=conv_heavy).run()
    ops = [op for a in collected for _, _, op in a.block_ops()]
    assert ops.count("conv") / len(ops) > 0.7  # uniform would give ~1/3
    collected.clear()
    cfg_uniform = cfg.model_copy(update={"use_prior": False})
    _search(space, cfg_uniform, evaluate, op_probs=conv_heavy).run()
    ops = [op for a in collected for _, _, op in a.block_ops()]
    assert ops.count("conv") / len(ops) < 0.55


def test_interrupted_search_resumes_to_the_same_result(space, tmp_path: Path) -> None:
    cfg = SearchConfig(population=8, generations=4, top_k=3, latency_weight=1.0)
    straight = _search(space, cfg, Counter(), tmp_path / "a.json").run()
    crashing = Counter(fail_after=17)  # dies inside generation 2
    with pytest.raises(KeyboardInterrupt):
        _search(space, cfg, crashing, tmp_path / "b.json").run()
    resumed_eval = Counter()
    resumed = _search(space, cfg, resumed_eval, tmp_path / "b.json").run()
    assert resumed.best_arch == straight.best_arch
    assert [h["best_score"] for h in resumed.history] == [h["best_score"] for h in straight.history]
    assert resumed_eval.calls < straight.evaluated  # work already saved is not redone
    again = Counter()
    _search(space, cfg, again, tmp_path / "b.json").run()
    assert again.calls == 0  # a finished search is not re-run


def test_infeasible_constraints_fail_clearly(space) -> None:
    cfg = SearchConfig(population=4, generations=1, top_k=2, max_params=10, max_tries=50)
    with pytest.raises(SearchError, match=r"max_params=10.*smallest architecture has \d+ params"):
        _search(space, cfg, Counter()).run()
