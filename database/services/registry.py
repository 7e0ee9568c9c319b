"""The model registry: candidates from the model designer, one deployed model per part family.

`deploy` retires the family's previously deployed model and deploys the new one in the same
transaction, with the family row locked (PostgreSQL) or the write lock taken (SQLite), so two
concurrent deploys cannot leave two deployed models or none. Every registration, promotion, rollback
and retirement is also a `ModelEvent` (who, why, the model it replaced), so `rollback` knows which
model was deployed before the current one, and the record of who did what is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from ..api.schemas.registry import ModelDetailOut
from ..engine import is_postgres
from ..errors import ConflictError, InvalidInputError, InvalidTransitionError, NotFoundError
from ..orm import (
    DatasetSnapshot,
    DetectionModel,
    ModelAction,
    ModelEvent,
    ModelLineage,
    ModelOrigin,
    ModelStatus,
    PartFamily,
    User,
    utcnow,
)
from .catalog import ensure_family
from .transactions import session_factory_for, unit_of_work

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-+:]{0,63}$"


def untrained_classes(metrics: Mapping[str, float], class_names: Sequence[str]) -> list[str]:
    """The defect classes (all but the first, background) whose training split held no labelled pixel,
    by the model's `train_pixels.<class>` metrics (autonad_core's metrics.json): the model cannot find
    them, whatever its scores. A model registered before those metrics were kept names none."""
    return [name for name in class_names[1:] if metrics.get(f"train_pixels.{name}") == 0]


class ModelCandidate(BaseModel):
    """What the model designer registers after AutoNAD: the architecture and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=VERSION_PATTERN)
    part_family: str = Field(min_length=1, max_length=64)
    architecture: dict[str, Any]
    metrics: dict[str, float] = Field(default_factory=dict)
    latency_ms: float | None = Field(default=None, ge=0)
    latency_device: str = Field(default="", max_length=100)
    weights_path: str = Field(min_length=1, max_length=512)
    weights_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    dataset_snapshot: str = Field(default="", max_length=200)
    notes: str = ""
    origin: ModelOrigin = ModelOrigin.DESIGNED
    parent_version: str | None = Field(default=None, pattern=VERSION_PATTERN)
    """The model it was retrained from (same family) or whose architecture it reuses (`like_family`)."""
    snapshot_id: int | None = Field(default=None, ge=1)
    class_names: list[str] = Field(default_factory=list)
    """Mask value i -> class name (0 background); what corrections and snapshots check classes against."""
    channels: list[str] = Field(default_factory=list)
    input_stats: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Per channel {mean, std} of the training images (unit scale): the input-shift trigger's baseline."""


class Actor(BaseModel):
    """Who does something to the registry: a user of the API, or a named tool (CLI operator, 'auto')."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(default="", max_length=64)
    user_id: int | None = None

    @classmethod
    def of(cls, user: User | None, name: str = "") -> Actor:
        return cls(name=user.username if user is not None else name[:64], user_id=user.id if user else None)


def to_info(session: Session, model: DetectionModel) -> ModelDetailOut:
    """The API's view of a model (the cell's Python API returns the same shape)."""
    family = session.get(PartFamily, model.part_family_id)
    lineage = session.get(ModelLineage, model.id)
    parent = session.get(DetectionModel, lineage.parent_id) if lineage and lineage.parent_id else None
    parent_family = session.get(PartFamily, parent.part_family_id).code if parent else None
    snapshot = session.get(DatasetSnapshot, lineage.snapshot_id) if lineage and lineage.snapshot_id else None
    return ModelDetailOut(
        origin=lineage.origin if lineage else None,
        parent_version=parent.version if parent else None,
        architecture_from=parent_family if lineage and lineage.origin == ModelOrigin.LIKE_FAMILY else None,
        snapshot_id=snapshot.id if snapshot else None,
        snapshot_sha256=snapshot.content_sha256 if snapshot else None,
        class_names=list(lineage.class_names) if lineage else [],
        channels=list(lineage.channels) if lineage else [],
        input_stats=dict(lineage.input_stats) if lineage else {},
        id=model.id,
        version=model.version,
        part_family=family.code,
        status=model.status,
        architecture=dict(model.architecture),
        metrics=dict(model.metrics or {}),
        latency_ms=model.latency_ms,
        latency_device=model.latency_device,
        weights_path=model.weights_path,
        weights_sha256=model.weights_sha256,
        dataset_snapshot=model.dataset_snapshot,
        notes=model.notes,
        created_at=model.created_at,
        deployed_at=model.deployed_at,
        retired_at=model.retired_at,
    )


LINEAGE_FIELDS = {"origin", "parent_version", "snapshot_id", "class_names", "channels", "input_stats"}


def register_candidate(
    session: Session, candidate: ModelCandidate, actor: Actor | None = None
) -> DetectionModel:
    if (
        session.scalar(select(DetectionModel.id).where(DetectionModel.version == candidate.version))
        is not None
    ):
        raise ConflictError(f"model version {candidate.version!r} is already registered")
    family = ensure_family(session, candidate.part_family)
    parent = _check_lineage(session, candidate, family)
    model = DetectionModel(
        version=candidate.version,
        part_family_id=family.id,
        status=ModelStatus.CANDIDATE,
        **candidate.model_dump(exclude={"version", "part_family", *LINEAGE_FIELDS}),
    )
    session.add(model)
    session.flush()
    session.add(
        ModelLineage(
            model_id=model.id,
            origin=candidate.origin,
            parent_id=parent.id if parent else None,
            snapshot_id=candidate.snapshot_id,
            class_names=list(candidate.class_names),
            channels=list(candidate.channels),
            input_stats=dict(candidate.input_stats),
        )
    )
    _event(session, model, ModelAction.REGISTERED, actor, None, candidate.origin.value)
    session.flush()
    return model


def _check_lineage(session: Session, candidate: ModelCandidate, family: PartFamily) -> DetectionModel | None:
    """A retrained model's parent is a model of its own family; a `like_family` one's of another."""
    parent = None
    if candidate.parent_version is not None:
        parent = get_model(session, candidate.parent_version)
        same = parent.part_family_id == family.id
        if candidate.origin == ModelOrigin.RETRAINED and not same:
            raise InvalidInputError("parent_version", f"{parent.version!r} is not a {family.code!r} model")
        if candidate.origin == ModelOrigin.LIKE_FAMILY and same:
            raise InvalidInputError(
                "parent_version", f"{parent.version!r} is a {family.code!r} model: use origin 'retrained'"
            )
    elif candidate.origin != ModelOrigin.DESIGNED:
        raise InvalidInputError("parent_version", f"a {candidate.origin.value} model needs its parent")
    if candidate.snapshot_id is not None:
        snapshot = session.get(DatasetSnapshot, candidate.snapshot_id)
        if snapshot is None:
            raise NotFoundError("dataset snapshot", candidate.snapshot_id)
        if snapshot.part_family_id != family.id:
            raise InvalidInputError(
                "snapshot_id", f"snapshot {snapshot.id} is not a {family.code!r} snapshot"
            )
    return parent


def _event(
    session: Session,
    model: DetectionModel,
    action: ModelAction,
    actor: Actor | None,
    previous: DetectionModel | None,
    reason: str = "",
    figures: dict[str, Any] | None = None,
) -> ModelEvent:
    actor = actor or Actor()
    event = ModelEvent(
        model_id=model.id,
        part_family_id=model.part_family_id,
        action=action,
        previous_model_id=previous.id if previous else None,
        actor_id=actor.user_id,
        actor=actor.name,
        reason=reason,
        figures=dict(figures or {}),
    )
    session.add(event)
    return event


def get_model(session: Session, key: int | str) -> DetectionModel:
    """By id (int) or version (str)."""
    if isinstance(key, int):
        model = session.get(DetectionModel, key)
    else:
        model = session.scalar(select(DetectionModel).where(DetectionModel.version == key))
    if model is None:
        raise NotFoundError("model", key)
    return model


def _lock_family(session: Session, family_id: int) -> None:
    """Serialise the family's deployments: a row lock on PostgreSQL, the write lock on SQLite."""
    if is_postgres(session):
        session.scalar(select(PartFamily).where(PartFamily.id == family_id).with_for_update())


def deployed_in(session: Session, family_id: int) -> DetectionModel | None:
    return session.scalar(
        select(DetectionModel).where(
            DetectionModel.part_family_id == family_id, DetectionModel.status == ModelStatus.DEPLOYED
        )
    )


def deploy(
    session: Session,
    key: int | str,
    actor: Actor | None = None,
    *,
    action: ModelAction = ModelAction.PROMOTED,
    reason: str = "",
    figures: dict[str, Any] | None = None,
) -> DetectionModel:
    """Deploy a candidate (or re-deploy a retired model, i.e. a rollback); retire the family's current one."""
    model = get_model(session, key)
    if model.status == ModelStatus.DEPLOYED:
        return model
    _lock_family(session, model.part_family_id)
    session.refresh(model)  # another transaction may have deployed it while we waited for the lock
    if model.status == ModelStatus.DEPLOYED:
        return model
    current = deployed_in(session, model.part_family_id)
    now = utcnow()
    if current is not None:
        current.status = ModelStatus.RETIRED
        current.retired_at = now
        session.flush()  # retire first: the one-deployed-per-family index is checked row by row
    model.status = ModelStatus.DEPLOYED
    model.deployed_at = now
    model.retired_at = None
    _event(session, model, action, actor, current, reason, figures)
    session.flush()
    return model


def promote(
    session: Session,
    family_code: str,
    key: int | str,
    actor: Actor | None = None,
    *,
    reason: str = "",
    figures: dict[str, Any] | None = None,
) -> DetectionModel:
    """An engineer's (or the auto-promotion's) deployment of a model of `family_code`."""
    model = get_model(session, key)
    family = session.get(PartFamily, model.part_family_id)
    if family.code != family_code:
        raise InvalidInputError(
            "model", f"model {model.version!r} is a {family.code!r} model, not a {family_code!r} one"
        )
    if model.status == ModelStatus.DEPLOYED:
        raise InvalidTransitionError(f"model {model.version!r} is already deployed for {family_code!r}")
    return deploy(session, model.id, actor, reason=reason, figures=figures)


def previous_deployed(session: Session, current: DetectionModel) -> DetectionModel | None:
    """The model deployed before `current`: the one its deployment replaced, else the latest retired."""
    previous_id = session.scalar(
        select(ModelEvent.previous_model_id)
        .where(
            ModelEvent.model_id == current.id,
            ModelEvent.action.in_([ModelAction.PROMOTED, ModelAction.ROLLED_BACK]),
        )
        .order_by(ModelEvent.id.desc())
        .limit(1)
    )
    if previous_id is not None:
        return session.get(DetectionModel, previous_id)
    return session.scalar(
        select(DetectionModel)
        .where(
            DetectionModel.part_family_id == current.part_family_id,
            DetectionModel.status == ModelStatus.RETIRED,
            DetectionModel.deployed_at.is_not(None),
        )
        .order_by(DetectionModel.retired_at.desc(), DetectionModel.id.desc())
        .limit(1)
    )


def rollback(
    session: Session, family_code: str, actor: Actor | None = None, reason: str = ""
) -> DetectionModel:
    """Re-deploy the model deployed before the current one (one command; recorded as an event)."""
    family = session.scalar(select(PartFamily).where(PartFamily.code == family_code))
    if family is None:
        raise NotFoundError("part family", family_code)
    _lock_family(session, family.id)
    current = deployed_in(session, family.id)
    if current is None:
        raise InvalidTransitionError(f"part family {family_code!r} has no deployed model to roll back")
    previous = previous_deployed(session, current)
    if previous is None:
        raise InvalidTransitionError(
            f"model {current.version!r} is the first deployed for {family_code!r}: nothing to roll back to"
        )
    return deploy(session, previous.id, actor, action=ModelAction.ROLLED_BACK, reason=reason)


def retire(session: Session, key: int | str, actor: Actor | None = None) -> DetectionModel:
    model = get_model(session, key)
    if model.status == ModelStatus.RETIRED:
        raise InvalidTransitionError(f"model {model.version!r} is already retired")
    model.status = ModelStatus.RETIRED
    model.retired_at = utcnow()
    _event(session, model, ModelAction.RETIRED, actor, None)
    session.flush()
    return model


def list_events(session: Session, family_code: str, limit: int = 100) -> list[ModelEvent]:
    return list(
        session.scalars(
            select(ModelEvent)
            .join(PartFamily, PartFamily.id == ModelEvent.part_family_id)
            .where(PartFamily.code == family_code)
            .order_by(ModelEvent.id.desc())
            .limit(limit)
        )
    )


def deployed_for(session: Session, family_code: str) -> DetectionModel | None:
    return session.scalar(
        select(DetectionModel)
        .join(PartFamily, PartFamily.id == DetectionModel.part_family_id)
        .where(PartFamily.code == family_code, DetectionModel.status == ModelStatus.DEPLOYED)
    )


def list_models(
    session: Session, family_code: str | None = None, status: ModelStatus | None = None
) -> list[DetectionModel]:
    query = select(DetectionModel).join(PartFamily, PartFamily.id == DetectionModel.part_family_id)
    if family_code is not None:
        query = query.where(PartFamily.code == family_code)
    if status is not None:
        query = query.where(DetectionModel.status == status)
    return list(session.scalars(query.order_by(DetectionModel.created_at.desc(), DetectionModel.id.desc())))


class ModelRegistry:
    """The model designer's and detector's handle on the registry; each call is one transaction."""

    def __init__(self, target: sessionmaker[Session] | Engine | str | None = None) -> None:
        self._factory = session_factory_for(target)

    def register_candidate(self, candidate: ModelCandidate, actor: Actor | None = None) -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, register_candidate(session, candidate, actor))

    def deploy(self, key: int | str, actor: Actor | None = None) -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, deploy(session, key, actor))

    def promote(
        self,
        family: str,
        key: int | str,
        actor: Actor | None = None,
        *,
        reason: str = "",
        figures: dict[str, Any] | None = None,
    ) -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, promote(session, family, key, actor, reason=reason, figures=figures))

    def rollback(self, family: str, actor: Actor | None = None, reason: str = "") -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, rollback(session, family, actor, reason))

    def retire(self, key: int | str, actor: Actor | None = None) -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, retire(session, key, actor))

    def get(self, key: int | str) -> ModelDetailOut:
        with self._factory() as session:
            return to_info(session, get_model(session, key))

    def deployed_for(self, part_family: str) -> ModelDetailOut | None:
        """The model the detector should run for `part_family`; None means 'design one first'."""
        with self._factory() as session:
            model = deployed_for(session, part_family)
            return to_info(session, model) if model else None

    def list(self, part_family: str | None = None, status: ModelStatus | None = None) -> list[ModelDetailOut]:
        with self._factory() as session:
            return [to_info(session, m) for m in list_models(session, part_family, status)]
