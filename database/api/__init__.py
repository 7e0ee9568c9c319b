"""The FastAPI service: `create_app()` builds it; `database.cli serve` runs it with uvicorn."""

from .app import create_app

__all__ = ["create_app"]
