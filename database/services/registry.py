"""The model registry: candidates from the model designer, one deployed model per part family.

`deploy` retires the family's previously deployed model and deploys the new one in the same
transaction, with the family row locked (PostgreSQL) or the write lock taken (SQLite), so two
concurrent deploys cannot leave two deployed models or none.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from ..api.schemas.registry import ModelDetailOut
from ..engine import is_postgres
from ..errors import ConflictError, InvalidTransitionError, NotFoundError
from ..orm import DetectionModel, ModelStatus, PartFamily, utcnow
from .catalog import ensure_family
from .transactions import session_factory_for, unit_of_work

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-+:]{0,63}$"


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


def to_info(session: Session, model: DetectionModel) -> ModelDetailOut:
    """The API's view of a model (the cell's Python API returns the same shape)."""
    family = session.get(PartFamily, model.part_family_id)
    return ModelDetailOut(
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


def register_candidate(session: Session, candidate: ModelCandidate) -> DetectionModel:
    if (
        session.scalar(select(DetectionModel.id).where(DetectionModel.version == candidate.version))
        is not None
    ):
        raise ConflictError(f"model version {candidate.version!r} is already registered")
    family = ensure_family(session, candidate.part_family)
    model = DetectionModel(
        version=candidate.version,
        part_family_id=family.id,
        status=ModelStatus.CANDIDATE,
        **candidate.model_dump(exclude={"version", "part_family"}),
    )
    session.add(model)
    session.flush()
    return model


def get_model(session: Session, key: int | str) -> DetectionModel:
    """By id (int) or version (str)."""
    if isinstance(key, int):
        model = session.get(DetectionModel, key)
    else:
        model = session.scalar(select(DetectionModel).where(DetectionModel.version == key))
    if model is None:
        raise NotFoundError("model", key)
    return model


def deploy(session: Session, key: int | str) -> DetectionModel:
    """Deploy a candidate (or re-deploy a retired model, i.e. a rollback); retire the family's current one."""
    model = get_model(session, key)
    if model.status == ModelStatus.DEPLOYED:
        return model
    lock = select(PartFamily).where(PartFamily.id == model.part_family_id)
    if is_postgres(session):
        session.scalar(lock.with_for_update())
    current = session.scalar(
        select(DetectionModel).where(
            DetectionModel.part_family_id == model.part_family_id,
            DetectionModel.status == ModelStatus.DEPLOYED,
        )
    )
    now = utcnow()
    if current is not None:
        current.status = ModelStatus.RETIRED
        current.retired_at = now
        session.flush()  # retire first: the one-deployed-per-family index is checked row by row
    model.status = ModelStatus.DEPLOYED
    model.deployed_at = now
    model.retired_at = None
    session.flush()
    return model


def retire(session: Session, key: int | str) -> DetectionModel:
    model = get_model(session, key)
    if model.status == ModelStatus.RETIRED:
        raise InvalidTransitionError(f"model {model.version!r} is already retired")
    model.status = ModelStatus.RETIRED
    model.retired_at = utcnow()
    session.flush()
    return model


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

    def register_candidate(self, candidate: ModelCandidate) -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, register_candidate(session, candidate))

    def deploy(self, key: int | str) -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, deploy(session, key))

    def retire(self, key: int | str) -> ModelDetailOut:
        with unit_of_work(self._factory, immediate=True) as session:
            return to_info(session, retire(session, key))

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
