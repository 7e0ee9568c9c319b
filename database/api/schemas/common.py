"""Schemas shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict

# Free text may hold anything printable, but never NUL (PostgreSQL text cannot store it).
NO_NUL = r"^[^\x00]*$"
INT32_MAX = 2_147_483_647
INT64_MAX = 9_223_372_036_854_775_807

# Path ids are bounded to the column's integer range, so an absurd id is a 422, never a database error.
IdPath = Annotated[int, Path(ge=1, le=INT32_MAX, description="record id")]
BigIdPath = Annotated[int, Path(ge=1, le=INT64_MAX, description="record id")]


class OrmModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Message(BaseModel):
    detail: str


ERROR_RESPONSES = {
    401: {"model": Message, "description": "no or invalid API key"},
    403: {"model": Message, "description": "your role may not do this"},
    429: {"model": Message, "description": "too many failed authentications; see Retry-After"},
    503: {"model": Message, "description": "database unavailable; nothing was written, retry"},
}
NOT_FOUND = {404: {"model": Message, "description": "no such record"}}
CONFLICT = {409: {"model": Message, "description": "conflicts with what is recorded"}}
