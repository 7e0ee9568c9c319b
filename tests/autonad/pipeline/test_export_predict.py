"""Deployment: TorchScript/ONNX export matches PyTorch (ONNX Runtime within 1e-4), the Detector tiles
large frames correctly, and `predict_files` writes masks and colour overlays."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from autonad_core import SearchSpace, Supernet, materialize, save_subnet
from autonad_core.data.preprocess import Preprocess
from autonad_core.deploy.export import export_model
from autonad_core.deploy.inference import sliding_window_probabilities
from autonad_core.deploy.predict import Detector, overlay, predict_files


@pytest.fixture(scope="module")
def model_dir(tiny_space_yaml: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    space = SearchSpace.from_yaml(tiny_space_yaml)
    net = Supernet(space, in_channels=2, num_classes=3)
    model = materialize(net, space.sample(random.Random(4))).eval()
    folder = tmp_path_factory.mktemp("model")
    save_subnet(model, folder)
    Preprocess(
        channels=("white", "uv"),
        class_names=("background", "crack", "nick"),
        bit_depth=8,
        mean=(0.4, 0.3),
        std=(0.2, 0.1),
        input_size=(48, 48),
        mode="crop",
        scale=(1.0, 1.0),
    ).save(folder)
    return folder


def test_export_torchscript_and_onnx_match_pytorch(model_dir: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    from autonad_core import load_subnet

    result = export_model(model_dir, tmp_path / "export")
    assert result.torchscript_max_diff <= 1e-4 and result.onnx_max_diff <= 1e-4
    assert (tmp_path / "export" / "preprocess.json").is_file()
    # independent check on a fresh input, batch 2
    model = load_subnet(model_dir).eval()
    x = torch.randn(2, 2, 48, 48, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ref = model(x).numpy()
    session = ort.InferenceSession(str(result.onnx), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert onnx_out.shape == ref.shape == (2, 3, 48, 48)
    assert np.abs(onnx_out - ref).max() <= 1e-4
    scripted = torch.jit.load(str(result.torchscript))
    with torch.no_grad():
        assert torch.allclose(scripted(x), torch.from_numpy(ref), atol=1e-4)


#: the subnet an MT design (seed 2) picked: exported from a batch-1 example, its ONNX graph kept the batch
#: as a constant 1 in a Reshape, so ONNX Runtime refused batch 2 and the design stopped at its export
MT_SEED2_ARCH = {
    "version": 1,
    "stages": [
        {"width": 32, "blocks": [{"op": "conv", "ffn_ratio": 2.0, "kernel_size": 5}]},
        {"width": 32, "blocks": [{"op": "mlp", "ffn_ratio": 2.0}]},
        {
            "width": 96,
            "blocks": [
                {"op": "transformer", "ffn_ratio": 3.0, "num_heads": 3},
                {"op": "conv", "ffn_ratio": 2.0, "kernel_size": 5},
            ],
        },
        {"width": 64, "blocks": [{"op": "conv", "ffn_ratio": 3.0, "kernel_size": 3}]},
    ],
    "decoder": {
        "channels": 32,
        "node_levels": [4, 3, 2, 1],
        "edges": [
            [1, 4, "dw3x3"], [2, 4, "conv5x5"], [3, 5, "dw3x3"], [4, 5, "conv3x3"],
            [0, 6, "conv3x3"], [2, 6, "dil3x3"], [4, 7, "conv3x3"], [5, 7, "conv5x5"],
        ],
        "ppm_pool_sizes": [3, 6],
    },
}  # fmt: skip


def test_onnx_export_keeps_the_batch_dynamic_for_every_subnet(tmp_path: Path) -> None:
    import json

    from autonad_core import Arch, Subnet

    torch.manual_seed(0)
    model = Subnet(Arch.from_json(json.dumps(MT_SEED2_ARCH)), 1, 6).eval()
    save_subnet(model, tmp_path / "model")
    Preprocess(
        channels=("gray",),
        class_names=("background", "blowhole", "break", "crack", "fray", "uneven"),
        bit_depth=8,
        mean=(0.5,),
        std=(0.2,),
        input_size=(128, 128),
        mode="crop",
        scale=(1.0, 1.0),
    ).save(tmp_path / "model")
    result = export_model(tmp_path / "model", tmp_path / "export", torchscript=False)  # runs batch 1 and 2
    assert result.onnx_max_diff <= 1e-4


def test_sliding_window_equals_whole_frame_for_a_per_pixel_network() -> None:
    conv = torch.nn.Conv2d(2, 3, 1)  # no spatial context: tiling must not change anything
    frame = torch.randn(1, 2, 70, 101)
    with torch.no_grad():
        whole = torch.softmax(conv(frame), 1)
        tiled = sliding_window_probabilities(conv, frame, (32, 32), overlap=0.25)
    assert torch.allclose(whole, tiled, atol=1e-6)


def test_detector_on_frames_smaller_equal_and_larger_than_the_tile(model_dir: Path) -> None:
    detector = Detector(model_dir)
    assert detector.channels == ("white", "uv")
    rng = np.random.default_rng(0)
    for h, w in ((48, 48), (40, 30), (130, 97)):
        frame = rng.integers(0, 256, (h, w, 2), dtype=np.uint8)
        pred = detector.predict(frame)
        assert pred.mask.shape == (h, w) and pred.mask.dtype == np.uint8
        assert pred.probabilities.shape == (3, h, w)
        np.testing.assert_allclose(pred.probabilities.sum(0), 1.0, atol=1e-5)
        np.testing.assert_array_equal(pred.mask, pred.probabilities.argmax(0))
    # a tile-sized frame is one forward pass of the network on the normalised frame
    frame = rng.integers(0, 256, (48, 48, 2), dtype=np.uint8)
    unit = frame.astype(np.float32) / 255.0
    x = torch.from_numpy(((unit - [0.4, 0.3]) / [0.2, 0.1]).astype(np.float32).transpose(2, 0, 1))[None]
    with torch.no_grad():
        direct = torch.softmax(detector.model(x), 1)[0].numpy()
    np.testing.assert_allclose(detector.predict(frame).probabilities, direct, atol=1e-5)
    with pytest.raises(ValueError, match="2 channel"):
        detector.predict(np.zeros((48, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="16-bit frame for a model trained on 8-bit"):
        detector.predict(np.zeros((48, 48, 2), np.uint16))


def test_predict_files_writes_masks_and_overlays(model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frame1"
    folder.mkdir()
    for name, value in (("white", 120), ("uv", 30)):
        cv2.imwrite(str(folder / f"{name}.png"), np.full((64, 80), value, np.uint8))
    summary = predict_files(model_dir, [folder], tmp_path / "out")
    mask = cv2.imread(summary[0]["mask"], cv2.IMREAD_UNCHANGED)
    over = cv2.imread(summary[0]["overlay"], cv2.IMREAD_UNCHANGED)
    assert mask.shape == (64, 80) and mask.max() < 3
    assert over.shape == (64, 80, 3)
    assert sum(summary[0]["class_fraction"].values()) == pytest.approx(1.0)


def test_overlay_tints_only_defect_pixels() -> None:
    image = np.full((4, 4), 100, np.uint8)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 1
    out = overlay(image, mask, alpha=0.5)
    assert out[1, 1].tolist() == [100, 100, 100]
    assert out[0, 0].tolist() != [100, 100, 100]
