"""Augmentation keeps image and mask aligned and is deterministic per (seed, epoch, index); presets and
overrides load into typed configs with errors that name the offending key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autonad_core.config import ConfigError, load_config, parse_overrides, preset_names
from autonad_core.data import IGNORE_INDEX, AugmentConfig, augment


def _pair(h: int = 32, w: int = 32, c: int = 3):
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 5, (h, w)).astype(np.uint8)
    image = np.repeat(mask[:, :, None].astype(np.float32) / 10.0, c, axis=2)  # image encodes the mask
    return image, mask


def test_flips_and_rot90_keep_image_and_mask_aligned() -> None:
    image, mask = _pair(c=6)  # > 4 channels takes OpenCV's grouped path
    cfg = AugmentConfig(hflip=True, vflip=True, rot90=True)
    changed = 0
    for seed in range(12):
        out_img, out_mask = augment(image, mask, cfg, np.random.default_rng(seed), (32, 32))
        np.testing.assert_allclose(out_img[:, :, 0] * 10.0, out_mask, atol=1e-6)
        assert out_img.shape == (32, 32, 6)
        changed += int(not np.array_equal(out_mask, mask))
    assert changed >= 6  # the transforms really happen


def test_rotation_and_resize_fill_with_ignore_and_stay_deterministic() -> None:
    blocks = np.kron(np.arange(16).reshape(4, 4) % 5, np.ones((16, 16))).astype(np.uint8)  # 64x64, 16px cells
    image = blocks[:, :, None].astype(np.float32) / 10.0
    cfg = AugmentConfig(hflip=False, vflip=False, rot90=False, rotate_deg=30.0, scale_range=(0.6, 0.7))
    a = augment(image, blocks, cfg, np.random.default_rng(5), (64, 64))
    b = augment(image, blocks, cfg, np.random.default_rng(5), (64, 64))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    out_img, out_mask = a
    assert out_mask.shape == (64, 64) and out_img.shape == (64, 64, 1)
    padded = out_mask == IGNORE_INDEX
    assert padded.mean() > 0.3  # a 0.6-0.7x shrunk, rotated image leaves a large unlabelled border
    labelled = ~padded
    agree = np.abs(out_img[:, :, 0] * 10.0 - out_mask) < 0.5
    assert agree[labelled].mean() > 0.85  # same geometry for both (only cell borders interpolate)
    c = augment(image, blocks, cfg, np.random.default_rng(6), (64, 64))
    assert not np.array_equal(a[1], c[1])


def test_bad_augment_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="scale_range"):
        AugmentConfig(scale_range=(1.5, 1.0))


def test_presets_hold_the_papers_budgets_and_cpu_small_shrinks_them() -> None:
    assert set(preset_names()) == {"paper", "cpu-small"}
    paper = load_config("paper")
    assert (paper.supernet.epochs, paper.search.population, paper.search.generations) == (3000, 100, 50)
    assert (paper.search.top_k, paper.search.mutation_prob, paper.search.crossover_prob) == (10, 0.2, 0.4)
    assert (paper.retrain.epochs, paper.retrain.lr, paper.supernet.lr) == (500, 1e-4, 5e-4)
    assert paper.space.yaml is None and paper.data.input_size == (320, 320)
    small = load_config("cpu-small")
    assert small.space.yaml is not None and Path(small.space.yaml).is_file()
    assert small.supernet.epochs < 100 and small.data.input_size[0] <= 160


def test_user_yaml_and_overrides_merge_over_the_preset(tmp_path: Path) -> None:
    user = tmp_path / "mine.yaml"
    user.write_text("search:\n  population: 12\nspace:\n  yaml: my_space.yaml\n")
    cfg = load_config("cpu-small", user, ["search.generations=3", "data.input_size=[64, 96]", "device=cpu"])
    assert (cfg.search.population, cfg.search.generations) == (12, 3)
    assert cfg.data.input_size == (64, 96)
    assert cfg.space.yaml == (tmp_path / "my_space.yaml").resolve()  # relative to the YAML naming it
    assert cfg.supernet.epochs == load_config("cpu-small").supernet.epochs


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown preset 'fast'"):
        load_config("fast")
    with pytest.raises(ConfigError, match=r"search\.populaton|populaton"):
        load_config("cpu-small", None, ["search.populaton=3"])
    with pytest.raises(ConfigError, match="not of the form"):
        parse_overrides(["search.population"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("supernet: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(None, bad)
