"""Supernet training (stage 1) with the latency-aware prior, plus shared training utilities."""

from autonad_core.training.latency_prior import load_prior_probabilities, plot_prior, prior_json
from autonad_core.training.latency_table import LatencyTable, measure_table
from autonad_core.training.supernet_trainer import SupernetResult, load_supernet, train_supernet

__all__ = [
    "LatencyTable",
    "SupernetResult",
    "load_prior_probabilities",
    "load_supernet",
    "measure_table",
    "plot_prior",
    "prior_json",
    "train_supernet",
]
