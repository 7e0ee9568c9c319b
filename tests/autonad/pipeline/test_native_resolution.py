"""Native-resolution training and inference (issue 14 item 4): class-aware crops see rare classes,
capped class weights, and sliding windows that stitch full-size masks for any frame size in bounded
memory, batched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autonad_core.data.crop_sampling import DefectPixels, crop_origin, sample_crop
from autonad_core.deploy.inference import sliding_window_probabilities, window_origins
from autonad_core.training.common import median_frequency_weights


def _thin_defect_mask() -> np.ndarray:
    mask = np.zeros((320, 320), np.uint8)
    mask[200, 40:44] = 3  # 4 pixels of "crack": 0.004 % of the image
    mask[10:14, 300:304] = 1
    return mask


def test_class_aware_crops_always_hold_a_rare_pixel_at_probability_one() -> None:
    mask = _thin_defect_mask()
    rng = np.random.default_rng(0)
    pixels = DefectPixels([mask])
    seen = {1: 0, 3: 0}
    for _ in range(200):
        source, centre = pixels.draw(0, rng, 1.0)
        assert source == 0 and mask[centre] in (1, 3)
        _, crop = sample_crop(np.zeros((320, 320, 1), np.float32), mask, (64, 64), rng, centre)
        assert crop.shape == (64, 64)
        present = set(np.unique(crop).tolist()) - {0}
        assert present, "a crop centred on a defect pixel must contain it"
        for c in present:
            seen[c] += 1
    assert min(seen.values()) > 60  # both classes drawn (uniform over present classes: ~100 each)


def test_uniform_crops_rarely_hold_a_thin_defect() -> None:
    mask = _thin_defect_mask()
    rng = np.random.default_rng(0)
    pixels = DefectPixels([mask])
    assert all(pixels.draw(0, rng, 0.0) == (0, None) for _ in range(50))
    crops = [sample_crop(mask[..., None], mask, (64, 64), rng)[1] for _ in range(200)]
    hits = sum(bool((crop == 3).any()) for crop in crops)
    assert hits < 40  # ~4 % of the uniform crop positions contain the crack


def test_crop_origin_stays_inside_and_refuses_a_crop_larger_than_the_image() -> None:
    mask = np.zeros((50, 60), np.uint8)
    mask[0, 59] = 2  # corner pixel: the centred crop is clamped to the image
    _, centre = DefectPixels([mask]).draw(0, np.random.default_rng(1), 1.0)
    assert centre == (0, 59)
    y, x = crop_origin(mask.shape, (32, 32), np.random.default_rng(1), centre)
    assert (y, x) == (0, 28)
    with pytest.raises(ValueError, match="larger than the image"):
        crop_origin(mask.shape, (64, 32), np.random.default_rng(1))


def test_dataset_pool_centres_a_class_of_one_image_as_often_as_a_class_of_every_image() -> None:
    """Nine images hold a nick (2), one also a crack (1): per image the crack is drawn 1 time in 20,
    from the dataset's classes half the time, its crop taken from the one image that holds it."""
    masks = [np.zeros((40, 40), np.uint8) for _ in range(10)]
    for m in masks[1:]:
        m[5:9, 5:9] = 2
    masks[0][30, 10:30] = 1
    masks[0][2:6, 30:34] = 2
    pixels = DefectPixels([*masks, np.zeros((40, 40), np.uint8)])  # an eleventh image without defects
    assert pixels.images_with == {1: [0], 2: list(range(10))} and pixels.classes_in(10) == []
    assert pixels.draw(10, np.random.default_rng(0), 1.0, "image") == (10, None)
    rng = np.random.default_rng(0)
    for pool, low, high in (("image", 0.02, 0.09), ("dataset", 0.42, 0.58)):
        draws = [pixels.draw(i % 10, rng, 1.0, pool) for i in range(2000)]
        cracks = [(src, c) for src, c in draws if masks[src][c] == 1]
        assert low < len(cracks) / len(draws) < high, (pool, len(cracks))
        assert all(src == 0 and c[0] == 30 for src, c in cracks)
    assert all(masks[src][c] > 0 for src, c in draws)


def test_class_weight_cap() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[0, :10] = 1  # 0.1 % of the pixels
    mask[50:, :] = 2
    uncapped = median_frequency_weights([mask], 3)
    capped = median_frequency_weights([mask], 3, max_weight=10.0)
    assert uncapped[1] == pytest.approx(0.499 / 0.001, rel=1e-4)  # median 0.499 / 0.001: would swamp the loss
    assert capped.tolist() == pytest.approx([min(w, 10.0) for w in uncapped.tolist()])
    assert capped[1] == 10.0


def test_batched_windows_equal_one_window_at_a_time() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 5, padding=2)  # spatial context: overlap averaging matters
    frame = torch.randn(2, 2, 70, 101)
    one = sliding_window_probabilities(conv, frame, (32, 32), 0.25, window_batch=1)
    many = sliding_window_probabilities(conv, frame, (32, 32), 0.25, window_batch=7)
    assert torch.allclose(one, many, atol=1e-6)
    assert torch.allclose(many.sum(1), torch.ones(2, 70, 101), atol=1e-5)


def test_full_frame_2448x2048x6_gives_a_full_mask_with_memory_bounded_by_the_window_batch() -> None:
    """A 2448x2048 six-channel frame: the stitched mask is full size, and the network never sees more
    than `window_batch` windows of the tile size (its activations are bounded by that batch)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1))
    frame = torch.randn(1, 6, 2448, 2048)
    seen: list[tuple[int, ...]] = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return net(x)

    probs = sliding_window_probabilities(forward, frame, (320, 320), 0.25, window_batch=4)
    mask = probs.argmax(1)
    assert mask.shape == (1, 2448, 2048)
    windows = window_origins((2448, 2048), (320, 320), 0.25)
    assert sum(shape[0] for shape in seen) == len(windows) == 10 * 9
    assert max(shape[0] for shape in seen) == 4
    assert {shape[1:] for shape in seen} == {(6, 320, 320)}
    # the largest tensor the network produced is a window batch, ~1/48 of the frame's pixels
    assert frame.shape[-1] * frame.shape[-2] / 12 > 4 * 320 * 320
    assert torch.allclose(probs.sum(1), torch.ones(1, 2448, 2048), atol=1e-5)


def test_detector_on_a_2448x2048_six_channel_frame(tiny_space_yaml, tmp_path) -> None:
    """The cell's frame size through the real Detector and a small subnet: a full-size mask and
    probabilities, windows batched `window_batch` at a time."""

    from autonad_core import SearchSpace, Supernet, materialize, save_subnet
    from autonad_core.data.preprocess import Preprocess
    from autonad_core.deploy.predict import Detector

    torch.manual_seed(0)
    space = SearchSpace.from_yaml(tiny_space_yaml)
    model = materialize(Supernet(space, in_channels=6, num_classes=3), space.smallest()).eval()
    save_subnet(model, tmp_path)
    channels = ("white", "uv", "ir", "r", "g", "b")
    Preprocess(channels, ("background", "crack", "nick"), 8, (0.5,) * 6, (0.2,) * 6, (320, 320), "crop").save(
        tmp_path
    )
    detector = Detector(tmp_path, window_batch=4)
    batches: list[int] = []
    detector.model.register_forward_pre_hook(lambda _m, args: batches.append(args[0].shape[0]))
    frame = np.random.default_rng(0).integers(0, 256, (2448, 2048, 6), dtype=np.uint8)
    prediction = detector.predict(frame)
    assert prediction.mask.shape == (2448, 2048) and prediction.mask.dtype == np.uint8
    assert prediction.probabilities.shape == (3, 2448, 2048)
    assert sum(batches) == 90 and max(batches) == 4


@pytest.mark.parametrize("pool", ["image", "dataset"])
def test_cpu_small_trains_on_class_aware_native_crops_and_validates_full_frames(mt_tiny, pool: str) -> None:
    """cpu-small's data path on real MT images: training items are crops of the 320² images holding a
    defect pixel (class_crop_prob 1 here), validation items are the whole 320² images."""
    from autonad_core.config import load_config
    from autonad_core.training.common import prepare_data

    cfg = load_config(
        "cpu-small",
        None,
        ["data.input_size=[64,64]", "data.class_crop_prob=1.0", f"data.class_crop_pool={pool}"],
    )
    assert cfg.data.class_crop_pool == pool
    assert cfg.data.mode == "crop" and cfg.loss.max_class_weight == 10.0
    data = prepare_data(cfg, mt_tiny)
    for index in range(len(data.train)):
        image, mask = data.train[index]
        assert image.shape[-2:] == mask.shape == (64, 64)
        assert bool(((mask > 0) & (mask != 255)).any()), data.train.names[index]
    image, mask = data.val[0]
    assert mask.shape == (320, 320) and data.val.same_size and not data.val.fixed_size
