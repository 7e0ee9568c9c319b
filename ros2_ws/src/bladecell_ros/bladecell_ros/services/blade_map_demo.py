"""A blade with many defects on its real surface, over several cycles: for trying the blade map, its
browser test and its render benchmark (`benchmarks/station.py`).

Why here: it combines the part-family catalog (the generated blade and its scan cameras, registered
through the cell's own `BladeModelPublisher`) with the records. Defects are sampled uniformly on the
blade's surface; each later cycle has the same defects, grown, so the history shows growth.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np

from database.orm import CycleState, Verdict
from database.services import CaptureRecord, CycleRecord, CycleRecorder, DefectRecord, FrameRecord
from database.services.blade_models import BladeModelStore
from database.storage import ContentStore
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.part_families import PartFamilyCatalog, load_part_families

from .blade_models import BladeModelPublisher

CLASSES = ("burn", "coating_loss", "crack", "nick", "dent", "pitting")


def seed_blade_map(
    factory,
    store: ContentStore,
    *,
    serial: str = "SN-MAP",
    family: str = "HPT-MAP",
    defects: int = 100,
    cycles: int = 2,
    viewpoints: int = 6,
    seed: int = 5,
) -> list[int]:
    """Register the family's blade model and record `cycles` cycles of one blade; returns cycle ids."""
    import trimesh

    config = load_part_families(f"families:\n  {family}: {{preset: small, seed: 3}}\n")
    catalog = PartFamilyCatalog(
        config, load_camera_params(), load_stage_params(), load_cell_layout(), max_viewpoints=viewpoints
    )
    if not BladeModelPublisher(catalog, BladeModelStore(store, factory)).ensure(family):
        raise RuntimeError(f"the blade model of {family} could not be registered (see the log)")
    points, _ = trimesh.sample.sample_surface(catalog.blade_model(family).load(), defects, seed=seed)
    points = np.round(points * 1e3, 3)
    image = store.put_image(np.random.default_rng(seed).integers(40, 200, (64, 64), dtype=np.uint8))
    frame = FrameRecord(channel="white", path=image.path, sha256=image.sha256, exposure_ms=5.0)
    captures = tuple(
        CaptureRecord(viewpoint_index=v, stage_pose=(0.0,) * 5, width=64, height=64, frames=(frame,))
        for v in range(viewpoints)
    )
    recorder = CycleRecorder(factory)
    t0 = datetime(2026, 9, 1, 8, tzinfo=UTC)
    ids = []
    for k in range(cycles):
        grow = 1.0 + 0.8 * k
        records = tuple(
            DefectRecord(
                viewpoint_index=i % viewpoints,
                defect_class=CLASSES[i % len(CLASSES)],
                confidence=0.9,
                pixel_area=20,
                area_mm2=round(0.3 + (i % 9) * 0.7 * grow, 2),
                bbox=(10, 10, 8, 4),
                location_mm=tuple(float(v) for v in p),
            )
            for i, p in enumerate(points)
        )
        started = t0 + timedelta(days=40 * k)
        result = recorder.record(
            CycleRecord(
                cycle_uuid=uuid.uuid4(),
                blade_serial=serial,
                part_family=family,
                cell="cell-1",
                state=CycleState.DONE,
                verdict=Verdict.FAIL if records else Verdict.PASS,
                started_at=started,
                finished_at=started + timedelta(seconds=90),
                captures=captures,
                defects=records,
            )
        )
        ids.append(result.cycle_id)
    return ids
