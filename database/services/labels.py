"""Review that produces labels: corrections of detections, the capture's current label, snapshots.

A capture's label starts as the detector's class-index mask and changes only by corrections:
* confirm: the detection is right (pixels unchanged; the defect's review becomes `confirmed`);
* false positive: the defect's pixels become background (review `false_positive`);
* class change: the defect's pixels take another class of the model;
* mask edit: the engineer's painted full-capture mask replaces the label (brush/polygon on the page).
Each correction is a `LabelCorrection` row (who, when, which defect and model, pixel counts) pointing
at the annotation holding the resulting mask; nothing earlier is changed, so no correction is lost.
Corrections of one capture are serialised (the capture row is locked on PostgreSQL; SQLite writers
hold the write lock), so two engineers correcting two defects of one capture both count.

A snapshot freezes the family's current labels: a list of (capture frames, mask) pairs sorted by
capture, hashed over its canonical JSON. The same labels give the same hash (and the same snapshot).
Imported annotations that name a capture are labels too; ones without a capture are not in snapshots
(their single image has no light channels to match the captures').
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine import is_postgres
from ..errors import InvalidInputError, NotFoundError
from ..orm import (
    Annotation,
    AnnotationSource,
    Blade,
    Capture,
    CaptureFrame,
    CorrectionKind,
    DatasetSnapshot,
    Defect,
    DetectionModel,
    InspectionCycle,
    LabelCorrection,
    ModelLineage,
    PartFamily,
    ReviewStatus,
    User,
    utcnow,
)
from ..storage import ContentStore, decode_upload
from .defects import get_defect

BACKGROUND = 0


@dataclass(frozen=True)
class CurrentLabel:
    """A capture's label now. Shape: mask (H, W) uint8 class indices."""

    mask: np.ndarray
    class_names: list[str]
    annotation_id: int | None  # None: still the detector's mask


def model_classes(session: Session, model_id: int | None, family_id: int) -> list[str]:
    """Class names of the model that made a detection (mask value i -> name), else the family's
    newest model that recorded them."""
    lineage = session.get(ModelLineage, model_id) if model_id else None
    if lineage is not None and lineage.class_names:
        return list(lineage.class_names)
    names = session.scalar(
        select(ModelLineage.class_names)
        .join(DetectionModel, DetectionModel.id == ModelLineage.model_id)
        .where(DetectionModel.part_family_id == family_id)
        .order_by(DetectionModel.id.desc())
        .limit(1)
    )
    if not names:
        raise InvalidInputError(
            "defect",
            "its model recorded no class list (registered before revision 0005): import masks instead",
        )
    return list(names)


def _latest_label_annotation(session: Session, capture_id: int) -> Annotation | None:
    """The annotation of the capture's newest correction or newest imported mask, whichever is later."""
    corrected = session.execute(
        select(LabelCorrection.created_at, LabelCorrection.annotation_id)
        .where(LabelCorrection.capture_id == capture_id)
        .order_by(LabelCorrection.id.desc())
        .limit(1)
    ).first()
    imported = session.scalar(
        select(Annotation)
        .where(Annotation.capture_id == capture_id, Annotation.source == AnnotationSource.IMPORTED)
        .order_by(Annotation.id.desc())
        .limit(1)
    )
    if corrected is None:
        return imported
    if imported is not None and imported.created_at > corrected[0]:
        return imported
    return session.get(Annotation, corrected[1])


def current_label(
    session: Session, store: ContentStore, capture: Capture, classes: list[str]
) -> CurrentLabel:
    annotation = _latest_label_annotation(session, capture.id)
    if annotation is not None:
        mask = store.read_image(annotation.mask_path, annotation.mask_sha256, grey=True)
        return CurrentLabel(mask, list(annotation.class_names), annotation.id)
    if capture.mask_path:
        mask = store.read_image(capture.mask_path, capture.mask_sha256, grey=True)
    else:
        mask = np.zeros((capture.height, capture.width), np.uint8)
    return CurrentLabel(mask, classes, None)


def defect_region(mask: np.ndarray, defect: Defect) -> np.ndarray:
    """The defect's labelled pixels: inside its contour (grown by one pixel), not background."""
    inside = np.zeros(mask.shape, np.uint8)
    if len(defect.contour) >= 3:
        cv2.fillPoly(inside, [np.asarray(defect.contour, np.int32).reshape(-1, 1, 2)], 1)
        inside = cv2.dilate(inside, np.ones((3, 3), np.uint8))
    else:
        inside[
            defect.bbox_y : defect.bbox_y + defect.bbox_h, defect.bbox_x : defect.bbox_x + defect.bbox_w
        ] = 1
    return (inside > 0) & (mask != BACKGROUND)


def parse_edited_mask(data: bytes, capture: Capture, classes: list[str], *, max_pixels: int) -> np.ndarray:
    mask = decode_upload(data, "mask", grey=False, max_pixels=max_pixels)
    if mask.ndim == 3:  # a browser canvas writes RGBA: accepted when R = G = B (the index), alpha opaque
        colour = mask[..., :3]
        if not ((colour == colour[..., :1]).all() and (mask.shape[2] < 4 or (mask[..., 3] == 255).all())):
            raise InvalidInputError(
                "mask", "a colour mask must be grey (R = G = B = class index) and opaque; send 8-bit grey"
            )
        mask = np.ascontiguousarray(colour[..., 0])
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise InvalidInputError("mask", "must be an 8-bit single-channel class-index PNG")
    if mask.shape != (capture.height, capture.width):
        raise InvalidInputError(
            "mask",
            f"size {mask.shape[1]}x{mask.shape[0]} differs from the capture's "
            f"{capture.width}x{capture.height}",
        )
    bad = sorted(int(v) for v in np.unique(mask) if v >= len(classes))
    if bad:
        raise InvalidInputError("mask", f"values {bad[:10]} are not classes of this model ({classes})")
    return mask


def _locked_capture(session: Session, capture_id: int) -> Capture:
    query = select(Capture).where(Capture.id == capture_id)
    if is_postgres(session):
        query = query.with_for_update()  # one correction of a capture at a time
    capture = session.scalar(query)
    if capture is None:
        raise NotFoundError("capture", capture_id)
    return capture


def correct_defect(
    session: Session,
    store: ContentStore,
    defect_id: int,
    kind: CorrectionKind,
    user: User,
    *,
    to_class: str | None = None,
    mask_bytes: bytes | None = None,
    note: str = "",
    max_pixels: int = 50_000_000,
) -> LabelCorrection:
    """Apply one correction to the defect's capture label; returns the new (flushed) correction.
    Everything is checked before a file or row is written."""
    defect = get_defect(session, defect_id)
    capture = _locked_capture(session, defect.capture_id)
    classes = model_classes(session, defect.model_id, defect.part_family_id)
    if kind == CorrectionKind.CLASS_CHANGE:
        if to_class is None:
            raise InvalidInputError("to_class", "a class change needs the new class")
        if to_class not in classes[1:]:
            raise InvalidInputError(
                "to_class", f"{to_class!r} is not a defect class of this family ({classes[1:]})"
            )
    elif to_class is not None:
        raise InvalidInputError("to_class", f"only a class change takes a class, not a {kind.value}")
    if (kind == CorrectionKind.MASK_EDIT) != (mask_bytes is not None):
        raise InvalidInputError("mask", "a mask edit needs the painted mask, and only a mask edit takes one")
    label = _checked_label(session, store, capture, classes)
    new = label.mask.copy()
    if kind == CorrectionKind.MASK_EDIT:
        new = parse_edited_mask(mask_bytes or b"", capture, classes, max_pixels=max_pixels)
    elif kind == CorrectionKind.FALSE_POSITIVE:
        new[defect_region(label.mask, defect)] = BACKGROUND
    elif kind == CorrectionKind.CLASS_CHANGE:
        new[defect_region(label.mask, defect)] = classes.index(to_class)
    row = _record(
        session, store, capture, label.mask, new, classes, user, note, kind, defect.model_id, defect
    )
    row.to_class = to_class
    if kind in (CorrectionKind.CONFIRM, CorrectionKind.FALSE_POSITIVE, CorrectionKind.CLASS_CHANGE):
        defect.review_status = (
            ReviewStatus.FALSE_POSITIVE if kind == CorrectionKind.FALSE_POSITIVE else ReviewStatus.CONFIRMED
        )
        defect.review_note = note or (f"class changed to {to_class}" if to_class else None)
        defect.reviewed_by_id = user.id
        defect.reviewed_at = utcnow()
    session.flush()
    return row


def correct_capture(
    session: Session,
    store: ContentStore,
    capture_id: int,
    mask_bytes: bytes,
    user: User,
    *,
    note: str = "",
    max_pixels: int = 50_000_000,
) -> LabelCorrection:
    """A painted mask for a whole capture, e.g. one where the model found nothing (misses)."""
    capture = _locked_capture(session, capture_id)
    cycle = session.get(InspectionCycle, capture.cycle_id)
    family_id = session.get(Blade, cycle.blade_id).part_family_id
    classes = model_classes(session, cycle.model_id, family_id)
    label = _checked_label(session, store, capture, classes)
    new = parse_edited_mask(mask_bytes, capture, classes, max_pixels=max_pixels)
    row = _record(
        session,
        store,
        capture,
        label.mask,
        new,
        classes,
        user,
        note,
        CorrectionKind.MASK_EDIT,
        cycle.model_id,
        None,
        family_id,
    )
    session.flush()
    return row


def _checked_label(
    session: Session, store: ContentStore, capture: Capture, classes: list[str]
) -> CurrentLabel:
    label = current_label(session, store, capture, classes)
    if label.class_names != classes:
        raise InvalidInputError(
            "capture", f"capture labelled with classes {label.class_names}, model has {classes}"
        )
    if label.mask.shape != (capture.height, capture.width):
        raise InvalidInputError("mask", "the stored label does not match the capture's size")
    return label


def _record(
    session: Session,
    store: ContentStore,
    capture: Capture,
    old: np.ndarray,
    new: np.ndarray,
    classes: list[str],
    user: User,
    note: str,
    kind: CorrectionKind,
    model_id: int | None,
    defect: Defect | None,
    family_id: int | None = None,
) -> LabelCorrection:
    family_id = defect.part_family_id if defect is not None else family_id
    annotation = _annotation_for(session, store, capture, family_id, new, classes, user, note)
    row = LabelCorrection(
        part_family_id=family_id,
        capture_id=capture.id,
        defect_id=defect.id if defect is not None else None,
        model_id=model_id,
        annotation_id=annotation.id,
        kind=kind,
        from_class=defect.defect_class if defect is not None else None,
        changed_pixels=int((new != old).sum()),
        added_pixels=int(((old == BACKGROUND) & (new != BACKGROUND)).sum()),
        removed_pixels=int(((old != BACKGROUND) & (new == BACKGROUND)).sum()),
        note=note,
        created_by_id=user.id,
    )
    session.add(row)
    return row


def _annotation_for(
    session: Session,
    store: ContentStore,
    capture: Capture,
    family_id: int,
    mask: np.ndarray,
    classes: list[str],
    user: User,
    note: str,
) -> Annotation:
    """The annotation holding (capture image, mask): the existing one for the same pair, else new."""
    frame = session.scalar(
        select(CaptureFrame).where(CaptureFrame.capture_id == capture.id).order_by(CaptureFrame.id).limit(1)
    )
    if frame is None:
        raise NotFoundError("capture frame of capture", capture.id)
    stored = store.put_image(mask)
    existing = session.scalar(
        select(Annotation).where(
            Annotation.image_sha256 == frame.sha256, Annotation.mask_sha256 == stored.sha256
        )
    )
    if existing is not None:
        return existing
    cycle = session.get(InspectionCycle, capture.cycle_id)
    row = Annotation(
        part_family_id=family_id,
        blade_id=cycle.blade_id,
        capture_id=capture.id,
        image_path=frame.path,
        image_sha256=frame.sha256,
        mask_path=stored.path,
        mask_sha256=stored.sha256,
        width=capture.width,
        height=capture.height,
        class_names=classes,
        classes_present=[classes[int(v)] for v in np.unique(mask) if 0 < int(v) < len(classes)],
        source=AnnotationSource.DRAWN,
        note=note,
        created_by_id=user.id,
    )
    session.add(row)
    session.flush()
    return row


def list_corrections(
    session: Session, *, defect_id: int | None = None, family_code: str | None = None, limit: int = 100
) -> list[LabelCorrection]:
    query = select(LabelCorrection)
    if defect_id is not None:
        query = query.where(LabelCorrection.defect_id == defect_id)
    if family_code is not None:
        query = query.join(PartFamily, PartFamily.id == LabelCorrection.part_family_id).where(
            PartFamily.code == family_code
        )
    return list(session.scalars(query.order_by(LabelCorrection.id.desc()).limit(limit)))


def correction_out(session: Session, row: LabelCorrection) -> dict[str, Any]:
    user = session.get(User, row.created_by_id) if row.created_by_id else None
    model = session.get(DetectionModel, row.model_id) if row.model_id else None
    annotation = session.get(Annotation, row.annotation_id)
    return {
        **row.as_dict(),
        "created_by": user.username if user else None,
        "model_version": model.version if model else None,
        "mask_sha256": annotation.mask_sha256,
    }


# ---------------------------------------------------------------------------------------- snapshots
def labelled_items(session: Session, store: ContentStore, family: PartFamily) -> list[dict[str, Any]]:
    """(capture, frames, mask) of every capture of the family that has a label, by capture id."""
    corrected = select(LabelCorrection.capture_id).where(
        LabelCorrection.part_family_id == family.id, LabelCorrection.capture_id.is_not(None)
    )
    imported = select(Annotation.capture_id).where(
        Annotation.part_family_id == family.id, Annotation.capture_id.is_not(None)
    )
    capture_ids = sorted(set(session.scalars(corrected)) | set(session.scalars(imported)))
    items = []
    for capture_id in capture_ids:
        capture = session.get(Capture, capture_id)
        annotation = _latest_label_annotation(session, capture_id)
        if capture is None or annotation is None:
            continue
        frames = session.scalars(
            select(CaptureFrame).where(CaptureFrame.capture_id == capture_id).order_by(CaptureFrame.channel)
        )
        cycle = session.get(InspectionCycle, capture.cycle_id)
        items.append(
            {
                "capture_id": int(capture_id),
                "cycle_uuid": str(cycle.cycle_uuid),
                "viewpoint_index": int(capture.viewpoint_index),
                "annotation_id": int(annotation.id),
                "class_names": list(annotation.class_names),
                "mask_path": annotation.mask_path,
                "mask_sha256": annotation.mask_sha256,
                "frames": [{"channel": f.channel, "path": f.path, "sha256": f.sha256} for f in frames],
            }
        )
    return items


def content_hash(class_names: list[str], channels: list[str], items: list[dict[str, Any]]) -> str:
    canonical = json.dumps(
        {"class_names": class_names, "channels": channels, "items": items},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_snapshot(
    session: Session, store: ContentStore, family_code: str, user: User | None = None, note: str = ""
) -> DatasetSnapshot:
    """Freeze the family's current labels (the same labels return the existing snapshot)."""
    family = session.scalar(select(PartFamily).where(PartFamily.code == family_code))
    if family is None:
        raise NotFoundError("part family", family_code)
    items = labelled_items(session, store, family)
    if not items:
        raise InvalidInputError(
            "part_family",
            f"{family_code!r} has no labelled captures: correct detections or import masks first",
        )
    class_names = items[0]["class_names"]
    channels = [f["channel"] for f in items[0]["frames"]]
    for item in items:
        if item.pop("class_names") != class_names:
            raise InvalidInputError(
                "part_family", f"capture {item['capture_id']} is labelled with other classes"
            )
        have = [f["channel"] for f in item["frames"]]
        if have != channels:
            raise InvalidInputError(
                "part_family", f"capture {item['capture_id']} has channels {have}, the others {channels}"
            )
    digest = content_hash(class_names, channels, items)
    existing = session.scalar(
        select(DatasetSnapshot).where(
            DatasetSnapshot.part_family_id == family.id, DatasetSnapshot.content_sha256 == digest
        )
    )
    if existing is not None:
        return existing
    row = DatasetSnapshot(
        part_family_id=family.id,
        content_sha256=digest,
        class_names=class_names,
        channels=channels,
        items=items,
        sample_count=len(items),
        note=note,
        created_by_id=user.id if user else None,
    )
    session.add(row)
    session.flush()
    return row


def get_snapshot(session: Session, key: int) -> DatasetSnapshot:
    row = session.get(DatasetSnapshot, key)
    if row is None:
        raise NotFoundError("dataset snapshot", key)
    return row


def newest_snapshot(session: Session, family_code: str) -> DatasetSnapshot | None:
    return session.scalar(
        select(DatasetSnapshot)
        .join(PartFamily, PartFamily.id == DatasetSnapshot.part_family_id)
        .where(PartFamily.code == family_code)
        .order_by(DatasetSnapshot.id.desc())
        .limit(1)
    )


def verify_snapshot(snapshot: DatasetSnapshot) -> None:
    """A snapshot's rows still hash to its recorded digest (nothing edited it since)."""
    digest = content_hash(list(snapshot.class_names), list(snapshot.channels), list(snapshot.items))
    if digest != snapshot.content_sha256:
        raise InvalidInputError("snapshot", f"snapshot {snapshot.id} no longer matches its hash")
