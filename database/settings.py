"""Where the records live and the service's limits, read from the environment.

`BLADECELL_DATABASE_URL` (any SQLAlchemy URL) selects the database; without it the records go to the
zero-set-up SQLite file `$BLADECELL_HOME/bladecell.sqlite3`. Image files (captures, masks, annotation
images) live under `$BLADECELL_HOME/files/`, addressed by content hash; the database only stores their
relative paths and hashes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path.home() / ".local" / "share" / "bladecell"


class DatabaseSettings(BaseSettings):
    """Typed settings; every field can be overridden by an environment variable `BLADECELL_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="BLADECELL_", extra="ignore", frozen=True)

    home: Path = Field(default=DEFAULT_HOME, description="data root: SQLite file and image files")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in home")
    max_upload_bytes: int = Field(default=32 * 1024 * 1024, gt=0, description="largest request body")
    max_image_pixels: int = Field(
        default=40_000_000, gt=0, description="largest uploaded image (width x height), read from its header"
    )
    export_row_limit: int = Field(default=2_000_000, gt=0, description="most rows one CSV export streams")
    auth_failures_per_key: int = Field(default=10, gt=0, description="wrong keys per prefix and client")
    auth_failures_per_client: int = Field(default=50, gt=0, description="wrong keys per client")
    auth_failure_window_s: float = Field(default=60.0, gt=0, description="throttle window, seconds")
    pool_size: int = Field(default=5, gt=0)
    statement_timeout_ms: int = Field(default=30_000, ge=0, description="PostgreSQL per-statement limit")

    @property
    def url(self) -> str:
        """The SQLAlchemy URL in use (the SQLite file in `home` unless a URL was given)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'bladecell.sqlite3'}"

    @property
    def files_root(self) -> Path:
        """Root of the content-addressed image files."""
        return self.home / "files"


def load_settings(**overrides: object) -> DatabaseSettings:
    """Settings from the environment, with explicit keyword overrides winning (tests, CLI options)."""
    return DatabaseSettings(**{k: v for k, v in overrides.items() if v is not None})
