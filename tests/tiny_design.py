"""The seconds-long AutoNAD budget that tests design with (one place, so the cell tests agree)."""

from __future__ import annotations

from typing import Any


def tiny_design(
    *, retrain_epochs: int = 1, retrain_batch: int = 2, timing_free: bool = True, threads: int = 2
) -> dict[str, Any]:
    """`autonad_core.design` overrides: 64 px, one supernet epoch, a two-candidate search.

    `timing_free` leaves latency out of the search (no prior, weight 0), so the designed network and
    every figure measured on it do not depend on the host's timing noise or on what ran before in the
    process; the cpu-small preset's latency terms stay in otherwise."""
    search: dict[str, Any] = {
        "population": 2,
        "generations": 1,
        "top_k": 1,
        "latency_repeats": 1,
        "latency_warmup": 0,
    }
    if timing_free:
        search |= {"use_prior": False, "latency_weight": 0.0}
    return {
        "data": {"input_size": [64, 64]},
        "supernet": {"epochs": 1, "batch_size": 2},
        "search": search,
        "retrain": {"epochs": retrain_epochs, "batch_size": retrain_batch},
        "export": {"torchscript": False, "onnx": False},
        "threads": threads,
    }
