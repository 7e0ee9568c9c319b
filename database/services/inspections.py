"""A recorded inspection cycle with its captures, as the API shows it (the query behind
`GET /inspections/{id}`, which used to live in the cycles router)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..api.schemas.cycles import CaptureOut, InspectionOut
from ..errors import NotFoundError
from ..orm import Blade, CycleRequest, DetectionModel, InspectionCycle, PartFamily


def inspection_detail(session: Session, inspection_id: int) -> InspectionOut:
    """The cycle, its blade, family, model version, the request it answered and its captures."""
    row = session.execute(
        select(
            InspectionCycle, Blade.serial, PartFamily.code, DetectionModel.version, CycleRequest.request_uuid
        )
        .join(Blade, Blade.id == InspectionCycle.blade_id)
        .join(PartFamily, PartFamily.id == Blade.part_family_id)
        .outerjoin(DetectionModel, DetectionModel.id == InspectionCycle.model_id)
        .outerjoin(CycleRequest, CycleRequest.id == InspectionCycle.request_id)
        .where(InspectionCycle.id == inspection_id)
    ).first()
    if row is None:
        raise NotFoundError("inspection cycle", inspection_id)
    cycle, serial, family_code, model_version, request_uuid = row
    return InspectionOut(
        id=cycle.id,
        cycle_uuid=cycle.cycle_uuid,
        blade_serial=serial,
        part_family=family_code,
        cell=cycle.cell,
        operator=cycle.operator,
        state=cycle.state,
        verdict=cycle.verdict,
        started_at=cycle.started_at,
        finished_at=cycle.finished_at,
        duration_s=cycle.duration_s,
        stage_timings=cycle.stage_timings,
        model_version=model_version,
        defect_count=cycle.defect_count,
        request_uuid=request_uuid,
        captures=[CaptureOut.model_validate(c) for c in cycle.captures],
    )
