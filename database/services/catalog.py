"""Part families and blades: registration (duplicate serials are a clear conflict) and blade history."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..api.schemas.catalog import BladeHistoryOut, BladeOut, CycleSummaryOut
from ..errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from ..orm import Blade, Defect, DetectionModel, InspectionCycle, PartFamily
from ..patterns import CODE_PATTERN
from ..serials import normalize_serial


def _check(field: str, value: str, pattern: str, what: str) -> str:
    value = value.strip()
    if not re.fullmatch(pattern, value):
        raise InvalidInputError(field, f"{value!r} is not a valid {what}")
    return value


def get_family(session: Session, code: str) -> PartFamily:
    family = get_family_or_none(session, code)
    if family is None:
        raise NotFoundError("part family", code)
    return family


def get_family_or_none(session: Session, code: str) -> PartFamily | None:
    return session.scalar(select(PartFamily).where(PartFamily.code == code))


def create_family(session: Session, code: str, name: str = "") -> PartFamily:
    code = _check("code", code, CODE_PATTERN, "part family code")
    if session.scalar(select(PartFamily.id).where(PartFamily.code == code)) is not None:
        raise ConflictError(f"part family {code!r} already exists")
    family = PartFamily(code=code, name=name)
    session.add(family)
    session.flush()
    return family


def ensure_family(session: Session, code: str) -> PartFamily:
    """The family with `code`, created if new (a first cycle of a new design creates its family)."""
    code = _check("part_family", code, CODE_PATTERN, "part family code")
    family = session.scalar(select(PartFamily).where(PartFamily.code == code))
    if family is not None:
        return family
    try:
        with session.begin_nested():
            family = PartFamily(code=code)
            session.add(family)
    except IntegrityError:  # created concurrently by another cell: use theirs
        family = session.scalar(select(PartFamily).where(PartFamily.code == code))
        assert family is not None
    return family


def list_families(session: Session) -> list[PartFamily]:
    return list(session.scalars(select(PartFamily).order_by(PartFamily.code)))


def get_blade(session: Session, serial: str) -> Blade:
    """The blade whose serial is `serial` in its normal form (any variant of it finds the blade)."""
    try:
        serial = normalize_serial(serial)
    except InvalidInputError:  # text that cannot be a serial names no blade
        raise NotFoundError("blade", serial) from None
    blade = session.scalar(select(Blade).where(Blade.serial == serial))
    if blade is None:
        raise NotFoundError("blade", serial)
    return blade


def create_blade(session: Session, serial: str, family_code: str) -> Blade:
    """Register a new blade; a serial that already exists is a conflict naming its family."""
    serial = normalize_serial(serial, "serial")
    existing = session.scalar(select(Blade).where(Blade.serial == serial))
    if existing is not None:
        family = session.get(PartFamily, existing.part_family_id)
        raise ConflictError(f"blade serial {serial!r} is already registered (part family {family.code!r})")
    family = ensure_family(session, family_code)
    blade = Blade(serial=serial, part_family_id=family.id)
    session.add(blade)
    session.flush()
    return blade


def ensure_blade(
    session: Session, serial: str, family_code: str, *, register: bool = True
) -> tuple[Blade, PartFamily]:
    """The blade with `serial`, registered if new; a serial recorded under another family is a conflict.

    `register=False` (a caller whose role may not edit the catalog) refuses a new blade or family
    with `ForbiddenError` instead of creating it, as the catalog routes would.
    """
    serial = normalize_serial(serial)
    code = _check("part_family", family_code, CODE_PATTERN, "part family code")
    family = ensure_family(session, code) if register else get_family_or_none(session, code)
    blade = session.scalar(select(Blade).where(Blade.serial == serial))
    if blade is None and not register:
        what = f"part family {code!r}" if family is None else f"blade {serial!r}"
        raise ForbiddenError(f"{what} is not registered; {_ASK_ENGINEER}")
    if blade is None:
        try:
            with session.begin_nested():
                blade = Blade(serial=serial, part_family_id=family.id)
                session.add(blade)
        except IntegrityError:
            blade = session.scalar(select(Blade).where(Blade.serial == serial))
            assert blade is not None
    if family is None or blade.part_family_id != family.id:
        actual = session.get(PartFamily, blade.part_family_id)
        raise ConflictError(
            f"blade serial {serial!r} is registered as part family {actual.code!r}, not {code!r}"
        )
    return blade, family


_ASK_ENGINEER = "registering it needs the engineer role: ask an engineer to register it (POST /api/v1/blades)"


def list_blades(
    session: Session, serial_prefix: str | None, family_code: str | None, limit: int, offset: int
) -> list[BladeOut]:
    query = select(Blade, PartFamily.code).join(PartFamily, PartFamily.id == Blade.part_family_id)
    if serial_prefix:
        try:
            serial_prefix = normalize_serial(serial_prefix, "serial_prefix")
        except InvalidInputError:  # no serial starts with text that cannot be part of one
            return []
        escaped = serial_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Blade.serial.like(f"{escaped}%", escape="\\"))
    if family_code:
        query = query.where(PartFamily.code == family_code)
    rows = session.execute(query.order_by(Blade.serial).limit(limit).offset(offset))
    return [blade_out(blade, code) for blade, code in rows]


def blade_history(session: Session, serial: str) -> BladeHistoryOut:
    """Every recorded cycle of a blade, newest first, with its defect counts per class."""
    blade = get_blade(session, serial)
    family = session.get(PartFamily, blade.part_family_id)
    cycles = session.execute(
        select(InspectionCycle, DetectionModel.version)
        .outerjoin(DetectionModel, DetectionModel.id == InspectionCycle.model_id)
        .where(InspectionCycle.blade_id == blade.id)
        .order_by(InspectionCycle.started_at.desc(), InspectionCycle.id.desc())
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for cycle_id, defect_class, count in session.execute(
        select(Defect.cycle_id, Defect.defect_class, func.count())
        .where(Defect.blade_id == blade.id)
        .group_by(Defect.cycle_id, Defect.defect_class)
    ):
        counts.setdefault(cycle_id, {})[defect_class] = count
    summaries = [
        CycleSummaryOut(
            id=c.id,
            cycle_uuid=str(c.cycle_uuid),
            cell=c.cell,
            operator=c.operator,
            state=c.state.value,
            verdict=c.verdict.value,
            started_at=c.started_at,
            finished_at=c.finished_at,
            duration_s=c.duration_s,
            model_version=version,
            defect_count=c.defect_count,
            defects_by_class=dict(sorted(counts.get(c.id, {}).items())),
        )
        for c, version in cycles
    ]
    return BladeHistoryOut(blade=blade_out(blade, family.code), cycles=summaries)


def blade_out(blade: Blade, family_code: str) -> BladeOut:
    return BladeOut(id=blade.id, serial=blade.serial, part_family=family_code, created_at=blade.created_at)
