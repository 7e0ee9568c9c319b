"""Supernet training (stage 1) with the latency-aware prior, plus shared training utilities."""

from autonad_core.training.latency_prior import BlockTimer, LatencyPrior, load_prior_probabilities, plot_prior
from autonad_core.training.supernet_trainer import SupernetResult, load_supernet, train_supernet

__all__ = [
    "BlockTimer",
    "LatencyPrior",
    "SupernetResult",
    "load_prior_probabilities",
    "load_supernet",
    "plot_prior",
    "train_supernet",
]
