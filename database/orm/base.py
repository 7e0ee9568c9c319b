"""Declarative base, naming convention, enums and column types shared by every table.

Timestamps are stored in UTC and always come back timezone-aware on both backends (SQLite has no
timezone type, so `UTCDateTime` strips and re-attaches UTC). Enums are stored as short strings with a
CHECK constraint rather than native PostgreSQL enums, so adding a value is a plain migration on both.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, Integer, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL (defects grow past 2**31 in a busy plant); SQLite needs INTEGER for rowid ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive input is rejected, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(enum.StrEnum):
    TECHNICIAN = "technician"
    ENGINEER = "engineer"
    ADMIN = "admin"


class RequestState(enum.StrEnum):
    """Life of a cycle request in the queue the cell coordinator polls."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CycleState(enum.StrEnum):
    """Final state of a recorded inspection cycle."""

    DONE = "done"
    FAULTED = "faulted"
    ABORTED = "aborted"


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    REVIEW = "review"
    INCOMPLETE = "incomplete"


class ReviewStatus(enum.StrEnum):
    UNREVIEWED = "unreviewed"
    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive"


class ModelStatus(enum.StrEnum):
    CANDIDATE = "candidate"
    DEPLOYED = "deployed"
    RETIRED = "retired"


class AnnotationSource(enum.StrEnum):
    IMPORTED = "imported"
    DRAWN = "drawn"


class CorrectionKind(enum.StrEnum):
    """What a quality engineer did to a detection (each one a `LabelCorrection`)."""

    CONFIRM = "confirm"
    FALSE_POSITIVE = "false_positive"
    CLASS_CHANGE = "class_change"
    MASK_EDIT = "mask_edit"


class ModelOrigin(enum.StrEnum):
    """Where a registered model came from: an AutoNAD search, a retraining, another family's design."""

    DESIGNED = "designed"
    RETRAINED = "retrained"
    LIKE_FAMILY = "like_family"


class ModelAction(enum.StrEnum):
    """Registry events kept in `model_events` (who did what to which model)."""

    REGISTERED = "registered"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    RETIRED = "retired"


class HealthLevel(enum.StrEnum):
    OK = "ok"
    RETRAIN = "retrain_recommended"
    REDESIGN = "redesign_recommended"


def str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A VARCHAR + CHECK column type storing the enum's values (not its member names)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(m.value) for m in cls),
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    """Base of every table; the naming convention keeps constraint names identical on both backends."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        key = getattr(self, "id", None)
        return f"{type(self).__name__}(id={key!r})"

    def as_dict(self) -> dict[str, Any]:
        return {c.key: getattr(self, c.key) for c in self.__table__.columns}
