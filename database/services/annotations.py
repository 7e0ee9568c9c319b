"""Importing training annotations (image + class-index mask), validated before anything is written.

Checks: both files decode, the mask is single-channel, it has exactly the image's height and width, and
every mask value names a class. Files are stored by content hash and never deleted here: a concurrent
import of the same bytes, or an earlier annotation sharing a mask, may reference them. If the database
write fails, what is left unreferenced is removed by `file_gc.collect_garbage`, which checks the database.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ConflictError, InvalidInputError, NotFoundError
from ..orm import Annotation, AnnotationSource, Capture, PartFamily, User
from ..storage import ContentStore, decode_upload, sha256_of
from .catalog import ensure_family, get_blade

CLASS_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


def parse_class_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) < 2:
        raise InvalidInputError(
            "class_names", "give at least two comma-separated names, index 0 first (background)"
        )
    if len(names) > 255:
        raise InvalidInputError("class_names", f"{len(names)} classes; an 8-bit mask holds at most 255")
    bad = [n for n in names if not re.fullmatch(CLASS_NAME_PATTERN, n)]
    if bad:
        raise InvalidInputError("class_names", f"invalid names {bad}: lower-case letters, digits and '_'")
    if len(set(names)) != len(names):
        raise InvalidInputError("class_names", f"duplicate names in {names}")
    return names


def validate_pair(
    image_bytes: bytes, mask_bytes: bytes, class_names: list[str], *, max_pixels: int
) -> tuple[np.ndarray, np.ndarray]:
    image = decode_upload(image_bytes, "image", grey=False, max_pixels=max_pixels)
    mask = decode_upload(mask_bytes, "mask", grey=False, max_pixels=max_pixels)
    if mask.ndim != 2:
        raise InvalidInputError(
            "mask", f"must be a single-channel class-index image, got {mask.shape[2]} channels"
        )
    if mask.dtype != np.uint8:
        raise InvalidInputError("mask", f"must be 8-bit, got {mask.dtype}")
    if mask.shape != image.shape[:2]:
        raise InvalidInputError(
            "mask",
            f"size {mask.shape[1]}x{mask.shape[0]} differs from the image's "
            f"{image.shape[1]}x{image.shape[0]}",
        )
    top = int(mask.max())
    if top >= len(class_names):
        values = sorted(int(v) for v in np.unique(mask) if v >= len(class_names))[:10]
        raise InvalidInputError(
            "mask", f"values {values} have no class (class_names has {len(class_names)} entries)"
        )
    return image, mask


def import_annotation(
    session: Session,
    store: ContentStore,
    *,
    part_family: str,
    image_bytes: bytes,
    mask_bytes: bytes,
    class_names: list[str],
    max_pixels: int,
    blade_serial: str | None = None,
    capture_id: int | None = None,
    note: str = "",
    source: AnnotationSource = AnnotationSource.IMPORTED,
    created_by: User | None = None,
) -> Annotation:
    """Validate and store the files; returns the new (flushed, uncommitted) row. The caller commits."""
    image, mask = validate_pair(image_bytes, mask_bytes, class_names, max_pixels=max_pixels)
    image_file, mask_file = _as_png(image_bytes, image), _as_png(mask_bytes, mask)
    image_sha, mask_sha = sha256_of(image_file), sha256_of(mask_file)
    existing = session.scalar(
        select(Annotation.id).where(Annotation.image_sha256 == image_sha, Annotation.mask_sha256 == mask_sha)
    )
    if existing is not None:
        raise ConflictError(f"this image and mask were already imported as annotation {existing}")
    family = ensure_family(session, part_family)
    blade_id = None
    if blade_serial:
        blade = get_blade(session, blade_serial)
        if blade.part_family_id != family.id:
            raise InvalidInputError("blade_serial", f"blade {blade_serial!r} is not a {family.code!r} blade")
        blade_id = blade.id
    if capture_id is not None and session.get(Capture, capture_id) is None:
        raise NotFoundError("capture", capture_id)
    image_stored = store.put_bytes(image_file, ".png")
    mask_stored = store.put_bytes(mask_file, ".png")
    present = [class_names[int(v)] for v in np.unique(mask) if int(v) > 0]
    row = Annotation(
        part_family_id=family.id,
        blade_id=blade_id,
        capture_id=capture_id,
        image_path=image_stored.path,
        image_sha256=image_sha,
        mask_path=mask_stored.path,
        mask_sha256=mask_sha,
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        class_names=class_names,
        classes_present=present,
        source=source,
        note=note,
        created_by_id=created_by.id if created_by else None,
    )
    session.add(row)
    session.flush()
    return row


def _as_png(data: bytes, decoded: np.ndarray) -> bytes:
    """Keep PNG uploads byte for byte; re-encode other formats losslessly as PNG."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data
    ok, encoded = cv2.imencode(".png", decoded)
    if not ok:
        raise InvalidInputError("image", "cannot re-encode the upload as PNG")
    return encoded.tobytes()


def list_annotations(
    session: Session, family_code: str | None, limit: int, offset: int
) -> list[tuple[Annotation, str]]:
    query = select(Annotation, PartFamily.code).join(PartFamily, PartFamily.id == Annotation.part_family_id)
    if family_code:
        query = query.where(PartFamily.code == family_code)
    rows = session.execute(query.order_by(Annotation.id.desc()).limit(limit).offset(offset))
    return [(a, code) for a, code in rows]


def get_annotation(session: Session, annotation_id: int) -> tuple[Annotation, str]:
    row = session.execute(
        select(Annotation, PartFamily.code)
        .join(PartFamily, PartFamily.id == Annotation.part_family_id)
        .where(Annotation.id == annotation_id)
    ).first()
    if row is None:
        raise NotFoundError("annotation", annotation_id)
    return row[0], row[1]
