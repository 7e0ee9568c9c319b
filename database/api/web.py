"""The web page mount and the API docs page, served from the package with nothing from a CDN.

`StaticFiles` would serve every file in the folder, `__init__.py` and `__pycache__` included; the
page mount serves only page assets. The Swagger UI files are vendored (`web/vendor/`), so `/docs`
works on a plant network that reaches no CDN.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SWAGGER_UI = "vendor/swagger-ui-5.35.0"
PAGE_SUFFIXES = {".html", ".js", ".css", ".png", ".svg", ".ico"}


class PageFiles(StaticFiles):
    """Static files limited to page assets: no Python sources, no hidden or private names."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        parts = PurePosixPath(path).parts
        name = parts[-1] if parts else ""
        if any(p.startswith(("_", ".")) for p in parts) or (
            name and PurePosixPath(name).suffix not in PAGE_SUFFIXES
        ):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def install_web(app: FastAPI) -> None:
    """Mount the page under /ui and serve the local docs page at /docs."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(WEB_DIR / "docs.html", media_type="text/html")

    app.mount("/ui", PageFiles(directory=WEB_DIR, html=True), name="ui")
