"""Domain errors of the records layer; the API maps each to one HTTP status (see `api/errors.py`).

Every message names the offending field and value, so a technician or a calling node can act on it.
"""

from __future__ import annotations


class RecordsError(Exception):
    """Base class of every error this package raises on purpose."""


class NotFoundError(RecordsError, LookupError):
    """An id, serial or version that does not exist (HTTP 404)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class ForbiddenError(RecordsError, PermissionError):
    """The caller's role may not do this, e.g. register a blade as a technician (HTTP 403)."""


class ConflictError(RecordsError):
    """The write contradicts what is already recorded, e.g. a duplicate serial (HTTP 409)."""


class InvalidInputError(RecordsError, ValueError):
    """Input that passed type checks but makes no sense, e.g. a mask of the wrong size (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidTransitionError(ConflictError):
    """A queue request or model asked to move to a state it cannot reach from its current one."""


class StoredFileError(RecordsError):
    """A file the database points to is missing or no longer matches its recorded hash (HTTP 500)."""


class DatabaseUnavailableError(RecordsError):
    """The database could not be reached or dropped the connection; nothing was written (HTTP 503)."""
