"""Shared helpers for the pipeline tests: a tiny search space and a tiny real-MT dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pipeline_helpers import make_mt_subset

TINY_SPACE = {
    "stages": [
        {"depth": [1, 2, 1], "width": [32, 32, 32], "ffn_ratio": [2.0, 2.0, 1.0]},
        {"depth": [1, 2, 1], "width": [32, 64, 32], "ffn_ratio": [2.0, 2.0, 1.0]},
        {"depth": [1, 1, 1], "width": [32, 64, 32], "ffn_ratio": [2.0, 2.0, 1.0]},
        {"depth": [1, 1, 1], "width": [32, 64, 32], "ffn_ratio": [2.0, 2.0, 1.0]},
    ],
    "kernel_sizes": [3, 5],
    "decoder": {"channels": 16, "ppm_pool_sizes": [1, 2], "ppm_max_branches": 2},
}


@pytest.fixture(scope="session")
def tiny_space_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("space") / "tiny_space.yaml"
    path.write_text(yaml.safe_dump(TINY_SPACE))
    return path


@pytest.fixture(scope="session")
def mt_tiny(mt320_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 train / 6 val real MT images of two classes, for fast training-mechanics tests."""
    return make_mt_subset(mt320_dir, tmp_path_factory.mktemp("mt_tiny"), ("uneven", "break"), 16, 6)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The test machine's 2 cores are shared: oversubscribed OpenMP threads make small CPU kernels
    several times slower, so in-process tests use one thread (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
