"""Health (no authentication: load balancers and the cell ask it) and the web page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import text

from ... import __version__
from ...migrate import current_revision, head_revision
from ..deps import SessionDep

router = APIRouter(tags=["system"])


class HealthOut(BaseModel):
    status: str
    database: str
    schema_revision: str | None
    expected_revision: str
    version: str


@router.get("/api/v1/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request, session: SessionDep) -> HealthOut | JSONResponse:
    session.execute(text("SELECT 1"))  # a dead database becomes the usual 503
    revision = current_revision(request.app.state.engine)
    expected = head_revision()
    body = HealthOut(
        status="ok" if revision == expected else "schema out of date",
        database=request.app.state.engine.dialect.name,
        schema_revision=revision,
        expected_revision=expected,
        version=__version__,
    )
    if revision != expected:
        return JSONResponse(body.model_dump(), status_code=503)
    return body


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/")
