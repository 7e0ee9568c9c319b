"""Patterns of identifiers, shared by the services that check them and the API schemas that document
them (a module of its own so that schemas need not import services)."""

from __future__ import annotations

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}$"  # part family codes
# Any printable text (serials are data, never SQL): no C0 or C1 control characters.
SERIAL_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]{1,64}$"
# What a barcode scanner at the station may send, once normalised (`serials.normalize_serial`): letters,
# digits and - . _ / (a scanner that misreads, or a label from another plant, gives something else).
STATION_SERIAL_PATTERN = r"^[A-Z0-9][A-Z0-9._/-]{1,63}$"
STATION_SERIAL_EXAMPLE = "SN-000123"
