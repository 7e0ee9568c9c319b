"""The dataset generator writes autonad's generic folder format (read back with autonad_core's own
loader), reproducibly from a seed, with ground truth; the CLI exposes it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from platform_control.cli import sim_app
from platform_control.imaging import load_imaging_plan
from platform_control.sim.dataset import generate_dataset
from platform_control.sim.defects import load_defects_config

autonad_folder = pytest.importorskip(
    "autonad_core.data.folder", reason="autonad_core's dataset loader not present"
)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sim") / "ds"
    summary = generate_dataset(
        2, 21, root, presets=("small",), views_per_blade=1, resolution=(128, 128), progress=False
    )
    assert summary.samples == summary.train + summary.val and summary.val >= 1 and summary.train >= 1
    return root


def test_autonad_loader_reads_the_dataset(dataset_root: Path) -> None:
    folder = autonad_folder.DatasetFolder.open(dataset_root)
    folder.check_disjoint_splits()
    classes = load_defects_config().classes
    assert folder.spec.classes == classes
    assert folder.spec.channels == load_imaging_plan().order
    for split in ("train", "val"):
        loaded = folder.load_split(split)
        assert len(loaded) >= 1 and loaded.bit_depth == 8
        for image, mask in zip(loaded.images, loaded.masks, strict=True):
            assert image.shape == (128, 128, 6) and image.dtype == np.uint8
            assert mask.shape == (128, 128) and mask.max() < len(classes)
            assert image.max() > 40  # the blade is in the picture


def test_masks_and_metadata_record_the_defects(dataset_root: Path) -> None:
    folder = autonad_folder.DatasetFolder.open(dataset_root)
    masks = folder.load_split("train").masks + folder.load_split("val").masks
    labelled = np.unique(np.concatenate([m.ravel() for m in masks]))
    assert len(labelled) >= 3  # background and at least two defect classes are in the pictures
    classes = load_defects_config().classes
    for meta_file in sorted((dataset_root / "meta").glob("*.json")):
        meta = json.loads(meta_file.read_text())
        assert meta["preset"] == "small" and 3 <= len(meta["defects"]) <= 8
        assert {d["class"] for d in meta["defects"]} <= set(classes[1:])
        for view in meta["views"]:
            mask = folder.resolve(view["stem"]).mask
            counts = np.bincount(np.array(Image.open(mask)).ravel(), minlength=len(classes))
            assert {c: int(n) for c, n in zip(classes, counts, strict=True) if n} == view["class_pixels"]


def test_same_seed_gives_identical_files(dataset_root: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_dataset(
        2, 21, again, presets=("small",), views_per_blade=1, resolution=(128, 128), progress=False
    )
    assert _digest(again) == _digest(dataset_root)


def test_cli_refuses_a_non_empty_directory_and_checks_descriptions(dataset_root: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(sim_app, ["dataset", "--blades", "1", "--seed", "1", "--out", str(dataset_root)])
    assert result.exit_code == 2
    assert "not empty" in result.output
    result = runner.invoke(sim_app, ["descriptions", "--check"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(sim_app, ["dataset", "--help"])
    assert result.exit_code == 0 and "--blades" in result.output and "--seed" in result.output
    args = ["dataset", "--blades", "1", "--seed", "1", "--out", str(dataset_root.parent / "new")]
    result = runner.invoke(sim_app, [*args, "--binning", "3"])
    assert result.exit_code == 2 and "does not divide" in result.output, result.output
    result = runner.invoke(
        sim_app, ["preview", "--out", str(dataset_root.parent / "p.png"), "--binning", "5"]
    )
    assert result.exit_code == 2 and "does not divide" in result.output, result.output


def test_a_binned_dataset_states_its_pixel_footprint(tmp_path: Path) -> None:
    """binning=8: the whole 2448 x 2048 sensor at 306 x 256; the blade's meta says 276 um per pixel."""
    generate_dataset(
        1,
        4,
        tmp_path / "ds",
        presets=("small",),
        views_per_blade=2,
        defect_views=False,
        binning=8,
        progress=False,
    )
    meta = json.loads((tmp_path / "ds" / "meta" / "b0000.json").read_text())
    assert meta["frame"] == {"width_px": 306, "height_px": 256, "binning": 8.0, "pixel_footprint_um": 276.0}
    image = np.asarray(Image.open(next((tmp_path / "ds" / "images").rglob("white.png"))))
    assert image.shape == (256, 306)
    with pytest.raises(ValueError, match="not both"):
        generate_dataset(1, 4, tmp_path / "other", resolution=(64, 64), binning=2, progress=False)
    with pytest.raises(ValueError, match="does not divide"):
        generate_dataset(1, 4, tmp_path / "other", binning=3, progress=False)


def test_appearance_shift_changes_frames_not_masks(tmp_path) -> None:
    """The model-life option (issue 18): the same blades with shifted defect/coating appearance have
    the same masks, brighter coating and differently contrasted defects."""
    import cv2

    from platform_control.sim.dataset import generate_dataset

    common = dict(presets=("small",), views_per_blade=2, resolution=(64, 64), progress=False)
    generate_dataset(1, 5, tmp_path / "a", **common)
    generate_dataset(1, 5, tmp_path / "b", appearance_shift=0.8, **common)
    stems = sorted(p.name for p in (tmp_path / "a" / "images").iterdir())
    assert stems == sorted(p.name for p in (tmp_path / "b" / "images").iterdir())
    ratios = []
    for stem in stems:
        mask_a = cv2.imread(str(tmp_path / "a" / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        mask_b = cv2.imread(str(tmp_path / "b" / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert (mask_a == mask_b).all()
        white_a = cv2.imread(str(tmp_path / "a" / "images" / stem / "white.png"), cv2.IMREAD_UNCHANGED)
        white_b = cv2.imread(str(tmp_path / "b" / "images" / stem / "white.png"), cv2.IMREAD_UNCHANGED)
        ratios.append(white_b.astype(float).mean() / max(white_a.astype(float).mean(), 1e-9))
    # coating from another lot: up to 1 + 0.6 * 0.8 brighter where the blade's diffuse light dominates
    assert min(ratios) > 1.05 and sum(ratios) / len(ratios) > 1.2, ratios


def test_appearance_shift_is_bounded() -> None:
    import pytest

    from platform_control.sim.appearance_shift import shifted_defects
    from platform_control.sim.defects import load_defects_config

    config = load_defects_config()
    assert shifted_defects(config, 0.0) == config
    inverted = shifted_defects(config, 1.0)
    assert inverted.crack.diffuse["white"] == pytest.approx(1 / config.crack.diffuse["white"])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        shifted_defects(config, 1.5)
