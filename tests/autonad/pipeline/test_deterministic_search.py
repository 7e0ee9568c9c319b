"""Deterministic search: with the same seed and latency table, two designs pick the same network.

Latency enters the score, λ, the constraint and the prior only through the table, so nothing measured
during the second design can change its choice; the table file given to it is reused, not re-measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _overrides(space_yaml: Path, table: Path | None = None) -> dict:
    search = {"population": 4, "generations": 2, "top_k": 2, "latency_repeats": 2, "latency_warmup": 1}
    if table is not None:
        search["latency_table"] = str(table)
    return {
        "device": "cpu",
        "threads": 1,
        "seed": 5,
        "space": {"yaml": str(space_yaml)},
        "data": {"input_size": [32, 32], "max_train_images": 8, "max_val_images": 4},
        "supernet": {"epochs": 1, "batch_size": 4},
        "search": search,
        "retrain": {"epochs": 1, "batch_size": 4},
        "export": {"torchscript": False, "onnx": False},
    }


def test_same_seed_and_table_give_byte_identical_arch(
    mt_tiny: Path, tiny_space_yaml: Path, tmp_path: Path
) -> None:
    from autonad_core.pipeline import design

    first = design(mt_tiny, tmp_path / "a", None, overrides=_overrides(tiny_space_yaml), show_progress=False)
    table = tmp_path / "a" / "latency_table.json"
    assert table.is_file()
    second = design(
        mt_tiny, tmp_path / "b", None, overrides=_overrides(tiny_space_yaml, table), show_progress=False
    )
    assert (first.model_dir / "arch.json").read_bytes() == (second.model_dir / "arch.json").read_bytes()
    assert first.arch_json.read_bytes() == second.arch_json.read_bytes()
    assert (tmp_path / "b" / "latency_table.json").read_bytes() == table.read_bytes()  # reused as given
    searches = [json.loads((tmp_path / run / "search" / "history.json").read_text()) for run in "ab"]
    assert searches[0]["latency_weight"] == searches[1]["latency_weight"]
    assert searches[0]["best"]["latency_ms"] == searches[1]["best"]["latency_ms"]
    assert searches[0]["best"]["measured_latency_ms"] > 0  # end-to-end timing kept for the report
    priors = [(tmp_path / run / "supernet" / "latency_prior.json").read_bytes() for run in "ab"]
    assert priors[0] == priors[1]


def test_table_of_another_space_is_refused_by_name(
    mt_tiny: Path, tiny_space_yaml: Path, tmp_path: Path
) -> None:
    """A table measured for another search space stops the search with the mismatch named."""
    import yaml

    from autonad_core.config import ConfigError
    from autonad_core.models.search_space import SearchSpace
    from autonad_core.training.latency_table import measure_table

    other = yaml.safe_load(tiny_space_yaml.read_text())
    other["kernel_sizes"] = [3]
    other_yaml = tmp_path / "other_space.yaml"
    other_yaml.write_text(yaml.safe_dump(other))
    wrong = measure_table(SearchSpace.from_yaml(other_yaml), 1, 6, (32, 32), "cpu", 0, 1)
    path = wrong.save(tmp_path / "wrong_table.json")
    from autonad_core.pipeline import design

    with pytest.raises(ConfigError, match=r"another search space \(differs in: kernel_sizes\)"):
        design(
            mt_tiny, tmp_path / "c", None, overrides=_overrides(tiny_space_yaml, path), show_progress=False
        )
