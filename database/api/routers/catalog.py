"""Part families, blades and blade history (engineers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from ...services import catalog
from ...services.catalog import SERIAL_PATTERN
from ..deps import Engineer, SessionDep
from ..schemas.catalog import BladeHistoryOut, BladeIn, BladeOut, CycleSummaryOut, PartFamilyIn, PartFamilyOut
from ..schemas.common import CONFLICT, ERROR_RESPONSES, NO_NUL, NOT_FOUND

router = APIRouter(tags=["blades"], responses=ERROR_RESPONSES)


@router.get("/part-families", response_model=list[PartFamilyOut], summary="All part families")
def list_part_families(session: SessionDep, _: Engineer) -> list:
    return catalog.list_families(session)


@router.post(
    "/part-families",
    response_model=PartFamilyOut,
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Register a part family",
)
def create_part_family(body: PartFamilyIn, session: SessionDep, _: Engineer) -> PartFamilyOut:
    family = catalog.create_family(session, body.code, body.name)
    result = PartFamilyOut.model_validate(family)
    session.commit()
    return result


@router.get("/blades", response_model=list[BladeOut], summary="Blades, by serial prefix and family")
def list_blades(
    session: SessionDep,
    _: Engineer,
    serial_prefix: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    part_family: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[BladeOut]:
    rows = catalog.list_blades(session, serial_prefix, part_family, limit, offset)
    return [BladeOut(id=b.id, serial=b.serial, part_family=code, created_at=b.created_at) for b, code in rows]


@router.post(
    "/blades",
    response_model=BladeOut,
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Register a blade (a duplicate serial is a 409)",
)
def create_blade(body: BladeIn, session: SessionDep, _: Engineer) -> BladeOut:
    blade = catalog.create_blade(session, body.serial, body.part_family)
    result = BladeOut(
        id=blade.id, serial=blade.serial, part_family=body.part_family.strip(), created_at=blade.created_at
    )
    session.commit()
    return result


@router.get(
    "/blades/{serial:path}/history",
    response_model=BladeHistoryOut,
    responses=NOT_FOUND,
    summary="Every cycle of one blade, newest first",
)
def blade_history(
    serial: Annotated[str, Path(pattern=SERIAL_PATTERN, description="blade serial (URL-encoded)")],
    session: SessionDep,
    _: Engineer,
) -> BladeHistoryOut:
    blade, family, cycles = catalog.blade_history(session, serial)
    return BladeHistoryOut(
        blade=BladeOut(
            id=blade.id, serial=blade.serial, part_family=family.code, created_at=blade.created_at
        ),
        cycles=[CycleSummaryOut.model_validate(c) for c in cycles],
    )
