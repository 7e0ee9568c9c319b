"""Importing training annotations: an image and its class-index mask, validated before any write."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from ...services import annotations as annotation_service
from ..deps import Engineer, SessionDep, SettingsDep, StoreDep
from ..schemas.annotations import AnnotationOut
from ..schemas.common import CONFLICT, ERROR_RESPONSES, NO_NUL, NOT_FOUND, IdPath, Message

CLASS_LIST_PATTERN = r"^ *[a-z][a-z0-9_]{0,39} *(, *[a-z][a-z0-9_]{0,39} *)+$"
router = APIRouter(prefix="/annotations", tags=["annotations"], responses=ERROR_RESPONSES)


def _out(row, family_code: str) -> AnnotationOut:
    return AnnotationOut.model_validate({**row.as_dict(), "part_family": family_code})


@router.post(
    "",
    response_model=AnnotationOut,
    status_code=status.HTTP_201_CREATED,
    responses={**CONFLICT, **NOT_FOUND, 413: {"model": Message, "description": "upload too large"}},
    summary="Import an annotation (image + class-index mask of the same size)",
)
def import_annotation(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    user: Engineer,
    image: Annotated[UploadFile, File(description="the image (PNG, TIFF, BMP or JPEG)")],
    mask: Annotated[UploadFile, File(description="8-bit single-channel PNG, pixel value = class index")],
    part_family: Annotated[str, Form(min_length=1, max_length=64, pattern=NO_NUL)],
    class_names: Annotated[
        str,
        Form(
            max_length=4000,
            pattern=CLASS_LIST_PATTERN,
            description="comma-separated class names in index order, background first: background,crack,pit",
        ),
    ],
    blade_serial: Annotated[str | None, Form(max_length=64, pattern=NO_NUL)] = None,
    capture_id: Annotated[int | None, Form(ge=1, le=2**63 - 1)] = None,
    note: Annotated[str, Form(max_length=2000, pattern=NO_NUL)] = "",
) -> AnnotationOut:
    names = annotation_service.parse_class_names(class_names)
    row = annotation_service.import_annotation(
        session,
        store,
        part_family=part_family,
        image_bytes=image.file.read(),
        mask_bytes=mask.file.read(),
        class_names=names,
        max_pixels=settings.max_image_pixels,
        blade_serial=blade_serial or None,
        capture_id=capture_id,
        note=note,
        created_by=user,
    )
    result = _out(row, part_family.strip())
    # A refused commit leaves the files unreferenced; `bladecell db gc-files` collects them, never
    # this request (a concurrent import of the same bytes may be the one that commits).
    session.commit()
    return result


@router.get("", response_model=list[AnnotationOut], summary="Imported annotations, newest first")
def list_annotations(
    session: SessionDep,
    _: Engineer,
    part_family: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AnnotationOut]:
    rows = annotation_service.list_annotations(session, part_family, limit, offset)
    return [_out(a, code) for a, code in rows]


@router.get("/{annotation_id}", response_model=AnnotationOut, responses=NOT_FOUND, summary="One annotation")
def annotation(annotation_id: IdPath, session: SessionDep, _: Engineer) -> AnnotationOut:
    row, code = annotation_service.get_annotation(session, annotation_id)
    return _out(row, code)
