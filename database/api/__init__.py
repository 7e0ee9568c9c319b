"""The FastAPI service: `create_app()` builds it; `database.cli serve` runs it with uvicorn."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the services import the API's schemas (their return types), and an eager
    # import of the app here would import the routers, and so the services, from inside that import.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
