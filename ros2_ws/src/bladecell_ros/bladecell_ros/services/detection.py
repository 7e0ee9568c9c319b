"""Detection of one stored capture with a part family's model (ROS-free; the detector node wraps it).

Model lookup: the registry's deployed model of the family (or the version asked for), whose
`weights_path` is the AutoNAD model folder (relative to $BLADECELL_HOME, or absolute). Loaded models
are cached by version, so a database outage after the first cycle does not stop detection; with no
model loaded yet, the lookup waits the outage out (`db_outage.OutageGuard`) before it fails.

Per capture: the deployed network runs over the whole native frame in overlapping tiles of its
training crop size, several tiles per forward pass, and the tiles' class probabilities are averaged
where they overlap into one frame-sized mask (`TiledPredictor` over
`autonad_core.deploy.inference.sliding_window_probabilities`, which owns the tile grid and the
stitching). A defect crossing a tile border is therefore one connected region of the stitched mask,
hence one record. The model's channels are read from the store (their
order is the model's), the prediction's class mask is split into defect records by
`platform_control.defect_regions` with the camera model, the capture's stage pose and, when the part
family's blade model is known (`surface_of`), its surface: physical size corrected for range and
incidence angle, location on the blade's surface; otherwise the focus-plane model. The predicted mask
is written to the content store (its path goes into the record).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.db_outage import OutageGuard, is_outage
from platform_control.cycle.services import DetectResult
from platform_control.defect_regions import SurfaceRaycaster, ViewGeometry, extract_defects
from platform_control.imaging import MultispectralCapture
from platform_control.params import CameraParams
from platform_control.stage import StageKinematics


class Predictor(Protocol):
    """What `autonad_core.Detector` offers (a fake in unit tests)."""

    @property
    def channels(self) -> tuple[str, ...]: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...

    def predict(self, image: np.ndarray) -> Any: ...


class TileModel(Protocol):
    """A trained network as tiled detection needs it (`autonad_tile_model`; a synthetic one in tests)."""

    @property
    def channels(self) -> tuple[str, ...]: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def tile(self) -> tuple[int, int]: ...

    def network_input(self, image: np.ndarray) -> np.ndarray:
        """Raw frame (H, W, C) -> normalised network input (C, H', W') float32 (H' = H for crop-trained
        models; a resize-trained one rescales)."""
        ...

    def forward(self, batch: Any) -> Any:
        """Logits (B, K, h, w) of a tensor batch (B, C, h, w)."""
        ...


@dataclass(frozen=True)
class TiledPrediction:
    """Shape: mask (H, W) uint8 class indices; probabilities (K, H, W) float32."""

    mask: np.ndarray
    probabilities: np.ndarray


def tile_origins(height: int, width: int, tile: tuple[int, int], overlap: float) -> list[tuple[int, int]]:
    """(y, x) of every tile covering a height x width frame (`autonad_core`'s window grid), refusing a
    tile larger than the frame: the network would see a frame padded with nothing it was trained on."""
    from autonad_core.deploy.inference import window_origins

    th, tw = (int(v) for v in tile)
    if th < 1 or tw < 1:
        raise ValueError(f"tile must be positive, got {th} x {tw}")
    if th > height or tw > width:
        raise ValueError(
            f"detection tile {th} x {tw} (the model's training crop, H x W) is larger than the "
            f"{height} x {width} frame: capture at a finer binning or design with a smaller crop"
        )
    return window_origins((height, width), (th, tw), overlap)


class TiledPredictor:
    """Whole-frame prediction from tiles: `batch_size` tiles per forward pass, probabilities averaged
    where tiles overlap. The `Predictor` the detector uses for a deployed model."""

    def __init__(self, model: TileModel, *, overlap: float = 0.25, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.overlap, self.batch_size = model, overlap, batch_size

    @property
    def channels(self) -> tuple[str, ...]:
        return self.model.channels

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(C, H, W) network input -> (K, H, W) class probabilities stitched from the tiles
        (`autonad_core.deploy.inference.sliding_window_probabilities`, `batch_size` tiles a pass)."""
        import torch

        from autonad_core.deploy.inference import sliding_window_probabilities

        _, height, width = x.shape
        tile_origins(height, width, self.model.tile, self.overlap)  # refuses a tile larger than the frame
        image = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
        probs = sliding_window_probabilities(
            self.model.forward, image, self.model.tile, self.overlap, self.batch_size
        )
        return probs[0].numpy()

    def predict(self, image: np.ndarray) -> TiledPrediction:
        """Raw frame (H, W, C) -> class mask and probabilities at the frame's own pixels."""
        height, width = np.asarray(image).shape[:2]
        probs = self.probabilities(self.model.network_input(image))
        if probs.shape[1:] != (height, width):  # a resize-trained model: back to the native pixels
            import torch

            probs = torch.nn.functional.interpolate(
                torch.from_numpy(probs)[None], size=(height, width), mode="bilinear", align_corners=False
            )[0].numpy()
        return TiledPrediction(probs.argmax(0).astype(np.uint8), probs.astype(np.float32))


class NoModelError(LookupError):
    """No deployed model for the part family (design one first), or an unknown version."""


@dataclass(frozen=True)
class ModelRef:
    version: str
    model_dir: Path


def registry_resolver(registry: Any, home: Path) -> Callable[[str, str | None], ModelRef]:
    """(family, version or None) -> ModelRef, from a `database.services.ModelRegistry`."""

    def resolve(family: str, version: str | None) -> ModelRef:
        info = registry.get(version) if version else registry.deployed_for(family)
        if info is None:
            raise NoModelError(f"no deployed model for part family {family!r}: design one first")
        if info.part_family != family:
            raise NoModelError(f"model {info.version!r} is a {info.part_family!r} model, not {family!r}")
        path = Path(info.weights_path)
        return ModelRef(info.version, path if path.is_absolute() else home / path)

    return resolve


class CaptureDetector:
    """Runs models on stored captures. ``load`` builds a predictor from a model folder."""

    def __init__(
        self,
        store: CaptureStore,
        resolve: Callable[[str, str | None], ModelRef],
        load: Callable[[Path], Predictor],
        camera: CameraParams,
        stage: StageKinematics,
        *,
        min_pixels: int = 4,
        cache_size: int = 2,
        surface_of: Callable[[str], SurfaceRaycaster | None] | None = None,
        on_model_loaded: Callable[[str, str, Path], None] | None = None,
        outage: OutageGuard | None = None,
    ) -> None:
        self.store, self.resolve, self.load = store, resolve, load
        self.on_model_loaded = on_model_loaded  # (family, version, folder), before its first capture
        self.outage = outage  # None: a registry error propagates at once (no cached model to use)
        self.camera, self.stage = camera, stage
        self.surface_of = surface_of
        self.min_pixels = min_pixels
        self.cache_size = cache_size
        self._models: OrderedDict[str, Predictor] = OrderedDict()
        self._deployed: dict[
            str, str
        ] = {}  # family -> version last resolved (used while the registry is down)
        self._lock = threading.Lock()

    def model(self, family: str, version: str | None) -> tuple[str, Predictor]:
        with self._lock:
            if version and version in self._models:
                self._models.move_to_end(version)
                return version, self._models[version]
            try:
                ref = self.resolve(family, version or None)
            except NoModelError:
                raise
            except Exception as exc:
                cached = version or self._deployed.get(family)
                if cached and cached in self._models:  # registry unreachable: keep using what is loaded
                    return cached, self._models[cached]
                if self.outage is None or not is_outage(exc):
                    raise
                # nothing loaded to fall back on: wait the outage out (a read, safe to repeat)
                what = f"looking up the {version or 'deployed'} model of {family}"
                ref = self.outage.call(what, lambda: self.resolve(family, version or None))
            if not version:
                self._deployed[family] = ref.version
            if ref.version not in self._models:
                if not ref.model_dir.exists():
                    raise NoModelError(f"model {ref.version!r}: folder {ref.model_dir} does not exist")
                self._models[ref.version] = self.load(ref.model_dir)
                if self.on_model_loaded is not None:
                    self.on_model_loaded(family, ref.version, ref.model_dir)
                while len(self._models) > self.cache_size:
                    self._models.popitem(last=False)
            return ref.version, self._models[ref.version]

    def view_of(
        self, capture: MultispectralCapture, width: int, height: int, family: str = ""
    ) -> ViewGeometry:
        surface = self.surface_of(family) if (self.surface_of is not None and family) else None
        return ViewGeometry.for_frame(
            width,
            height,
            sensor_width_px=self.camera.width_px,
            sensor_height_px=self.camera.height_px,
            sensor_focal_px=self.camera.focal_length_px,
            distance_m=self.camera.working_distance,
            blade_from_camera=self.stage.camera_in_blade(capture.stage_axes),
            surface=surface,
        )

    def detect(
        self,
        family: str,
        version: str | None,
        capture_ref: str = "",
        capture: MultispectralCapture | None = None,
    ) -> DetectResult:
        version, predictor = self.model(family, version)
        if capture_ref:
            capture = self.store.load(capture_ref, channels=predictor.channels).capture
        elif capture is None:
            raise ValueError("detect needs a capture reference or a capture")
        else:
            missing = [c for c in predictor.channels if c not in capture.channels]
            if missing:
                raise ValueError(f"capture lacks channel(s) {missing} the model {version!r} needs")
            capture = MultispectralCapture(
                capture.viewpoint_index,
                capture.stage_axes,
                tuple(predictor.channels),
                tuple(capture.exposure_ms[capture.channels.index(c)] for c in predictor.channels),
                tuple(capture.gain[capture.channels.index(c)] for c in predictor.channels),
                tuple(capture.timestamps[capture.channels.index(c)] for c in predictor.channels),
                np.stack([capture.frame(c) for c in predictor.channels]),
            )
        image = np.moveaxis(np.asarray(capture.frames), 0, -1)  # (H, W, C) in the model's channel order
        start = time.perf_counter()
        prediction = predictor.predict(image)
        elapsed = (time.perf_counter() - start) * 1e3
        mask = np.asarray(prediction.mask, dtype=np.uint8)
        height, width = mask.shape
        regions = extract_defects(
            mask,
            predictor.class_names,
            prediction.probabilities,
            self.view_of(capture, width, height, family),
            min_pixels=self.min_pixels,
        )
        stored = self.store.files.put_image(mask)
        return DetectResult(
            version, [r.to_dict() for r in regions], stored.path, stored.sha256, width, height, elapsed
        )


class _AutonadTileModel:
    """An `autonad_core.Detector`'s network and input contract as a `TileModel`."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.tile = tuple(int(v) for v in detector.preprocess.input_size)

    @property
    def channels(self) -> tuple[str, ...]:
        return self.detector.channels

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.detector.class_names

    def network_input(self, image: np.ndarray) -> np.ndarray:
        from autonad_core.data.preprocess import resize_image

        pre = self.detector.preprocess
        unit = self.detector.as_unit(image)  # the Detector's own checks of shape, depth and dtype
        return pre.normalize(resize_image(unit, pre.geometry(unit)))

    def forward(self, batch: Any) -> Any:
        return self.detector.model(batch.to(self.detector.device)).cpu()


def load_autonad_detector(
    device: str, threads: int, *, overlap: float = 0.25, batch_size: int = 8
) -> Callable[[Path], Predictor]:
    """Model folder -> tiled predictor of the `autonad_core.Detector` on ``device`` (``threads`` > 0
    sets torch's threads)."""

    def load(model_dir):
        import torch

        from autonad_core import Detector

        if threads > 0:
            torch.set_num_threads(threads)
        detector = Detector(model_dir, device=device, overlap=overlap)
        return TiledPredictor(_AutonadTileModel(detector), overlap=overlap, batch_size=batch_size)

    return load
