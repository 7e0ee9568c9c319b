"""The one form of a blade serial, so that a serial typed, scanned or pasted names one blade.

'sn-1', 'ＳＮ-1' (full-width, from an East Asian input method) and 'SN<zero-width space>-1' (pasted
from a document) were three blades. Every serial that enters the records goes through
`normalize_serial`: Unicode NFKC (compatibility forms to their plain letters), format characters
removed (zero-width spaces and joiners, BOM, soft hyphens, direction marks: Unicode category Cf), runs
of white space collapsed to one space, ends trimmed, upper case. Migration 0004 applied the same rule to
the serials recorded before it (a frozen copy there; a test checks that both agree).
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidInputError

MAX_SERIAL_LENGTH = 64
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 controls, as patterns.SERIAL_PATTERN


def normalize_serial(text: str, field: str = "blade_serial") -> str:
    """The canonical form of `text`; `InvalidInputError` naming `field` when none is left or it is
    too long, or when it holds control characters (a line break is never part of a serial)."""
    if _CONTROL.search(text):
        raise InvalidInputError(field, f"{text!r} holds control characters; not a valid blade serial")
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    serial = _SPACES.sub(" ", visible).strip().upper()
    if not serial:
        raise InvalidInputError(field, f"{text!r} has no visible characters; not a valid blade serial")
    if len(serial) > MAX_SERIAL_LENGTH:
        raise InvalidInputError(field, f"{serial!r} is longer than {MAX_SERIAL_LENGTH} characters")
    return serial
