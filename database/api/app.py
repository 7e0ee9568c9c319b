"""The FastAPI application: routers per resource under /api/v1, the web page under /ui."""

from __future__ import annotations

import threading

from fastapi import FastAPI
from sqlalchemy import Engine

from .. import __version__
from ..engine import create_db_engine, make_session_factory
from ..settings import DatabaseSettings, load_settings
from ..storage import ContentStore
from .cell_link import CellLink
from .errors import install_error_handlers
from .headers import SecurityHeadersMiddleware
from .limits import BodySizeLimitMiddleware
from .routers import (
    accounts,
    annotations,
    catalog,
    cycles,
    defects,
    labels,
    registry,
    station,
    stats,
    system,
)
from .throttle import AuthThrottle
from .web import install_web

DESCRIPTION = """
Records of the BladeCell inspection cells: cycles, captures, defects and models.

Authenticate with an API key in the `X-API-Key` header. Roles are ranked: **technician** (start a cycle,
see its status), **engineer** (search and review defects, import annotations, export, models),
**admin** (users and keys; everything else too).

Errors: 401 no/invalid key, 403 role too low, 404 unknown id, 409 conflict with recorded data (e.g. a
duplicate serial), 413 upload too large, 422 invalid input (the message names the field), 429 too many
failed authentications from one client (see Retry-After), 503 database unavailable (nothing was
written; retry).
"""


def create_app(
    settings: DatabaseSettings | None = None, engine: Engine | None = None, cell_link: CellLink | None = None
) -> FastAPI:
    """Build the service; pass `engine` to share one (tests, benchmark), else settings decide.
    `cell_link`: the cell this server sits beside (e-stop from the station page); None: no cell."""
    settings = settings or load_settings()
    engine = engine or create_db_engine(
        settings.url, pool_size=settings.pool_size, statement_timeout_ms=settings.statement_timeout_ms
    )
    app = FastAPI(
        title="BladeCell records",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by install_web from the vendored Swagger UI, not from a CDN
        redoc_url=None,
        openapi_tags=[
            {"name": "cycles", "description": "start cycles and follow them"},
            {"name": "defects", "description": "search, detail, review, export"},
            {"name": "station", "description": "the technician's station and the blade map"},
        ],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.store = ContentStore(settings.home)
    app.state.cell_link = cell_link
    # At most half the pool streams exports, so searches keep connections to work with.
    app.state.export_slots = max(1, _pool_size(engine, settings) // 2)
    app.state.export_gate = threading.BoundedSemaphore(app.state.export_slots)
    app.state.auth_throttle = AuthThrottle(
        per_key=settings.auth_failures_per_key,
        per_client=settings.auth_failures_per_client,
        window_s=settings.auth_failure_window_s,
    )

    # station first: its /cycles/events must win over cycles' /cycles/{request_uuid}
    for module in (station, cycles, defects, labels, catalog, stats, registry, annotations, accounts):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(registry.life_router, prefix="/api/v1")
    app.include_router(system.router)
    install_web(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: even a 413 from the limit carries them
    install_error_handlers(app)
    return app


def _pool_size(engine: Engine, settings: DatabaseSettings) -> int:
    size = getattr(engine.pool, "size", None)  # QueuePool; other pools fall back to the setting
    return int(size()) if callable(size) else settings.pool_size
