"""The model registry: list, detail, deploy/promote, rollback, events (engineers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ...orm import DetectionModel, ModelStatus
from ...services import registry
from ...services.registry import Actor
from ..deps import Engineer, SessionDep
from ..schemas.common import CONFLICT, ERROR_RESPONSES, NO_NUL, NOT_FOUND, IdPath
from ..schemas.registry import ModelDetailOut, ModelEventOut, ModelOut

router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)
FamilyQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=NO_NUL)]


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_family: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    """The family the engineer means to promote for: a model of another family is refused."""
    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_family: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


@router.get("", response_model=list[ModelOut], summary="Registered models, newest first")
def list_models(
    session: SessionDep,
    _: Engineer,
    part_family: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    status: ModelStatus | None = None,
) -> list[ModelDetailOut]:
    return [registry.to_info(session, m) for m in registry.list_models(session, part_family, status)]


@router.get(
    "/events",
    response_model=list[ModelEventOut],
    summary="Registrations, promotions, rollbacks and retirements of a family's models, newest first",
)
def events(session: SessionDep, _: Engineer, part_family: FamilyQuery) -> list[ModelEventOut]:
    out = []
    for event in registry.list_events(session, part_family):
        previous = session.get(DetectionModel, event.previous_model_id) if event.previous_model_id else None
        out.append(
            ModelEventOut.model_validate(
                {
                    **event.as_dict(),
                    "model_version": session.get(DetectionModel, event.model_id).version,
                    "previous_version": previous.version if previous else None,
                }
            )
        )
    return out


@router.post(
    "/rollback",
    response_model=ModelDetailOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Re-deploy the family's previously deployed model",
)
def rollback(body: RollbackIn, session: SessionDep, user: Engineer) -> ModelDetailOut:
    info = registry.to_info(
        session, registry.rollback(session, body.part_family, Actor.of(user), body.reason)
    )
    session.commit()
    return info


@router.get(
    "/{model_id}", response_model=ModelDetailOut, responses=NOT_FOUND, summary="One model with provenance"
)
def model_detail(model_id: IdPath, session: SessionDep, _: Engineer) -> ModelDetailOut:
    return registry.to_info(session, registry.get_model(session, model_id))


@router.post(
    "/{model_id}/deploy",
    response_model=ModelDetailOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Deploy a model for its part family (retires the one deployed before)",
)
def deploy_model(model_id: IdPath, session: SessionDep, user: Engineer) -> ModelDetailOut:
    info = registry.to_info(session, registry.deploy(session, model_id, Actor.of(user)))
    session.commit()
    return info


@router.post(
    "/{model_id}/promote",
    response_model=ModelDetailOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Promote a candidate to deployed for the family named (refused for another family's model)",
)
def promote_model(model_id: IdPath, body: PromoteIn, session: SessionDep, user: Engineer) -> ModelDetailOut:
    model = registry.promote(session, body.part_family, model_id, Actor.of(user), reason=body.reason)
    info = registry.to_info(session, model)
    session.commit()
    return info
