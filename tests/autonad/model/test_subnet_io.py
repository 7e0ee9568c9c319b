"""save_subnet / load_subnet: round trip, extra files, clear errors."""

from __future__ import annotations

import json
import random

import pytest
import torch

from autonad_core import ArchValidationError, Supernet, count_params, load_subnet, materialize, save_subnet


@pytest.fixture(scope="module")
def saved(tmp_path_factory, small_space):
    net = Supernet(small_space, in_channels=3, num_classes=4).eval()
    model = materialize(net, small_space.sample(random.Random(1)))
    directory = tmp_path_factory.mktemp("subnet")
    save_subnet(model, directory)
    return model, directory


def test_round_trip_gives_identical_outputs(saved):
    model, directory = saved
    (directory / "preprocess.json").write_text("{}")  # the pipeline's own file is ignored
    loaded = load_subnet(directory)
    assert not loaded.training
    assert loaded.arch == model.arch and (loaded.in_channels, loaded.num_classes) == (3, 4)
    x = torch.randn(1, 3, 45, 52)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["params"] == count_params(model.arch, 3, 4) == sum(p.numel() for p in loaded.parameters())
    assert sorted(p.name for p in directory.iterdir()) == [
        "arch.json",
        "meta.json",
        "preprocess.json",
        "weights.pt",
    ]


def test_missing_file_is_named(saved, tmp_path):
    _, directory = saved
    (tmp_path / "arch.json").write_text((directory / "arch.json").read_text())
    with pytest.raises(FileNotFoundError, match=r"weights\.pt"):
        load_subnet(tmp_path)


def test_corrupt_arch_and_mismatched_weights_are_named(saved, tmp_path, small_space):
    model, directory = saved
    for name in ("arch.json", "weights.pt", "meta.json"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    (tmp_path / "arch.json").write_text('{"stages": 3}')
    with pytest.raises(ArchValidationError, match=r"arch\.json.*arch\.stages"):
        load_subnet(tmp_path)
    other = small_space.sample(random.Random(99))
    assert other != model.arch
    (tmp_path / "arch.json").write_text(other.to_json())
    with pytest.raises(ValueError, match=r"weights\.pt: does not match"):
        load_subnet(tmp_path)
    (tmp_path / "meta.json").write_text('{"format": "something-else", "version": 1}')
    with pytest.raises(ValueError, match=r"meta\.json: unsupported format"):
        load_subnet(tmp_path)


def test_materialized_subnet_traces_cleanly(saved, recwarn):
    """The export path (jit.trace at a fixed size) sees no data-dependent Python control flow."""
    model, _ = saved
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
        other = torch.randn(1, 3, 48, 40)
        torch.testing.assert_close(traced(other), model(other), atol=1e-6, rtol=1e-6)
    ours = [
        w for w in recwarn if issubclass(w.category, torch.jit.TracerWarning) and "autonad_core" in w.filename
    ]
    assert not ours, [f"{w.filename}:{w.lineno}" for w in ours]
