"""Map domain and database errors to HTTP answers with messages a person can act on.

A dropped connection or a restarted/locked database is a 503 with `Retry-After`: the request's
transaction was rolled back, so nothing of it was written and the client may simply retry.
"""

from __future__ import annotations

import json
import logging
import re

from fastapi import FastAPI, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ConflictError,
    DatabaseUnavailableError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    StoredFileError,
)
from ..services.transactions import is_unavailable

log = logging.getLogger(__name__)
RETRY_AFTER_S = "5"
FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"


def _json(code: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


def busy(what: str) -> JSONResponse:
    """503 for a service at capacity (not broken): the request did nothing and may be retried."""
    return _json(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"the service is busy ({what}): the request was not completed and nothing was written; retry shortly",
        {"Retry-After": RETRY_AFTER_S},
    )


def _unavailable() -> JSONResponse:
    return _json(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "database unavailable: the request was not completed and nothing was written; retry shortly",
        {"Retry-After": RETRY_AFTER_S},
    )


def _documented_methods(app: FastAPI, path: str) -> list[str]:
    """Methods the OpenAPI document lists for the path template matching `path`."""
    table = getattr(app.state, "path_methods", None)
    if table is None:
        table = []
        for template, operations in app.openapi()["paths"].items():
            pattern = re.sub(r"\\\{[^}/]+\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{pattern}$"), sorted(m.upper() for m in operations)))
        app.state.path_methods = table
    return next((methods for regex, methods in table if regex.match(path)), [])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        # As FastAPI's own handler, but ASCII-escaped: an input holding a lone surrogate (valid JSON,
        # invalid UTF-8) must still get its 422 rather than fail while the error is being encoded.
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, default=str)
        return Response(
            body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == FASTAPI_BODY_PARSE_ERROR:
            # Undecodable bytes are invalid input like any other: 422 with the location, as documented.
            detail = [
                {
                    "loc": ["body"],
                    "msg": "the body is not valid UTF-8 JSON / form data",
                    "type": "body_invalid",
                }
            ]
            return _json(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            # Starlette names only the first route's methods; a path with several routes allows them all.
            methods = _documented_methods(request.app, request.url.path)
            headers = {**(exc.headers or {}), "Allow": ", ".join(methods)} if methods else exc.headers
            return _json(exc.status_code, exc.detail, headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _json(status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(ForbiddenError)
    async def forbidden(_: Request, exc: ForbiddenError) -> JSONResponse:
        return _json(status.HTTP_403_FORBIDDEN, str(exc))

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return _json(status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(InvalidInputError)
    async def invalid(_: Request, exc: InvalidInputError) -> JSONResponse:
        detail = [
            {
                "loc": ["body" if exc.field in ("image", "mask") else "query", exc.field],
                "msg": exc.message,
                "type": "value_error",
            }
        ]
        return _json(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)

    @app.exception_handler(StoredFileError)
    async def stored_file(request: Request, exc: StoredFileError) -> JSONResponse:
        # The answer names the relative path only; the log adds the data root for whoever repairs it.
        root = request.app.state.store.root
        log.error("data root problem on %s (data root %s): %s", request.url.path, root, exc)
        return _json(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc))

    @app.exception_handler(DatabaseUnavailableError)
    async def unavailable(_: Request, exc: DatabaseUnavailableError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return _unavailable()

    @app.exception_handler(PoolTimeoutError)
    async def pool_exhausted(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        log.warning("no database connection free for %s %s: %s", request.method, request.url.path, exc)
        return busy("every database connection is in use")

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_unavailable(exc):
            log.warning("database unavailable during %s %s: %s", request.method, request.url.path, exc.orig)
            return _unavailable()
        if isinstance(exc, IntegrityError):
            log.info("integrity conflict on %s: %s", request.url.path, exc.orig)
            return _json(
                status.HTTP_409_CONFLICT,
                "the request conflicts with recorded data (duplicate or missing reference)",
            )
        if isinstance(exc, DataError):
            log.info("data error on %s: %s", request.url.path, exc.orig)
            detail = [
                {"loc": ["body"], "msg": "a value cannot be stored (out of range)", "type": "value_error"}
            ]
            return _json(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
        log.exception("database error on %s", request.url.path)
        return _json(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal database error")
