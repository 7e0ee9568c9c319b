"""Dataset formats (MT layout, generic folder: grey, RGB, N-channel TIFF / channel folders, 8/16-bit)
and their error messages: every bad file fails naming the file; nothing is skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from autonad_core.data import (
    MT_CLASSES,
    DatasetError,
    Preprocess,
    SegmentationDataset,
    open_dataset,
)


def _write_dataset(root: Path, channels: list[str], classes=("background", "crack", "nick"), **spec) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "dataset.yaml").write_text(
        yaml.safe_dump({"classes": list(classes), "channels": channels, **spec})
    )
    return root


def _mask(h: int = 20, w: int = 24, value: int = 1) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[5:9, 6:12] = value
    return m


def _splits(root: Path, train: list[str], val: list[str]) -> None:
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "val.txt").write_text("\n".join(val) + "\n")


def test_mt_loader_reads_real_dataset(mt320_dir: Path) -> None:
    folder = open_dataset(mt320_dir)
    assert folder.spec.classes == MT_CLASSES and folder.spec.channels == ("grey",)
    folder.check_disjoint_splits()
    split = folder.load_split("val", limit=12)
    assert len(split) == 12 and split.bit_depth == 8
    assert all(im.shape == (320, 320, 1) and im.dtype == np.uint8 for im in split.images)
    # evenly spaced subset of the class-sorted list keeps several classes
    assert len({name.split("_")[0] for name in split.names}) >= 4
    for name, mask in zip(split.names, split.masks, strict=True):
        cls = MT_CLASSES.index(name.split("_")[0])
        assert set(np.unique(mask)) <= {0, cls}


def test_mt_mask_with_another_class_fails_naming_file(mt320_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "mt"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    name = (mt320_dir / "val.txt").read_text().split()[0]  # a blowhole image (class 1)
    shutil.copy(mt320_dir / "images" / name, root / "images" / name)
    mask = cv2.imread(str(mt320_dir / "masks" / name), cv2.IMREAD_UNCHANGED)
    mask[0, 0] = 3  # crack pixel in a blowhole image
    cv2.imwrite(str(root / "masks" / name), mask)
    shutil.copy(mt320_dir / "split.csv", root / "split.csv")
    _splits(root, [], [name])
    with pytest.raises(DatasetError, match=rf"{name}.*\[3\].*split.csv says class 1"):
        open_dataset(root).load_split("val")


def test_generic_grey_rgb_and_16bit(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "rgb", ["r", "g", "b"])
    bgr = np.zeros((20, 24, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 30, 20, 10  # OpenCV writes BGR
    cv2.imwrite(str(root / "images" / "a.png"), bgr)
    cv2.imwrite(str(root / "masks" / "a.png"), _mask(value=2))
    _splits(root, ["a.png"], ["a"])  # entries with or without suffix
    folder = open_dataset(root)
    with pytest.raises(DatasetError, match="both 'train' and 'val'"):
        folder.check_disjoint_splits()
    image = folder.load_split("train").images[0]
    assert image[0, 0].tolist() == [10, 20, 30]  # RGB order, as the channel names say

    root16 = _write_dataset(tmp_path / "g16", ["grey"])
    cv2.imwrite(str(root16 / "images" / "a.png"), np.full((20, 24), 40000, np.uint16))
    cv2.imwrite(str(root16 / "masks" / "a.png"), _mask())
    _splits(root16, ["a"], ["a"])
    split = open_dataset(root16).load_split("train")
    assert split.bit_depth == 16 and split.images[0].dtype == np.uint16
    pre = Preprocess.fit(split, (16, 16), "resize")
    assert pre.mean[0] == pytest.approx(40000 / 65535, rel=1e-6)


def test_multispectral_tiff_and_channel_folder(tmp_path: Path) -> None:
    channels = ["white", "uv365", "blue450", "nir850", "darkfield"]
    root = _write_dataset(tmp_path / "ms", channels, bit_depth=16)
    pages = [np.full((20, 24), 1000 * (i + 1), np.uint16) for i in range(5)]
    assert cv2.imwritemulti(str(root / "images" / "t.tif"), pages)
    (root / "images" / "d").mkdir()
    for i, name in enumerate(channels):
        cv2.imwrite(str(root / "images" / "d" / f"{name}.png"), pages[i])
    cv2.imwrite(str(root / "masks" / "t.png"), _mask())
    cv2.imwrite(str(root / "masks" / "d.png"), _mask(value=2))
    _splits(root, ["t", "d"], ["d"])
    split = open_dataset(root).load_split("train")
    for image in split.images:
        assert image.shape == (20, 24, 5) and image.dtype == np.uint16
        assert image[0, 0].tolist() == [1000, 2000, 3000, 4000, 5000]
    pre = Preprocess.fit(split, (16, 16), "resize")
    ds = SegmentationDataset(split, pre)
    x, y = ds[0]
    assert tuple(x.shape) == (5, 16, 16) and tuple(y.shape) == (16, 16)

    (root / "images" / "d" / "nir850.png").unlink()
    with pytest.raises(DatasetError, match=r"images/d: channel folder has no file for channel 'nir850'"):
        open_dataset(root).load_split("train")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("corrupt_image", r"images/b\.png: cannot decode image"),
        ("missing_mask", r"masks/b\.png: mask for image 'b' not found"),
        ("mask_size", r"masks/b\.png: mask size 10x10 does not match image b\.png size 24x20"),
        ("mask_value", r"masks/b\.png: mask values \[7\] are not class indices 0\.\.2"),
        ("rgb_mask", r"masks/b\.png: mask must be a single-channel 8-bit index PNG"),
        ("channels", r"images/b\.png: has 3 channel\(s\) but dataset declares 1"),
        ("missing_entry", r"images/zz: no image file or channel folder for entry 'zz'"),
        ("bit_depth", r"images/b\.png: 16-bit image, dataset is 8-bit"),
        ("corrupt_mask", r"masks/b\.png: cannot decode mask"),
    ],
)
def test_bad_files_fail_naming_the_file(tmp_path: Path, breakage: str, message: str) -> None:
    root = _write_dataset(tmp_path / "d", ["grey"])
    for name in ("a", "b"):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((20, 24), 100, np.uint8))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), _mask())
    train = ["a", "b"]
    if breakage == "corrupt_image":
        (root / "images" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    elif breakage == "missing_mask":
        (root / "masks" / "b.png").unlink()
    elif breakage == "mask_size":
        cv2.imwrite(str(root / "masks" / "b.png"), np.zeros((10, 10), np.uint8))
    elif breakage == "mask_value":
        cv2.imwrite(str(root / "masks" / "b.png"), _mask(value=7))
    elif breakage == "rgb_mask":
        cv2.imwrite(str(root / "masks" / "b.png"), np.zeros((20, 24, 3), np.uint8))
    elif breakage == "channels":
        cv2.imwrite(str(root / "images" / "b.png"), np.zeros((20, 24, 3), np.uint8))
    elif breakage == "missing_entry":
        train.append("zz")
    elif breakage == "bit_depth":
        cv2.imwrite(str(root / "images" / "b.png"), np.zeros((20, 24), np.uint16))
    elif breakage == "corrupt_mask":
        (root / "masks" / "b.png").write_bytes(b"garbage")
    _splits(root, train, ["a"])
    with pytest.raises(DatasetError, match=message):
        open_dataset(root).load_split("train")


def test_descriptor_and_split_errors(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "d", ["grey"], bit_depth=12)
    with pytest.raises(DatasetError, match=r"dataset\.yaml: invalid dataset descriptor[\s\S]*bit_depth"):
        open_dataset(root)
    (root / "dataset.yaml").write_text(yaml.safe_dump({"classes": ["bg", "x"], "channels": ["grey"]}))
    with pytest.raises(DatasetError, match=r"train\.txt: split file for 'train' not found"):
        open_dataset(root).load_split("train")
    (root / "train.txt").write_text("a\na\n")
    with pytest.raises(DatasetError, match=r"train\.txt: entry 'a' listed twice"):
        open_dataset(root).load_split("train")
    with pytest.raises(DatasetError, match=r"no dataset\.yaml and not the MT layout"):
        open_dataset(tmp_path)


def test_crop_mode_trains_on_crops_and_evaluates_whole_frames(tmp_path: Path) -> None:
    import torch

    from autonad_core.data import AugmentConfig
    from autonad_core.deploy.inference import evaluate

    root = _write_dataset(tmp_path / "big", ["grey"])
    for name in ("a", "b"):
        image = np.zeros((90, 130), np.uint8)
        image[20:50, 30:90] = 200  # the bright rectangle is the 'crack'
        cv2.imwrite(str(root / "images" / f"{name}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{name}.png"), (image > 0).astype(np.uint8))
    _splits(root, ["a"], ["b"])
    folder = open_dataset(root)
    train = folder.load_split("train")
    pre = Preprocess.fit(train, (32, 32), "crop", scale=0.5)
    x, y = SegmentationDataset(train, pre, AugmentConfig(), seed=1)[0]
    assert tuple(x.shape) == (1, 32, 32) and tuple(y.shape) == (32, 32)
    val = SegmentationDataset(folder.load_split("val"), pre)
    xv, yv = val[0]
    assert tuple(yv.shape) == (45, 65)
    assert tuple(xv.shape) == (1, 45, 65) and not val.fixed_size  # whole frame at scale 0.5

    def threshold_net(t: torch.Tensor) -> torch.Tensor:  # per-pixel 'network': bright -> class 1
        bright = (t > 0).float()
        return torch.cat([1 - bright, bright], dim=1) * 10

    scores = evaluate(threshold_net, val, 2, "cpu").scores()
    assert scores.miou == pytest.approx(1.0)  # sliding windows over the frame reproduce the mask exactly
