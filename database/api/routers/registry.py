"""The model registry: list, detail, deploy (engineers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ...orm import ModelStatus
from ...services import registry
from ..deps import Engineer, SessionDep
from ..schemas.common import CONFLICT, ERROR_RESPONSES, NO_NUL, NOT_FOUND, IdPath
from ..schemas.registry import ModelDetailOut, ModelOut

router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[ModelOut], summary="Registered models, newest first")
def list_models(
    session: SessionDep,
    _: Engineer,
    part_family: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    status: ModelStatus | None = None,
) -> list[ModelDetailOut]:
    return [registry.to_info(session, m) for m in registry.list_models(session, part_family, status)]


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
def deploy_model(model_id: IdPath, session: SessionDep, _: Engineer) -> ModelDetailOut:
    info = registry.to_info(session, registry.deploy(session, model_id))
    session.commit()
    return info
