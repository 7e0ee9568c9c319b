"""The capture store: lossless round trips, verified hashes, labels, and the dataset export autonad reads."""

from __future__ import annotations

import numpy as np
import pytest
from bladecell_ros.services.capture_store import (
    CaptureStore,
    CaptureStoreError,
    frame_metadata,
    stack_channels,
)

from platform_control.cycle.refs import RefError, viewpoint_of
from platform_control.imaging import MultispectralCapture
from platform_control.params import load_camera_params

CHANNELS = ("white", "uv365", "nir850")
CLASSES = ("background", "crack", "nick", "dent", "pitting", "coating_loss", "burn")


def _capture(index: int, dtype=np.uint8, seed: int = 0) -> tuple[MultispectralCapture, np.ndarray]:
    rng = np.random.default_rng([seed, index])
    top = np.iinfo(dtype).max
    frames = rng.integers(0, top, (3, 24, 32), dtype=dtype)
    label = np.zeros((24, 32), np.uint8)
    label[2 + index : 6 + index, 4:10] = 1 + index % 6
    return MultispectralCapture(
        index,
        np.full(5, 0.01 * index),
        CHANNELS,
        (8.0, 40.0, 15.0),
        (0.0, 12.0, 6.0),
        (1.0, 1.1, 1.2),
        frames,
    ), label


def test_round_trip_is_lossless_and_verified(tmp_path) -> None:
    store = CaptureStore(tmp_path)
    for dtype in (np.uint8, np.uint16):
        capture, label = _capture(3, dtype)
        ref = store.put(
            capture,
            cycle_id=f"c-{dtype.__name__}",
            blade_serial="SN 1/2",
            part_family="HPT 1",
            label=label,
            label_classes=CLASSES,
        )
        assert ref.startswith("captures/HPT_1/") and viewpoint_of(ref) == 3
        back = store.load(ref)
        assert back.capture.frames.dtype == dtype and np.array_equal(back.capture.frames, capture.frames)
        assert np.array_equal(back.label, label) and back.label_classes == CLASSES
        assert back.capture.channels == CHANNELS and back.capture.gain == capture.gain
        np.testing.assert_allclose(back.capture.stage_axes, capture.stage_axes)
        assert back.manifest["blade_serial"] == "SN 1/2"
    subset = store.load(ref, channels=("nir850", "white"))
    assert subset.capture.channels == ("nir850", "white")
    assert np.array_equal(subset.capture.frames[0], capture.frames[2])
    with pytest.raises(CaptureStoreError, match=r"no \['darkfield'\]"):
        store.load(ref, channels=("darkfield",))
    # a frame changed on disk after storing is detected, naming the capture
    frame_file = store.home / back.manifest["channels"][0]["path"]
    frame_file.chmod(0o644)
    frame_file.write_bytes(frame_file.read_bytes()[:-7] + b"garbage")
    with pytest.raises(CaptureStoreError, match="SHA-256"):
        store.load(ref)


def test_bad_captures_are_refused(tmp_path) -> None:
    store = CaptureStore(tmp_path)
    capture, label = _capture(0)
    with pytest.raises(CaptureStoreError, match=r"label mask is \(3, 3\)"):
        store.put(
            capture,
            cycle_id="c",
            blade_serial="s",
            part_family="f",
            label=label[:3, :3],
            label_classes=CLASSES,
        )
    with pytest.raises(CaptureStoreError, match="without class names"):
        store.put(capture, cycle_id="c", blade_serial="s", part_family="f", label=label)
    with pytest.raises(CaptureStoreError, match="class index 6 but only 2"):
        store.put(
            _capture(5)[0],
            cycle_id="c",
            blade_serial="s",
            part_family="f",
            label=_capture(5)[1],
            label_classes=CLASSES[:2],
        )
    with pytest.raises(CaptureStoreError, match="no manifest"):
        store.load("captures/f/c/v009.json")
    with pytest.raises(RefError, match="not a capture reference"):
        viewpoint_of("captures/f/c/x.json")


def test_export_is_an_autonad_dataset_split_by_cycle(tmp_path) -> None:
    from autonad_core.data.folder import DatasetFolder

    store = CaptureStore(tmp_path / "home")
    for cycle in ("c1", "c2", "c3"):
        for i in range(3):
            capture, label = _capture(i, seed=hash(cycle) % 100)
            store.put(
                capture,
                cycle_id=cycle,
                blade_serial=cycle,
                part_family="F",
                label=label,
                label_classes=CLASSES,
            )
    store.put(_capture(7)[0], cycle_id="c3", blade_serial="c3", part_family="F")  # unlabelled: not exported
    assert len(store.refs("F")) == 10 and len(store.refs("F", labelled_only=True)) == 9
    summary = store.export("F", tmp_path / "ds", val_fraction=0.34)
    assert (summary.samples, summary.train, summary.val) == (9, 6, 3)
    assert summary.channels == CHANNELS and summary.classes == CLASSES
    folder = DatasetFolder.open(summary.dataset_dir)
    val = folder.split_names("val")
    assert val and all(name.startswith("c3_") for name in val)  # the newest cycle validates
    split = folder.load_split("train")
    assert len(split) == 6 and split.images[0].shape == (24, 32, 3)
    stored = store.load(store.refs("F", cycle_id="c1")[0])
    assert np.array_equal(split.masks[0], stored.label)
    with pytest.raises(CaptureStoreError, match="not empty"):
        store.export("F", tmp_path / "ds")


def test_export_of_one_cycle_holds_out_viewpoints_and_needs_labels(tmp_path) -> None:
    store = CaptureStore(tmp_path)
    with pytest.raises(CaptureStoreError, match="0 labelled capture"):
        store.export("F")
    for i in range(10):
        capture, label = _capture(i)
        store.put(
            capture, cycle_id="only", blade_serial="b", part_family="F", label=label, label_classes=CLASSES
        )
    summary = store.export("F")
    assert summary.dataset_dir.parent == tmp_path / "datasets" / "F"
    assert (summary.train, summary.val) == (8, 2)


def test_a_channel_of_another_size_is_refused_by_name() -> None:
    frames = [np.zeros((24, 32), np.uint8), np.zeros((24, 32), np.uint8), np.zeros((12, 16), np.uint8)]
    with pytest.raises(CaptureStoreError, match=r"viewpoint 4: channel 'nir850' frame is \(12, 16\)"):
        stack_channels(CHANNELS, frames, 4)
    assert stack_channels(CHANNELS, [*frames[:2], frames[0]], 4).shape == (3, 24, 32)
    with pytest.raises(CaptureStoreError, match="2 frame"):
        stack_channels(CHANNELS, frames[:2], 4)


def test_the_manifest_states_the_frame_footprint(tmp_path) -> None:
    camera = load_camera_params()
    store = CaptureStore(tmp_path, camera)
    capture, label = _capture(1)
    native = (camera.height_px, camera.width_px)
    ref = store.put(
        capture, cycle_id="c", blade_serial="S", part_family="F", label=label, label_classes=CLASSES
    )
    frame = store.manifest(ref)["frame"]
    # a 32 x 24 frame of the 2448 x 2048 sensor: its 2730.67 x 2048 crop is wider than the sensor,
    # so the crop is 2448 x 1836, 76.5 sensor pixels per frame pixel
    assert frame["width_px"] == 32 and frame["height_px"] == 24
    assert frame["binning"] == pytest.approx(2448 / 32)
    native_um = camera.working_distance / camera.focal_length_px * 1e6
    assert frame["pixel_footprint_um"] == pytest.approx(native_um * 2448 / 32, rel=1e-4)
    assert 25 < native_um < 40 and native == (2048, 2448)  # the issue's ~31 um per native pixel
    assert frame_metadata(camera, 612, 512)["pixel_footprint_um"] == pytest.approx(4 * native_um, rel=1e-4)


def test_export_gives_the_captures_at_their_native_size_as_stored(tmp_path) -> None:
    import cv2

    store = CaptureStore(tmp_path)
    rng = np.random.default_rng(0)
    stored = []
    for i in range(2):
        frames = rng.integers(0, 65535, (3, 512, 612), dtype=np.uint16)  # the 4 x 4 binned sensor
        label = np.zeros((512, 612), np.uint8)
        label[100:103, 50:400] = 1  # a crack 3 px wide
        capture = MultispectralCapture(
            i, np.zeros(5), CHANNELS, (8.0, 40.0, 15.0), (0.0, 12.0, 6.0), (1.0, 1.1, 1.2), frames
        )
        store.put(
            capture, cycle_id="c", blade_serial="S", part_family="F", label=label, label_classes=CLASSES
        )
        stored.append((frames, label))
    summary = store.export("F", tmp_path / "ds")
    stem = "c_v000"
    back = cv2.imread(str(summary.dataset_dir / "images" / stem / "uv365.png"), cv2.IMREAD_UNCHANGED)
    assert back.shape == (512, 612) and np.array_equal(back, stored[0][0][1])  # not resized, bit-exact
    mask = cv2.imread(str(summary.dataset_dir / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(mask, stored[0][1])
