"""Tiled detection: the deployed network over the whole native frame in batched, overlapping tiles,
stitched into one mask; a defect across a tile border is one record."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.detection import CaptureDetector, ModelRef, TiledPredictor, tile_origins

from platform_control.imaging import MultispectralCapture
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics

CLASSES = ("background", "crack", "nick")
CHANNELS = ("white", "uv365")


class PixelRuleModel:
    """Synthetic network: class 1 where channel 0 is bright, class 2 where channel 1 is, per pixel
    (so a tiled result must equal the whole frame's exactly); records the batch of every call."""

    channels = CHANNELS
    class_names = CLASSES

    def __init__(self, tile: tuple[int, int]) -> None:
        self.tile = tile
        self.batches: list[tuple[int, ...]] = []

    def network_input(self, image: np.ndarray) -> np.ndarray:
        return (np.moveaxis(image, -1, 0).astype(np.float32) - 100.0) / 100.0

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        self.batches.append(tuple(batch.shape))
        return torch.stack([torch.zeros_like(batch[:, 0]), 10 * batch[:, 0], 10 * batch[:, 1]], dim=1)


def _frame(height: int, width: int) -> np.ndarray:
    image = np.full((height, width, 2), 50, np.uint8)
    image[40:44, 10:110, 0] = 250  # a crack 100 px long across several 32 px tiles
    image[70:80, 60:70, 1] = 250  # a nick
    return image


def test_tiles_cover_the_frame_with_overlap_and_refuse_a_tile_larger_than_the_frame() -> None:
    origins = tile_origins(96, 128, (32, 32), 0.25)
    ys, xs = sorted({y for y, _ in origins}), sorted({x for _, x in origins})
    assert ys == [0, 24, 48, 64] and xs == [0, 24, 48, 72, 96]  # stride 24, last flush with the edge
    assert len(origins) == 20
    with pytest.raises(ValueError, match=r"tile 128 x 32 .* larger than the 96 x 128 frame"):
        tile_origins(96, 128, (128, 32), 0.25)
    with pytest.raises(ValueError, match="overlap"):
        tile_origins(96, 128, (32, 32), 1.0)


def test_stitched_tiles_equal_the_whole_frame_and_run_in_batches() -> None:
    image = _frame(96, 128)
    model = PixelRuleModel((32, 32))
    tiled = TiledPredictor(model, overlap=0.25, batch_size=8).predict(image)
    whole = TiledPredictor(PixelRuleModel((96, 128)), batch_size=8).predict(image)
    assert tiled.mask.shape == (96, 128) and tiled.probabilities.shape == (3, 96, 128)
    np.testing.assert_array_equal(tiled.mask, whole.mask)
    np.testing.assert_allclose(tiled.probabilities, whole.probabilities, atol=1e-6)
    assert [b[0] for b in model.batches] == [8, 8, 4]  # 20 tiles, 8 per forward pass
    assert all(b[2:] == (32, 32) for b in model.batches)
    assert np.count_nonzero(tiled.mask == 1) == 400 and np.count_nonzero(tiled.mask == 2) == 100
    with pytest.raises(ValueError, match="larger than the 24 x 128 frame"):
        TiledPredictor(model).predict(image[:24])


def test_a_defect_across_tile_borders_is_one_record_at_native_pixels(tmp_path) -> None:
    store = CaptureStore(tmp_path)
    image = _frame(96, 128)
    frames = np.moveaxis(image, -1, 0).copy()
    capture = MultispectralCapture(0, np.zeros(5), CHANNELS, (8.0, 15.0), (0.0, 6.0), (1.0, 2.0), frames)
    ref = store.put(capture, cycle_id="c", blade_serial="SN-1", part_family="F")
    camera = load_camera_params()
    detector = CaptureDetector(
        store,
        lambda family, version: ModelRef("m-1", tmp_path),
        lambda _dir: TiledPredictor(PixelRuleModel((32, 32)), batch_size=4),
        camera,
        StageKinematics(load_stage_params(), load_cell_layout(), camera),
        min_pixels=1,
    )
    out = detector.detect("F", None, ref)
    assert (out.width, out.height) == (128, 96)
    by_class = {r["defect_class"]: r for r in out.regions}
    assert len(out.regions) == 2 and set(by_class) == {"crack", "nick"}
    crack = by_class["crack"]
    assert crack["bbox"] == [10, 40, 100, 4] and crack["pixel_area"] == 400  # spans 5 tile columns
    assert crack["confidence"] > 0.99 and crack["area_mm2"] > 0
    assert by_class["nick"]["bbox"] == [60, 70, 10, 10]
