"""Demo records for a fresh installation and for tests: synthetic blades, cycles, captures and defects.

Images are generated (no dataset needed): a shaded blade-like surface per light channel with painted
defects whose class-index mask is known, so overlays, the trend chart and CSV export all have real
content. Everything goes through the same recording API the cell uses.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

import cv2
import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from ..orm import CycleState, Verdict, utcnow
from ..storage import ContentStore
from .recording import CaptureRecord, CycleRecord, DefectRecord, FrameRecord, record_cycle
from .registry import ModelCandidate, deploy, register_candidate
from .transactions import unit_of_work

DEMO_CLASSES = ("background", "crack", "pit", "nick", "corrosion")
MM_PER_PIXEL = 0.05
CHANNELS = (("white", 8.0), ("uv", 20.0))


@dataclass(frozen=True)
class DemoSummary:
    families: int
    blades: int
    cycles: int
    defects: int


def defects_from_mask(
    mask: np.ndarray, viewpoint: int, rng: random.Random, mm_per_px: float
) -> list[DefectRecord]:
    """One defect record per connected region of each class in a class-index mask."""
    found = []
    for class_index in range(1, len(DEMO_CLASSES)):
        binary = (mask == class_index).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            region = (labels == label).astype(np.uint8)
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            contour = tuple((int(p[0][0]), int(p[0][1])) for p in max(contours, key=cv2.contourArea))
            found.append(
                DefectRecord(
                    viewpoint_index=viewpoint,
                    defect_class=DEMO_CLASSES[class_index],
                    confidence=round(rng.uniform(0.55, 0.99), 3),
                    pixel_area=area,
                    area_mm2=round(area * mm_per_px**2, 4),
                    bbox=(x, y, w, h),
                    contour=contour,
                    location_mm=(round(rng.uniform(-20, 20), 2), 0.0, round(rng.uniform(5, 120), 2)),
                    blade_region=rng.choice(
                        ["leading edge", "trailing edge", "pressure side", "suction side", "tip"]
                    ),
                )
            )
    return found


def synthetic_capture(rng: random.Random, size: int, n_defects: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (one per channel) and their class-index mask."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = 90 + 60 * np.sin(xx / size * np.pi) + 20 * (yy / size)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(n_defects):
        class_index = rng.randrange(1, len(DEMO_CLASSES))
        cx, cy = rng.randrange(12, size - 12), rng.randrange(12, size - 12)
        if DEMO_CLASSES[class_index] == "crack":
            length, angle = rng.randrange(10, 30), rng.uniform(0, np.pi)
            end = (int(cx + length * np.cos(angle)), int(cy + length * np.sin(angle)))
            cv2.line(mask, (cx, cy), end, class_index, 2)
        else:
            axes = (rng.randrange(2, 8), rng.randrange(2, 8))
            cv2.ellipse(mask, (cx, cy), axes, rng.uniform(0, 180), 0, 360, class_index, -1)
    frames = []
    nprng = np.random.default_rng(rng.randrange(2**32))
    for gain in (1.0, 0.7):
        frame = base * gain + nprng.normal(0, 4, base.shape)
        frame[mask > 0] *= 0.45
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames, mask


def seed_demo(
    factory: sessionmaker[Session],
    store: ContentStore,
    *,
    families: tuple[str, ...] = ("HPT1-B", "LPT3-A"),
    blades_per_family: int = 5,
    cycles_per_blade: int = 2,
    viewpoints: int = 3,
    weeks: int = 8,
    image_size: int = 128,
    seed: int = 0,
    progress: bool = False,
) -> DemoSummary:
    rng = random.Random(seed)
    now = utcnow()
    total_cycles = total_defects = 0
    plan = [(f, b, c) for f in families for b in range(blades_per_family) for c in range(cycles_per_blade)]
    iterator = plan
    if progress:
        from tqdm import tqdm

        iterator = tqdm(plan, desc="demo cycles", unit="cycle")
    with unit_of_work(factory) as session:
        for family in families:
            version = f"{family.lower()}-demo-v1"
            register_candidate(
                session,
                ModelCandidate(
                    version=version,
                    part_family=family,
                    architecture={"stages": [2, 2, 4, 2], "ops": ["conv", "conv", "transformer", "mlp"]},
                    metrics={"miou": round(rng.uniform(0.6, 0.8), 3), "f1": round(rng.uniform(0.7, 0.9), 3)},
                    latency_ms=round(rng.uniform(8, 30), 2),
                    latency_device="cpu-x86_64",
                    weights_path=f"models/{version}/weights.pt",
                    dataset_snapshot="demo",
                    class_names=list(DEMO_CLASSES),
                ),
            )
            deploy(session, version)
    for family, blade, cycle_index in iterator:
        serial = f"{family}-SN{blade:05d}"
        started = now - timedelta(days=rng.uniform(0, weeks * 7), minutes=cycle_index)
        captures, defects = [], []
        for vp in range(viewpoints):
            frames, mask = synthetic_capture(rng, image_size, rng.randrange(0, 4))
            frame_records = []
            for (channel, exposure), frame in zip(CHANNELS, frames, strict=True):
                stored = store.put_image(frame)
                frame_records.append(
                    FrameRecord(channel=channel, path=stored.path, sha256=stored.sha256, exposure_ms=exposure)
                )
            stored_mask = store.put_image(mask)
            captures.append(
                CaptureRecord(
                    viewpoint_index=vp,
                    stage_pose=(0.0, 0.0, 0.05 * vp, 0.0, 30.0 * vp),
                    width=image_size,
                    height=image_size,
                    frames=tuple(frame_records),
                    mask_path=stored_mask.path,
                    mask_sha256=stored_mask.sha256,
                    captured_at=started + timedelta(seconds=5 * vp),
                )
            )
            defects.extend(defects_from_mask(mask, vp, rng, MM_PER_PIXEL))
        verdict = (
            Verdict.FAIL
            if any(d.area_mm2 > 0.1 and d.defect_class == "crack" for d in defects)
            else (Verdict.REVIEW if defects else Verdict.PASS)
        )
        record = CycleRecord(
            cycle_uuid=uuid.UUID(int=rng.getrandbits(128)),
            blade_serial=serial,
            part_family=family,
            cell=rng.choice(["cell-1", "cell-2"]),
            operator="demo",
            state=CycleState.DONE,
            verdict=verdict,
            started_at=started,
            finished_at=started + timedelta(seconds=rng.uniform(60, 240)),
            stage_timings={"loading": 8.0, "scanning": 40.0, "detecting": 3.0, "recording": 0.5},
            model_version=f"{family.lower()}-demo-v1",
            captures=tuple(captures),
            defects=tuple(defects),
        )
        with unit_of_work(factory) as session:
            record_cycle(session, record)
        total_cycles += 1
        total_defects += len(defects)
    return DemoSummary(len(families), len(families) * blades_per_family, total_cycles, total_defects)
