"""Where a cycle's files live under the data root ($BLADECELL_HOME), and how references are read back.

Why one module: the capture store writes capture manifests, the steps write the detections file, and
the steps, the recorder, the detector and the CLI read them; with one owner of the layout they cannot
drift apart. References are POSIX paths relative to the data root:

    captures/<family>/<cycle_id>/v007.json     one capture (viewpoint 7)
    detections/<family>/<cycle_id>.json        the cycle's detections (`detections.DetectionsFile`)
"""

from __future__ import annotations

import re
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_REF = re.compile(r"/v(\d+)\.json$")


class RefError(ValueError):
    """A name that gives no file name, or a string that is not a reference of the expected kind."""


def safe_name(text: str) -> str:
    """A file-system safe form of a part family / cycle id (keeps letters, digits, _ . -)."""
    name = _SAFE.sub("_", text.strip()).strip("._")
    if not name:
        raise RefError(f"{text!r} gives an empty file name")
    return name


def capture_ref(part_family: str, cycle_id: str, viewpoint_index: int) -> str:
    """The reference of one capture's manifest."""
    return f"captures/{safe_name(part_family)}/{safe_name(cycle_id)}/v{viewpoint_index:03d}.json"


def viewpoint_of(ref: str) -> int:
    """The viewpoint index a capture reference names (`captures/<family>/<cycle>/v007.json` -> 7)."""
    match = _REF.search(ref)
    if match is None:
        raise RefError(f"{ref!r} is not a capture reference (captures/<family>/<cycle>/vNNN.json)")
    return int(match.group(1))


def detections_ref(part_family: str, cycle_id: str) -> str:
    """The reference of a cycle's detections file."""
    return f"detections/{safe_name(part_family)}/{safe_name(cycle_id)}.json"


def detections_path(home: Path, part_family: str, cycle_id: str) -> Path:
    return Path(home) / detections_ref(part_family, cycle_id)
