"""Users and API keys (admin) and the caller's own identity."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ...orm import Role
from ...services.accounts import USERNAME_PATTERN
from .common import NO_NUL, OrmModel


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, examples=["j.smith"])
    role: Role
    full_name: str = Field(default="", max_length=200, pattern=NO_NUL)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    full_name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    active: StrictBool | None = None


class UserOut(OrmModel):
    id: int
    username: str
    full_name: str
    role: Role
    active: bool
    created_at: datetime


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=100, pattern=NO_NUL, examples=["cell-7 tablet"])


class ApiKeyOut(OrmModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the API key itself; shown once, store it now")
