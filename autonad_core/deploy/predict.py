"""Inference with a retrained model folder: the `Detector` the cell's detector node wraps, and
`predict_files` behind `autonad predict` (class-index masks + colour overlays).

A frame is preprocessed exactly as in training (preprocess.json): scaled by its bit depth,
standardised, rescaled by the training scale; frames larger than the training tile are covered by
overlapping tiles whose probabilities are averaged; probabilities are resized back to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from autonad_core.data.image_io import read_image
from autonad_core.data.preprocess import Preprocess, resize_image, to_unit
from autonad_core.deploy.inference import WINDOW_BATCH, check_overlap, sliding_window_probabilities

PALETTE = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
        [0, 128, 128],
    ],
    dtype=np.uint8,
)


def class_colour(index: int) -> np.ndarray:
    if index < len(PALETTE):
        return PALETTE[index]
    rng = np.random.default_rng(index)
    return rng.integers(64, 256, 3).astype(np.uint8)


def resolve_model_dir(path: Path) -> Path:
    """A model folder, or a design output folder (then its `retrain/best`)."""
    path = Path(path)
    for candidate in (path, path / "retrain" / "best"):
        if (candidate / "arch.json").is_file() and (candidate / "preprocess.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"{path}: not a model folder (needs arch.json + preprocess.json) nor a design output folder "
        "with retrain/best"
    )


@dataclass
class Prediction:
    """Shape: mask (H, W) uint8 class indices; probabilities (K, H, W) float32 (sum to 1 per pixel)."""

    mask: np.ndarray
    probabilities: np.ndarray
    class_names: tuple[str, ...]

    def class_fraction(self) -> dict[str, float]:
        counts = np.bincount(self.mask.ravel(), minlength=len(self.class_names))
        return {name: float(c) / self.mask.size for name, c in zip(self.class_names, counts, strict=True)}


class Detector:
    """Loads a retrained subnet folder once; `predict(frame)` gives the class mask and probabilities."""

    def __init__(
        self, model_dir: Path, device: str = "cpu", overlap: float = 0.25, window_batch: int = WINDOW_BATCH
    ) -> None:
        from autonad_core.models.subnet import load_subnet

        self.overlap = check_overlap(overlap)  # before loading anything: bad input fails at once
        self.window_batch = int(window_batch)
        self.model_dir = resolve_model_dir(model_dir)
        self.preprocess = Preprocess.load(self.model_dir)
        self.device = torch.device(device)
        self.model = load_subnet(self.model_dir).to(self.device).eval()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.preprocess.class_names

    @property
    def channels(self) -> tuple[str, ...]:
        return self.preprocess.channels

    def as_unit(self, image: np.ndarray) -> np.ndarray:
        """A raw frame (H, W) / (H, W, C) as float32 in [0, 1] (H, W, C), after checking its channels and
        bit depth against the model's (callers that tile frames themselves start from here)."""
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] != len(self.channels):
            raise ValueError(
                f"frame shape {image.shape} does not match the model's {len(self.channels)} channel(s) "
                f"{list(self.channels)} (expected (H, W) or (H, W, C))"
            )
        if image.dtype in (np.uint8, np.uint16):
            depth = 16 if image.dtype == np.uint16 else 8
            if depth != self.preprocess.bit_depth:
                raise ValueError(
                    f"{depth}-bit frame for a model trained on {self.preprocess.bit_depth}-bit data"
                )
            return to_unit(image, depth)
        if np.issubdtype(image.dtype, np.floating):
            return image.astype(np.float32)  # already in [0, 1]
        raise ValueError(f"frame dtype {image.dtype} not supported (uint8, uint16 or float in [0, 1])")

    @torch.no_grad()
    def predict(self, image: np.ndarray) -> Prediction:
        """image: (H, W) or (H, W, C) raw frame (uint8/uint16 as in training, or float in [0, 1])."""
        unit = self.as_unit(image)
        h, w = unit.shape[:2]
        scaled = resize_image(unit, self.preprocess.geometry(unit))
        tensor = torch.from_numpy(self.preprocess.normalize(scaled))[None].to(self.device)
        probs = sliding_window_probabilities(
            self.model, tensor, self.preprocess.input_size, self.overlap, self.window_batch
        )
        if probs.shape[-2:] != (h, w):
            probs = torch.nn.functional.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False)
        probs = probs[0].cpu().numpy().astype(np.float32)
        return Prediction(probs.argmax(0).astype(np.uint8), probs, self.class_names)


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """RGB uint8 picture: the frame (grey, RGB, or the first channel of N) with defect classes tinted."""
    unit = image.astype(np.float32)
    if image.dtype in (np.uint8, np.uint16):
        unit = unit / (255.0 if image.dtype == np.uint8 else 65535.0)
    if unit.ndim == 3 and unit.shape[2] == 3:
        base = unit
    else:
        plane = unit if unit.ndim == 2 else unit[:, :, 0]
        base = np.repeat(plane[:, :, None], 3, axis=2)
    out = (np.clip(base, 0, 1) * 255).astype(np.float32)
    for index in np.unique(mask):
        if index == 0:
            continue
        sel = mask == index
        out[sel] = (1 - alpha) * out[sel] + alpha * class_colour(int(index)).astype(np.float32)
    return out.round().astype(np.uint8)


def predict_files(model_dir: Path, inputs: list[Path], out_dir: Path, device: str = "cpu") -> list[dict]:
    """Write `<stem>_mask.png` (class indices) and `<stem>_overlay.png` for every input image entry."""
    detector = Detector(model_dir, device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = []
    for path in inputs:
        image = read_image(Path(path), detector.channels)
        prediction = detector.predict(image)
        stem = Path(path).stem if Path(path).is_file() else Path(path).name
        mask_path, overlay_path = out_dir / f"{stem}_mask.png", out_dir / f"{stem}_overlay.png"
        cv2.imwrite(str(mask_path), prediction.mask)
        cv2.imwrite(str(overlay_path), cv2.cvtColor(overlay(image, prediction.mask), cv2.COLOR_RGB2BGR))
        summary.append(
            {
                "input": str(path),
                "mask": str(mask_path),
                "overlay": str(overlay_path),
                "class_fraction": prediction.class_fraction(),
            }
        )
    return summary
