"""The model registry: list, detail, deploy/promote, rollback, events (engineers)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, Strict

from ...errors import NotFoundError
from ...orm import DetectionModel, HealthLevel, ModelStatus
from ...services import model_life, registry
from ...services.registry import Actor
from ..deps import Admin, Engineer, SessionDep, StoreDep
from ..schemas.common import CONFLICT, ERROR_RESPONSES, NO_NUL, NOT_FOUND, IdPath
from ..schemas.registry import ModelDetailOut, ModelEventOut, ModelOut

router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)
# A family's model life (events, rollback, health, policy, retraining): its own prefix, so that no
# path of it is taken for a model id by `/models/{model_id}`.
life_router = APIRouter(prefix="/model-life", tags=["models"], responses=ERROR_RESPONSES)
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


Number = Annotated[float, Strict()]  # an int or a float; not true/false or a string


class HealthCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_family: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    measured_latency_ms: Number | None = Field(default=None, gt=0, le=1e6)
    """Latency of the deployed model measured on the detector's device (the hardware trigger)."""
    latency_device: str = Field(default="", max_length=100, pattern=NO_NUL)


class HealthOut(BaseModel):
    part_family: str
    model_version: str | None
    level: HealthLevel
    reasons: list[str]
    figures: dict[str, Any]
    created_at: datetime


class ThresholdsIn(BaseModel):
    """Any of the trigger thresholds (`database.services.model_life.DEFAULT_THRESHOLDS`)."""

    model_config = ConfigDict(extra="forbid")

    promotion_tolerance: Number | None = Field(default=None, ge=0, le=1)
    min_reviewed: Number | None = Field(default=None, ge=0, le=1e6)
    false_positive_rate: Number | None = Field(default=None, ge=0, le=1)
    miss_rate: Number | None = Field(default=None, ge=0, le=1)
    confidence_drop: Number | None = Field(default=None, ge=0, le=1)
    input_shift_sd_retrain: Number | None = Field(default=None, ge=0, le=1e3)
    input_shift_sd_redesign: Number | None = Field(default=None, ge=0, le=1e3)
    std_ratio: Number | None = Field(default=None, ge=1, le=1e3)
    latency_ratio: Number | None = Field(default=None, ge=1, le=1e3)
    window_cycles: Number | None = Field(default=None, ge=1, le=1e5)
    input_sample_captures: Number | None = Field(default=None, ge=1, le=1e4)


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_family: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    thresholds: ThresholdsIn


class RetrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_family: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    like: str | None = Field(default=None, min_length=1, max_length=64, pattern=NO_NUL)
    auto_promote: bool = False
    tolerance: Number | None = Field(default=None, ge=0, le=1)


class RetrainJobOut(BaseModel):
    job_id: str
    part_family: str
    state: str  # running, done, failed
    result: dict[str, Any] | None = None
    error: str | None = None


@life_router.get(
    "/health",
    response_model=HealthOut,
    responses=NOT_FOUND,
    summary="The latest 'retrain / redesign recommended' assessment of a family's model, with figures",
)
def health(session: SessionDep, _: Engineer, part_family: FamilyQuery) -> HealthOut:
    row = model_life.latest_health(session, part_family)
    if row is None:
        raise NotFoundError("health check of part family", part_family)
    return HealthOut.model_validate(model_life.health_out(session, row, part_family))


@life_router.post(
    "/health/check",
    response_model=HealthOut,
    responses=NOT_FOUND,
    summary="Assess the deployed model now (review rates, confidence, input statistics, latency)",
)
def check_health(body: HealthCheckIn, session: SessionDep, store: StoreDep, _: Engineer) -> HealthOut:
    row = model_life.assess(
        session,
        store,
        body.part_family,
        measured_latency_ms=body.measured_latency_ms,
        latency_device=body.latency_device,
    )
    out = HealthOut.model_validate(model_life.health_out(session, row, body.part_family))
    session.commit()
    return out


@life_router.get(
    "/policy", response_model=dict[str, float], responses=NOT_FOUND, summary="A family's trigger thresholds"
)
def policy(session: SessionDep, _: Engineer, part_family: FamilyQuery) -> dict[str, float]:
    return model_life.thresholds_for(session, part_family)


@life_router.put(
    "/policy",
    response_model=dict[str, float],
    responses=NOT_FOUND,
    summary="Set some of a family's thresholds (admins)",
)
def set_policy(body: PolicyIn, session: SessionDep, user: Admin) -> dict[str, float]:
    values = model_life.set_thresholds(
        session, body.part_family, body.thresholds.model_dump(exclude_none=True), user
    )
    session.commit()
    return values


_JOBS: dict[str, RetrainJobOut] = {}
_JOBS_LOCK = threading.Lock()


@life_router.post(
    "/retrain",
    response_model=RetrainJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=CONFLICT,
    summary="Retrain the family's deployed model on its newest labels (admins; runs in the background)",
)
def retrain(body: RetrainIn, request: Request, user: Admin) -> RetrainJobOut:
    runner = getattr(request.app.state, "retrain_runner", None)
    if runner is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "this server has no retrainer attached (serve it with the cell installed, or run "
            "`bladecell model retrain` on the cell)",
        )
    with _JOBS_LOCK:
        if any(j.part_family == body.part_family and j.state == "running" for j in _JOBS.values()):
            raise HTTPException(status.HTTP_409_CONFLICT, f"{body.part_family!r} is already being retrained")
        job = RetrainJobOut(job_id=uuid.uuid4().hex, part_family=body.part_family, state="running")
        _JOBS[job.job_id] = job

    def work() -> None:
        try:
            result = runner(
                body.part_family,
                like=body.like,
                actor=user.username,
                auto_promote=body.auto_promote,
                tolerance=body.tolerance,
            )
            update = {"state": "done", "result": result}
        except Exception as exc:  # reported in the job, not lost in a thread
            update = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with _JOBS_LOCK:
            _JOBS[job.job_id] = job.model_copy(update=update)

    threading.Thread(target=work, name=f"retrain-{body.part_family}", daemon=True).start()
    return job


@life_router.get(
    "/retrain/{job_id}", response_model=RetrainJobOut, responses=NOT_FOUND, summary="A retraining job"
)
def retrain_job(job_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")], _: Admin) -> RetrainJobOut:
    with _JOBS_LOCK:
        job = _JOBS.get(job_id)
    if job is None:
        raise NotFoundError("retrain job", job_id)
    return job


@router.get("", response_model=list[ModelOut], summary="Registered models, newest first")
def list_models(
    session: SessionDep,
    _: Engineer,
    part_family: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    status: ModelStatus | None = None,
) -> list[ModelDetailOut]:
    return [registry.to_info(session, m) for m in registry.list_models(session, part_family, status)]


@life_router.get(
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


@life_router.post(
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
