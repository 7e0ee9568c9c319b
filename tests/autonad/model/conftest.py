"""Fixtures for the AutoNAD model tests: the paper space, a small space, shared supernets."""

from __future__ import annotations

import pytest
import torch

from autonad_core import SearchSpace, StageSpace, Supernet
from autonad_core.models.search_space import DecoderSpace


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine is shared: tests run single-threaded and seeded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def paper_space() -> SearchSpace:
    return SearchSpace()


def make_small_space(**overrides) -> SearchSpace:
    """Two blocks per stage, narrow widths, all operators and decoder ops: fast but complete."""
    stages = (
        StageSpace(depth=(1, 2, 1), width=(32, 64, 32), ffn_ratio=(2.0, 3.0, 1.0)),
        StageSpace(depth=(1, 2, 1), width=(32, 64, 32), ffn_ratio=(2.0, 3.0, 1.0)),
        StageSpace(depth=(1, 2, 1), width=(32, 64, 32), ffn_ratio=(2.0, 3.0, 1.0)),
        StageSpace(depth=(1, 2, 1), width=(64, 96, 32), ffn_ratio=(2.0, 3.0, 1.0)),
    )
    kwargs = {"stages": stages, "decoder": DecoderSpace(channels=32), **overrides}
    return SearchSpace(**kwargs)


@pytest.fixture(scope="session")
def small_space() -> SearchSpace:
    return make_small_space()


@pytest.fixture(scope="module")
def mt_supernet(paper_space) -> Supernet:
    """Paper space, grey input, 6 classes (the MT dataset), eval mode, fixed seed."""
    torch.manual_seed(1)
    return Supernet(paper_space, in_channels=1, num_classes=6).eval()
