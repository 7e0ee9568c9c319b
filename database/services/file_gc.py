"""The only code that deletes content-addressed files: it removes those no database row references.

Requests never delete stored files (see `storage`): the same bytes can be written by two concurrent
imports, or be shared with an earlier row, so "I created it" never proves "nobody needs it". What a
failed transaction leaves behind is collected here instead, after the database says nothing points
at it. Files younger than `grace_s` are spared: their writer may not have committed yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from ..orm import Annotation, Capture, CaptureFrame, DetectionModel
from ..storage import ContentStore

DEFAULT_GRACE_S = 3600.0


@dataclass(frozen=True)
class CollectionResult:
    kept: int  # files still referenced by a row, or younger than the grace period
    removed: tuple[str, ...]  # relative paths deleted


def referenced_paths(session: Session) -> set[str]:
    """Every stored-file path a row of the database points to."""
    query = union(
        select(Annotation.image_path),
        select(Annotation.mask_path),
        select(Capture.mask_path).where(Capture.mask_path.is_not(None)),
        select(CaptureFrame.path),
        select(DetectionModel.weights_path),
    )
    return set(session.scalars(query))


def collect_garbage(
    session: Session, store: ContentStore, *, grace_s: float = DEFAULT_GRACE_S, dry_run: bool = False
) -> CollectionResult:
    """Delete stored files no row references and nobody wrote in the last `grace_s` seconds."""
    cutoff = time.time() - grace_s
    listed = list(store.stored_paths())
    # References are read after listing: a file written before the listing and committed since is seen.
    referenced = referenced_paths(session)
    removed = []
    for path, mtime in listed:
        if path in referenced or mtime >= cutoff:
            continue
        if dry_run or store.remove_if_older(path, cutoff):  # re-checks the age just before deleting
            removed.append(path)
    return CollectionResult(kept=len(listed) - len(removed), removed=tuple(sorted(removed)))
