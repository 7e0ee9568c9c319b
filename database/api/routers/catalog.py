"""Part families, blades and blade history (engineers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from ...patterns import SERIAL_PATTERN
from ...services import catalog
from ..deps import Engineer, SessionDep
from ..schemas.catalog import BladeHistoryOut, BladeIn, BladeOut, PartFamilyIn, PartFamilyOut
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
    return catalog.list_blades(session, serial_prefix, part_family, limit, offset)


@router.post(
    "/blades",
    response_model=BladeOut,
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Register a blade (a duplicate serial is a 409)",
)
def create_blade(body: BladeIn, session: SessionDep, _: Engineer) -> BladeOut:
    blade = catalog.create_blade(session, body.serial, body.part_family)
    result = catalog.blade_out(blade, body.part_family.strip())
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
    return catalog.blade_history(session, serial)
