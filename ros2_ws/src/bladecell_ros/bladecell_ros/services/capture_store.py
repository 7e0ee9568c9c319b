"""The cell's capture store: lossless capture files + labels, and the dataset export AutoNAD designs on.

Layout under the data root ($BLADECELL_HOME):
    files/ab/cd/<sha256>.png                          every frame and label mask, content-addressed
                                                      (`database.storage.ContentStore`: atomic writes,
                                                      a retried write stores nothing new)
    captures/<family>/<cycle_id>/v007.json            one manifest per capture (the capture reference)
    datasets/<family>/<UTC time>/                     dataset exports (autonad's generic folder format)

A manifest names the frame files (channel, exposure, gain, timestamp, path, sha256), the stage pose
and, when the capture is labelled (the simulator's ground truth, or an imported annotation), the label
mask file and its class names, and the frame's size, sensor binning and pixel footprint on the blade at
the working distance (`frame`, from the camera model: the capture message carries no metadata, and a
mm² or a crack width measured later needs it). Every channel of a capture must have the same size
(`stack_channels` refuses one that differs, naming it). Manifests are written to a temporary file,
fsync'd and renamed, so a reference handed to the cycle journal always names a complete capture whose
files already exist.

Export: every labelled capture of a part family; split by cycle (the newest ~`val_fraction` of the
cycles validate) so no blade is in both splits; with a single cycle, every k-th viewpoint validates.
Files are hard-linked from the content store (copied where links are impossible).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from database.storage import ContentStore
from platform_control.atomic_io import atomic_write_text
from platform_control.cycle.refs import RefError, capture_ref, safe_name
from platform_control.defect_regions import ViewGeometry
from platform_control.imaging import MultispectralCapture
from platform_control.params import CameraParams, load_camera_params

MANIFEST_VERSION = 1


class CaptureStoreError(RefError):
    """A capture that cannot be stored or read back, or an export that cannot be made (names the file)."""


@dataclass(frozen=True)
class StoredCapture:
    """A capture read back from the store. Shape: label (H, W) uint8 or None."""

    ref: str
    capture: MultispectralCapture
    label: np.ndarray | None
    label_classes: tuple[str, ...]
    manifest: dict[str, Any]


@dataclass(frozen=True)
class ExportSummary:
    dataset_dir: Path
    samples: int
    train: int
    val: int
    classes: tuple[str, ...]
    channels: tuple[str, ...]


def stack_channels(channels: Sequence[str], frames: Sequence[np.ndarray], viewpoint_index: int) -> np.ndarray:
    """The frames as one (C, H, W) array; a channel whose frame is not the first channel's size is
    refused by name: a mixed-binning capture cannot be one training sample or one mask."""
    if len(channels) != len(frames):
        raise CaptureStoreError(
            f"viewpoint {viewpoint_index}: {len(frames)} frame(s) for {len(channels)} channel(s)"
        )
    if not frames:
        raise CaptureStoreError(f"viewpoint {viewpoint_index}: capture has no frames")
    arrays = [np.asarray(f) for f in frames]
    first = arrays[0].shape
    for channel, frame in zip(channels, arrays, strict=True):
        if frame.shape != first:
            raise CaptureStoreError(
                f"viewpoint {viewpoint_index}: channel {channel!r} frame is {frame.shape}, but channel "
                f"{channels[0]!r} is {first}; every channel of a capture must have one size"
            )
    return np.stack(arrays)


def frame_metadata(camera: CameraParams, width: int, height: int) -> dict[str, float | int]:
    """Size, sensor pixels per frame pixel and one pixel's side on the blade at the working distance
    (micrometres), by the frame geometry the defect records use (`ViewGeometry.for_frame`)."""
    view = ViewGeometry.for_frame(
        width,
        height,
        sensor_width_px=camera.width_px,
        sensor_height_px=camera.height_px,
        sensor_focal_px=camera.focal_length_px,
        distance_m=camera.working_distance,
    )
    return {
        "width_px": int(width),
        "height_px": int(height),
        "binning": round(camera.focal_length_px / view.focal_px, 6),
        "pixel_footprint_um": round(view.pixel_size_m * 1e6, 4),
    }


class CaptureStore:
    """Captures of every cycle below one data root (`camera`: the cell's camera model, for the frame
    metadata; default `platform_control/config/camera.yaml`)."""

    def __init__(self, home: Path | str, camera: CameraParams | None = None) -> None:
        self.home = Path(home).expanduser().resolve()
        self.files = ContentStore(self.home)
        self.camera = camera or load_camera_params()

    def __repr__(self) -> str:
        return f"CaptureStore({str(self.home)!r})"

    # ------------------------------------------------------------------------------ writing
    def manifest_path(self, part_family: str, cycle_id: str, viewpoint_index: int) -> Path:
        return self.home / capture_ref(part_family, cycle_id, viewpoint_index)

    def put(
        self,
        capture: MultispectralCapture,
        *,
        cycle_id: str,
        blade_serial: str,
        part_family: str,
        label: np.ndarray | None = None,
        label_classes: Sequence[str] = (),
    ) -> str:
        """Store every frame (and the label mask) losslessly, then the manifest; returns the reference."""
        frames = stack_channels(capture.channels, list(capture.frames), capture.viewpoint_index)
        if frames.ndim != 3 or frames.dtype not in (np.uint8, np.uint16):
            raise CaptureStoreError(
                f"viewpoint {capture.viewpoint_index}: frames must be (C, H, W) uint8/uint16 for lossless "
                f"PNG, got {frames.shape} {frames.dtype}"
            )
        height, width = frames.shape[1:]
        label_entry = None
        if label is not None:
            label = np.asarray(label)
            if label.shape != (height, width) or label.dtype != np.uint8:
                raise CaptureStoreError(
                    f"viewpoint {capture.viewpoint_index}: label mask is {label.shape} {label.dtype}, "
                    f"expected ({height}, {width}) uint8"
                )
            if not label_classes:
                raise CaptureStoreError(
                    f"viewpoint {capture.viewpoint_index}: label mask without class names"
                )
            top = int(label.max())
            if top >= len(label_classes) and top != 255:
                raise CaptureStoreError(
                    f"viewpoint {capture.viewpoint_index}: label holds class index {top} but only "
                    f"{len(label_classes)} classes are named"
                )
            stored = self.files.put_image(label)
            label_entry = {"path": stored.path, "sha256": stored.sha256, "classes": list(label_classes)}
        channels = []
        for i, channel in enumerate(capture.channels):
            stored = self.files.put_image(frames[i])
            channels.append(
                {
                    "channel": channel,
                    "exposure_ms": float(capture.exposure_ms[i]),
                    "gain": float(capture.gain[i]),
                    "timestamp": float(capture.timestamps[i]),
                    "path": stored.path,
                    "sha256": stored.sha256,
                }
            )
        manifest = {
            "version": MANIFEST_VERSION,
            "cycle_id": cycle_id,
            "blade_serial": blade_serial,
            "part_family": part_family,
            "viewpoint_index": int(capture.viewpoint_index),
            "stage_axes": [float(v) for v in capture.stage_axes],
            "width": int(width),
            "height": int(height),
            "dtype": str(frames.dtype),
            "frame": frame_metadata(self.camera, width, height),
            "channels": channels,
            "label": label_entry,
            "stored_at": datetime.now(UTC).isoformat(),
        }
        path = self.manifest_path(part_family, cycle_id, capture.viewpoint_index)
        atomic_write_text(path, json.dumps(manifest, indent=1))
        return path.relative_to(self.home).as_posix()

    # ------------------------------------------------------------------------------ reading
    def manifest(self, ref: str) -> dict[str, Any]:
        path = self.files.resolve(ref)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise CaptureStoreError(f"capture {ref!r}: no manifest at {path}") from exc
        except (OSError, ValueError) as exc:
            raise CaptureStoreError(f"capture {ref!r}: manifest {path} unreadable: {exc}") from exc
        if data.get("version") != MANIFEST_VERSION:
            raise CaptureStoreError(f"capture {ref!r}: manifest version {data.get('version')!r} unsupported")
        return data

    def load(self, ref: str, *, channels: Sequence[str] | None = None) -> StoredCapture:
        """Read a capture back, verifying every file against its recorded hash."""
        meta = self.manifest(ref)
        entries = meta["channels"]
        if channels is not None:
            by_name = {c["channel"]: c for c in entries}
            missing = [c for c in channels if c not in by_name]
            if missing:
                raise CaptureStoreError(f"capture {ref!r} has no {missing} frame(s); it has {list(by_name)}")
            entries = [by_name[c] for c in channels]
        try:
            frames = np.stack([self.files.read_image(c["path"], c["sha256"]) for c in entries])
            label = None
            if meta["label"]:
                label = self.files.read_image(meta["label"]["path"], meta["label"]["sha256"], grey=True)
        except Exception as exc:  # NotFoundError / InvalidInputError from the content store
            raise CaptureStoreError(f"capture {ref!r}: {exc}") from exc
        capture = MultispectralCapture(
            viewpoint_index=int(meta["viewpoint_index"]),
            stage_axes=np.asarray(meta["stage_axes"], dtype=float),
            channels=tuple(c["channel"] for c in entries),
            exposure_ms=tuple(float(c["exposure_ms"]) for c in entries),
            gain=tuple(float(c["gain"]) for c in entries),
            timestamps=tuple(float(c["timestamp"]) for c in entries),
            frames=frames,
        )
        classes = tuple(meta["label"]["classes"]) if meta["label"] else ()
        return StoredCapture(ref, capture, label, classes, meta)

    def refs(
        self, part_family: str, *, cycle_id: str | None = None, labelled_only: bool = False
    ) -> list[str]:
        """References of the family's captures (one cycle's, if given), oldest cycle first."""
        base = self.home / "captures" / safe_name(part_family)
        if not base.is_dir():
            return []
        if cycle_id:
            cycles = [base / safe_name(cycle_id)]
        else:  # oldest first: by the time its first capture was stored
            cycles = [p for p in base.iterdir() if p.is_dir() and any(p.glob("v*.json"))]
            cycles.sort(key=lambda p: min(f.stat().st_mtime for f in p.glob("v*.json")))
        out = []
        for cycle_dir in cycles:
            for path in sorted(cycle_dir.glob("v*.json")):
                ref = path.relative_to(self.home).as_posix()
                if labelled_only and not self.manifest(ref)["label"]:
                    continue
                out.append(ref)
        return out

    # ------------------------------------------------------------------------------ export
    def export(
        self, part_family: str, out_dir: Path | None = None, *, val_fraction: float = 0.2
    ) -> ExportSummary:
        """Write the family's labelled captures as an autonad dataset folder (see module docstring)."""
        if not 0 < val_fraction < 1:
            raise CaptureStoreError(f"val_fraction must be in (0, 1), got {val_fraction}")
        refs = self.refs(part_family, labelled_only=True)
        if len(refs) < 2:
            raise CaptureStoreError(
                f"part family {part_family!r} has {len(refs)} labelled capture(s) in "
                f"{self.home / 'captures'}; "
                "a design needs at least 2 (scan labelled blades in the simulator or import annotations)"
            )
        manifests = {ref: self.manifest(ref) for ref in refs}
        first = manifests[refs[0]]
        channels = tuple(c["channel"] for c in first["channels"])
        classes = tuple(first["label"]["classes"])
        for ref, meta in manifests.items():
            if tuple(meta["label"]["classes"]) != classes:
                raise CaptureStoreError(
                    f"capture {ref!r} labels classes {meta['label']['classes']}, not {classes}"
                )
            have = {c["channel"] for c in meta["channels"]}
            if not set(channels) <= have:
                raise CaptureStoreError(f"capture {ref!r} lacks channel(s) {sorted(set(channels) - have)}")
            if meta["dtype"] != first["dtype"]:
                raise CaptureStoreError(f"capture {ref!r} is {meta['dtype']}, others {first['dtype']}")
        root = (
            Path(out_dir)
            if out_dir
            else self.home
            / "datasets"
            / safe_name(part_family)
            / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        )
        if root.exists() and any(root.iterdir()):
            raise CaptureStoreError(f"export folder {root} is not empty")
        cycles = list(dict.fromkeys(m["cycle_id"] for m in manifests.values()))
        stems: dict[str, list[str]] = {"train": [], "val": []}
        if len(cycles) > 1:
            val_cycles = set(cycles[len(cycles) - max(1, round(val_fraction * len(cycles))) :])
        else:
            val_cycles = set()
        step = max(2, round(1 / val_fraction))
        for n, meta in enumerate(manifests.values()):
            stem = f"{safe_name(meta['cycle_id'])}_v{meta['viewpoint_index']:03d}"
            by_name = {c["channel"]: c for c in meta["channels"]}
            for channel in channels:
                self._link(by_name[channel]["path"], root / "images" / stem / f"{channel}.png")
            self._link(meta["label"]["path"], root / "masks" / f"{stem}.png")
            if val_cycles:
                split = "val" if meta["cycle_id"] in val_cycles else "train"
            else:
                split = "val" if n % step == step - 1 else "train"
            stems[split].append(stem)
        if not stems["val"]:  # two captures of one cycle: validate on the last
            stems["val"].append(stems["train"].pop())
        for split, names in stems.items():
            (root / f"{split}.txt").write_text("".join(f"{s}\n" for s in names))
        descriptor = {
            "name": f"bladecell-{safe_name(part_family)}",
            "classes": list(classes),
            "channels": list(channels),
            "bit_depth": 16 if first["dtype"] == "uint16" else 8,
            "splits": {"train": "train.txt", "val": "val.txt"},
        }
        (root / "dataset.yaml").write_text(yaml.safe_dump(descriptor, sort_keys=False))
        return ExportSummary(root, len(refs), len(stems["train"]), len(stems["val"]), classes, channels)

    def _link(self, rel: str, target: Path) -> None:
        source = self.files.resolve(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
