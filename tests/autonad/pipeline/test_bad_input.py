"""Bad input fails with a message that says what is wrong: a data set that only looks like MT, a crop
larger than the images, a sliding-window overlap of the whole window or more."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from autonad_core.config import ConfigError, load_config
from autonad_core.data import DatasetError, open_dataset
from autonad_core.data.mt import is_mt_layout
from autonad_core.deploy.inference import sliding_window_probabilities
from autonad_core.deploy.predict import Detector
from autonad_core.training.common import prepare_data

NEU = ("inclusion", "patches", "scratches")


def _neu_like_with_mt_header(root: Path) -> Path:
    """A NEU-style folder whose split.csv copies MT's header (as a user converting NEU might write)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = ["filename,class,class_index,split"]
    for i, name in enumerate(NEU, start=1):
        for split in ("train", "val"):
            file = f"{name}_{split}.png"
            cv2.imwrite(str(root / "images" / file), np.full((24, 24), 40 * i, np.uint8))
            mask = np.zeros((24, 24), np.uint8)
            mask[4:10, 4:10] = i
            cv2.imwrite(str(root / "masks" / file), mask)
            rows.append(f"{file},{name},{i},{split}")
            with (root / f"{split}.txt").open("a") as fh:
                fh.write(file + "\n")
    (root / "split.csv").write_text("\n".join(rows) + "\n")
    return root


def test_mt_header_with_other_classes_is_not_taken_for_mt(tmp_path: Path, mt320_dir: Path) -> None:
    root = _neu_like_with_mt_header(tmp_path / "neu")
    assert not is_mt_layout(root)
    assert is_mt_layout(mt320_dir)
    with pytest.raises(DatasetError) as err:
        open_dataset(root)
    text = str(err.value)
    assert "has the MT header but classes inclusion (1), patches (2), scratches (3)" in text
    assert "not the MT data set" in text and "dataset.yaml" in text
    # what the message tells the user to do works
    (root / "dataset.yaml").write_text(
        yaml.safe_dump({"classes": ["background", *NEU], "channels": ["grey"]})
    )
    folder = open_dataset(root)
    assert folder.spec.classes == ("background", *NEU)
    assert len(folder.load_split("train")) == 3


def _cfg(**data) -> object:
    return load_config(
        None, None, {"device": "cpu", "data": {"augment": {"scale_range": [1.0, 1.0]}, **data}}
    )


def test_crop_larger_than_the_images_is_a_clear_error(tmp_path: Path) -> None:
    root = _neu_like_with_mt_header(tmp_path / "neu")
    (root / "dataset.yaml").write_text(
        yaml.safe_dump({"classes": ["background", *NEU], "channels": ["grey"]})
    )
    with pytest.raises(
        ConfigError, match=r"data.input_size 32x32 .* larger than 3 training image\(s\)"
    ) as err:
        prepare_data(_cfg(mode="crop", input_size=[32, 32]), root)
    assert "(24x24 after data.scale 1)" in str(err.value)
    with pytest.raises(
        ConfigError, match=r"\(12x12 after data\.scale 0\.5\)"
    ):  # rescaled first, then cropped
        prepare_data(_cfg(mode="crop", input_size=[16, 16], scale=0.5), root)
    data = prepare_data(_cfg(mode="crop", input_size=[24, 16]), root)  # fits: accepted
    image, mask = data.train[0]
    assert tuple(image.shape) == (1, 24, 16) and tuple(mask.shape) == (24, 16)
    # resize mode scales every image to the input size: any size is fine
    assert tuple(prepare_data(_cfg(mode="resize", input_size=[32, 32]), root).train[0][0].shape) == (
        1,
        32,
        32,
    )


@pytest.mark.parametrize("overlap", [1.0, 1.5, -0.1])
def test_window_overlap_of_the_whole_window_or_more_is_refused(overlap: float, tmp_path: Path) -> None:
    image = torch.zeros(1, 1, 64, 64)
    with pytest.raises(ValueError, match=rf"window overlap {overlap} must be a fraction of the window"):
        sliding_window_probabilities(lambda x: torch.zeros(1, 2, *x.shape[-2:]), image, (32, 32), overlap)
    with pytest.raises(ValueError, match="never advances"):  # before the (missing) model is looked at
        Detector(tmp_path / "no-model", overlap=overlap)


def test_valid_overlap_covers_the_frame() -> None:
    image = torch.zeros(1, 1, 64, 80)
    calls = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        calls.append((x.shape[0], tuple(x.shape[-2:])))
        return torch.zeros(x.shape[0], 2, *x.shape[-2:])

    probs = sliding_window_probabilities(forward, image, (32, 32), 0.5)
    assert probs.shape == (1, 2, 64, 80) and torch.allclose(probs, torch.full_like(probs, 0.5))
    # stride 16: rows 0,16,32; cols 0,16,32,48 (windows, batched several per call)
    assert sum(n for n, _ in calls) == 3 * 4 and {hw for _, hw in calls} == {(32, 32)}
