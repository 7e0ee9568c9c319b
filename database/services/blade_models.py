"""Part families' blade models (mesh + scan viewpoints) and a blade's defects in blade coordinates.

The cell registers a family's blade model (`BladeModelStore.save`; the mesh is a compact binary file
in the content store, `database.blade_mesh`), so the API and its pages never need the blade
generator or a CAD reader; the blade map then reads `blade_map(serial)`: every recorded cycle of the
blade, oldest first, with its defects' recorded locations, so growth across cycles is visible.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from .. import blade_mesh
from ..api.schemas.station import (
    BladeMapOut,
    BladeModelOut,
    CameraFrustum,
    MapCycle,
    MapDefect,
    ViewpointPose,
)
from ..errors import NotFoundError
from ..orm import BladeModel, Capture, Defect, DetectionModel, InspectionCycle, PartFamily
from ..storage import ContentStore
from .catalog import ensure_family, get_blade, get_family
from .transactions import session_factory_for, unit_of_work

MAX_CYCLES = 20  # the blade map's history: the newest cycles of the blade


def save(
    session: Session,
    store: ContentStore,
    family_code: str,
    vertices_mm: np.ndarray,
    faces: np.ndarray,
    *,
    viewpoints: list[ViewpointPose],
    camera: CameraFrustum | None,
    source: str,
) -> BladeModel:
    """Store (or replace) the family's blade model; the same mesh bytes are one file."""
    data = blade_mesh.encode(vertices_mm, faces)
    stored = store.put_bytes(data, ".bin")
    family = ensure_family(session, family_code)
    row = session.scalar(select(BladeModel).where(BladeModel.part_family_id == family.id))
    if row is None:
        row = BladeModel(part_family_id=family.id)
        session.add(row)
    row.mesh_path, row.mesh_sha256 = stored.path, stored.sha256
    row.vertex_count, row.face_count = len(vertices_mm), len(faces)
    row.viewpoints = [v.model_dump() for v in viewpoints]
    row.camera = camera.model_dump() if camera else {}
    row.source = source[:200]
    session.flush()
    return row


def get(session: Session, family_code: str) -> tuple[PartFamily, BladeModel]:
    family = get_family(session, family_code)
    row = session.scalar(select(BladeModel).where(BladeModel.part_family_id == family.id))
    if row is None:
        raise NotFoundError("blade model of part family", family.code)
    return family, row


def to_out(family: PartFamily, row: BladeModel) -> BladeModelOut:
    return BladeModelOut(
        part_family=family.code,
        vertex_count=row.vertex_count,
        face_count=row.face_count,
        mesh_url=f"/api/v1/blade-meshes/{row.mesh_sha256}.bin",
        mesh_sha256=row.mesh_sha256,
        source=row.source,
        camera=CameraFrustum.model_validate(row.camera) if row.camera else None,
        viewpoints=[ViewpointPose.model_validate(v) for v in row.viewpoints or []],
        updated_at=row.updated_at,
    )


def by_mesh(session: Session, sha256: str) -> BladeModel:
    row = session.scalar(select(BladeModel).where(BladeModel.mesh_sha256 == sha256).limit(1))
    if row is None:
        raise NotFoundError("blade mesh", sha256)
    return row


def has_model(session: Session) -> set[int]:
    """Family ids with a blade model."""
    return set(session.scalars(select(BladeModel.part_family_id)))


def blade_map(session: Session, serial: str) -> BladeMapOut:
    blade = get_blade(session, serial)
    family = session.get(PartFamily, blade.part_family_id)
    cycles = list(
        session.scalars(
            select(InspectionCycle)
            .where(InspectionCycle.blade_id == blade.id)
            .order_by(InspectionCycle.started_at.desc(), InspectionCycle.id.desc())
            .limit(MAX_CYCLES)
        )
    )[::-1]
    ids = [c.id for c in cycles]
    viewpoints: dict[int, list[int]] = {i: [] for i in ids}
    for cycle_id, index in session.execute(
        select(Capture.cycle_id, Capture.viewpoint_index)
        .where(Capture.cycle_id.in_(ids))
        .order_by(Capture.viewpoint_index)
    ):
        viewpoints[cycle_id].append(index)
    defects: dict[int, list[MapDefect]] = {i: [] for i in ids}
    rows = session.execute(
        select(Defect, Capture.viewpoint_index)
        .join(Capture, Capture.id == Defect.capture_id)
        .where(Defect.cycle_id.in_(ids))
        .order_by(Defect.id)
    )
    for d, index in rows:
        located = None not in (d.location_x_mm, d.location_y_mm, d.location_z_mm)
        defects[d.cycle_id].append(
            MapDefect(
                id=d.id,
                defect_class=d.defect_class,
                area_mm2=d.area_mm2,
                confidence=d.confidence,
                location_mm=[d.location_x_mm, d.location_y_mm, d.location_z_mm] if located else None,
                blade_region=d.blade_region,
                viewpoint_index=index,
                review_status=d.review_status.value,
            )
        )
    versions = dict(
        session.execute(
            select(DetectionModel.id, DetectionModel.version).where(
                DetectionModel.id.in_({c.model_id for c in cycles if c.model_id})
            )
        ).all()
    )
    return BladeMapOut(
        blade_serial=blade.serial,
        part_family=family.code if family else "",
        cycles=[
            MapCycle(
                cycle_id=c.id,
                started_at=c.started_at,
                verdict=c.verdict.value,
                model_version=versions.get(c.model_id),
                viewpoints=viewpoints[c.id],
                defects=defects[c.id],
            )
            for c in cycles
        ],
    )


class BladeModelStore:
    """The cell's handle: register a family's blade model in one transaction."""

    def __init__(
        self, store: ContentStore, target: sessionmaker[Session] | Engine | str | None = None
    ) -> None:
        self.store = store
        self._factory = session_factory_for(target)

    def save(
        self,
        family_code: str,
        vertices_mm: np.ndarray,
        faces: np.ndarray,
        *,
        viewpoints: list[ViewpointPose],
        camera: CameraFrustum | None,
        source: str,
    ) -> BladeModelOut:
        with unit_of_work(self._factory, immediate=True) as session:
            row = save(
                session,
                self.store,
                family_code,
                vertices_mm,
                faces,
                viewpoints=viewpoints,
                camera=camera,
                source=source,
            )
            return to_out(session.get(PartFamily, row.part_family_id), row)

    def has(self, family_code: str) -> bool:
        with self._factory() as session:
            try:
                get(session, family_code)
            except NotFoundError:
                return False
            return True
