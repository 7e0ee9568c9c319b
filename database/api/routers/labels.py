"""Labels from review (engineers): correct a detection, read its capture's current label, snapshots."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import cv2
from fastapi import APIRouter, Query, Response, status

from ...errors import InvalidInputError
from ...orm import PartFamily
from ...services import labels as label_service
from ...services.defects import get_defect
from ..deps import Engineer, SessionDep, SettingsDep, StoreDep
from ..schemas.common import ERROR_RESPONSES, NO_NUL, NOT_FOUND, BigIdPath, IdPath
from ..schemas.labels import CaptureCorrectionIn, CorrectionIn, CorrectionOut, SnapshotIn, SnapshotOut

router = APIRouter(tags=["labels"], responses=ERROR_RESPONSES)


def _snapshot_out(session, row, with_items: bool = False) -> SnapshotOut:
    family = session.get(PartFamily, row.part_family_id)
    data = {**row.as_dict(), "part_family": family.code}
    if not with_items:
        data.pop("items")
    return SnapshotOut.model_validate(data)


@router.post(
    "/defects/{defect_id}/corrections",
    response_model=CorrectionOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    summary="Correct a detection: confirm, false positive, class change or painted mask (a new label)",
)
def correct(
    defect_id: BigIdPath,
    body: CorrectionIn,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    user: Engineer,
) -> CorrectionOut:
    mask_bytes = _decoded(body.mask_png) if body.mask_png is not None else None
    row = label_service.correct_defect(
        session,
        store,
        defect_id,
        body.kind,
        user,
        to_class=body.to_class,
        mask_bytes=mask_bytes,
        note=body.note,
        max_pixels=settings.max_image_pixels,
    )
    out = CorrectionOut.model_validate(label_service.correction_out(session, row))
    session.commit()
    return out


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError("mask_png", f"not base64: {exc}") from exc


@router.post(
    "/captures/{capture_id}/corrections",
    response_model=CorrectionOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    summary="Paint the label of a whole capture (e.g. defects the model missed)",
)
def correct_capture(
    capture_id: BigIdPath,
    body: CaptureCorrectionIn,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    user: Engineer,
) -> CorrectionOut:
    row = label_service.correct_capture(
        session,
        store,
        capture_id,
        _decoded(body.mask_png),
        user,
        note=body.note,
        max_pixels=settings.max_image_pixels,
    )
    out = CorrectionOut.model_validate(label_service.correction_out(session, row))
    session.commit()
    return out


@router.get(
    "/defects/{defect_id}/corrections",
    response_model=list[CorrectionOut],
    responses=NOT_FOUND,
    summary="Every correction of a detection, newest first",
)
def corrections(defect_id: BigIdPath, session: SessionDep, _: Engineer) -> list[CorrectionOut]:
    get_defect(session, defect_id)
    rows = label_service.list_corrections(session, defect_id=defect_id)
    return [CorrectionOut.model_validate(label_service.correction_out(session, r)) for r in rows]


@router.get(
    "/defects/{defect_id}/label.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "class-index PNG"}, **NOT_FOUND},
    summary="The current label of the defect's capture (class-index PNG) and its classes",
)
def label_png(defect_id: BigIdPath, session: SessionDep, store: StoreDep, _: Engineer) -> Response:
    from ...orm import Capture

    defect = get_defect(session, defect_id)
    capture = session.get(Capture, defect.capture_id)
    classes = label_service.model_classes(session, defect.model_id, defect.part_family_id)
    label = label_service.current_label(session, store, capture, classes)
    _, png = cv2.imencode(".png", label.mask)
    return Response(
        png.tobytes(),
        media_type="image/png",
        headers={"X-Label-Classes": ",".join(label.class_names), "Cache-Control": "no-store"},
    )


@router.post(
    "/snapshots",
    response_model=SnapshotOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    summary="Freeze the family's current labels as a hashed dataset snapshot",
)
def create_snapshot(body: SnapshotIn, session: SessionDep, store: StoreDep, user: Engineer) -> SnapshotOut:
    row = label_service.create_snapshot(session, store, body.part_family, user, body.note)
    out = _snapshot_out(session, row)
    session.commit()
    return out


@router.get("/snapshots", response_model=list[SnapshotOut], summary="Snapshots of a family, newest first")
def list_snapshots(
    session: SessionDep,
    _: Engineer,
    part_family: Annotated[str, Query(min_length=1, max_length=64, pattern=NO_NUL)],
) -> list[SnapshotOut]:
    from sqlalchemy import select

    from ...orm import DatasetSnapshot

    rows = session.scalars(
        select(DatasetSnapshot)
        .join(PartFamily, PartFamily.id == DatasetSnapshot.part_family_id)
        .where(PartFamily.code == part_family)
        .order_by(DatasetSnapshot.id.desc())
    )
    return [_snapshot_out(session, r) for r in rows]


@router.get(
    "/snapshots/{snapshot_id}", response_model=SnapshotOut, responses=NOT_FOUND, summary="One snapshot, items"
)
def snapshot(snapshot_id: IdPath, session: SessionDep, _: Engineer) -> SnapshotOut:
    return _snapshot_out(session, label_service.get_snapshot(session, snapshot_id), with_items=True)
