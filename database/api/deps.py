"""Request dependencies: one database session per request, the caller's identity and role checks.

Roles are ranked technician < engineer < admin: each role may do what the roles below it may. Data a
role may not see is answered with 403 (or 404 for another technician's cycle requests, so their
existence is not revealed either).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from ..orm import Role, User
from ..services.accounts import authenticate_key, key_prefix
from ..settings import DatabaseSettings
from ..storage import ContentStore

RANK = {Role.TECHNICIAN: 0, Role.ENGINEER: 1, Role.ADMIN: 2}
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="key from `bladecell db create-key`"
)


def get_session(request: Request) -> Iterator[Session]:
    """One session per request. Writes commit explicitly in the endpoint; anything else is rolled back."""
    writes = request.method not in ("GET", "HEAD", "OPTIONS")
    # SQLite: a writing request takes the write lock at BEGIN, so its read-then-write never fails to upgrade.
    options = {"sqlite_begin": "IMMEDIATE"} if writes else {}
    with request.app.state.session_factory(execution_options=options) as session:
        yield session


def get_settings(request: Request) -> DatabaseSettings:
    return request.app.state.settings


def get_store(request: Request) -> ContentStore:
    return request.app.state.store


SessionDep = Annotated[Session, Depends(get_session)]
StoreDep = Annotated[ContentStore, Depends(get_store)]
SettingsDep = Annotated[DatabaseSettings, Depends(get_settings)]


def current_user(
    request: Request, session: SessionDep, api_key: Annotated[str | None, Security(api_key_header)]
) -> User:
    throttle = request.app.state.auth_throttle
    client = request.client.host if request.client else "unknown"
    prefix = key_prefix(api_key) if api_key else None
    if api_key:
        wait = throttle.retry_after(client, prefix)
        if wait is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many failed authentications from this client; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
    found = authenticate_key(session, api_key)
    if found is None:
        if api_key:
            throttle.record_failure(client, prefix)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API key (send it in the X-API-Key header)"
            if api_key
            else "missing X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    user, key = found
    request.state.api_key_id = key.id
    return user


def has_role(user: User, minimum: Role) -> bool:
    return RANK[user.role] >= RANK[minimum]


def require_role(minimum: Role) -> Callable[[User], User]:
    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if not has_role(user, minimum):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the {minimum.value} role; you are {user.role.value}"
            )
        return user

    check.__name__ = f"require_{minimum.value}"
    return check


Technician = Annotated[User, Depends(require_role(Role.TECHNICIAN))]
Engineer = Annotated[User, Depends(require_role(Role.ENGINEER))]
Admin = Annotated[User, Depends(require_role(Role.ADMIN))]


def can_see_all_cycles(user: User) -> bool:
    return has_role(user, Role.ENGINEER)


def can_edit_catalog(user: User) -> bool:
    """Part families and blades are registered by engineers (the catalog routes need `Engineer`)."""
    return has_role(user, Role.ENGINEER)
