"""Users and API keys (admins), and the caller's own identity (everyone)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from ...errors import ConflictError
from ...orm import Role
from ...services import accounts
from ..deps import Admin, Technician
from ..deps import SessionDep as Session
from ..schemas.accounts import ApiKeyCreated, ApiKeyIn, ApiKeyOut, UserIn, UserOut, UserPatch
from ..schemas.common import CONFLICT, ERROR_RESPONSES, NOT_FOUND, IdPath

router = APIRouter(tags=["accounts"], responses=ERROR_RESPONSES)


@router.get("/me", response_model=UserOut, summary="Who am I (any role)")
def me(user: Technician) -> UserOut:
    return UserOut.model_validate(user)


@router.get("/users", response_model=list[UserOut], summary="All users")
def list_users(session: Session, _: Admin) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in accounts.list_users(session)]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_user(body: UserIn, session: Session, _: Admin) -> UserOut:
    user = accounts.create_user(session, body.username, body.role, body.full_name)
    result = UserOut.model_validate(user)
    session.commit()
    return result


@router.get("/users/{user_id}", response_model=UserOut, responses=NOT_FOUND)
def get_user(user_id: IdPath, session: Session, _: Admin) -> UserOut:
    return UserOut.model_validate(accounts.get_user(session, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Change role, name, active",
)
def update_user(user_id: IdPath, body: UserPatch, session: Session, admin: Admin) -> UserOut:
    user = accounts.get_user(session, user_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if user.id == admin.id and (
        changes.get("active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN
    ):
        raise ConflictError("you cannot deactivate or demote yourself; ask another admin")
    for field, value in changes.items():
        setattr(user, field, value)
    session.flush()
    result = UserOut.model_validate(user)
    session.commit()
    return result


@router.get("/users/{user_id}/keys", response_model=list[ApiKeyOut], responses=NOT_FOUND)
def list_keys(user_id: IdPath, session: Session, _: Admin) -> list[ApiKeyOut]:
    accounts.get_user(session, user_id)
    return [ApiKeyOut.model_validate(k) for k in accounts.list_api_keys(session, user_id)]


@router.post(
    "/users/{user_id}/keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Issue an API key (the key is in this response only)",
)
def create_key(user_id: IdPath, body: ApiKeyIn, session: Session, _: Admin) -> ApiKeyCreated:
    row, key = accounts.create_api_key(session, accounts.get_user(session, user_id), body.name)
    result = ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)
    session.commit()
    return result


@router.post(
    "/keys/{key_id}/revoke",
    response_model=ApiKeyOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Revoke an API key",
)
def revoke_key(key_id: IdPath, request: Request, session: Session, _: Admin) -> ApiKeyOut:
    if key_id == getattr(request.state, "api_key_id", None):
        raise ConflictError("this is the key this request was made with; revoke it using another key")
    result = ApiKeyOut.model_validate(accounts.revoke_api_key(session, key_id))
    session.commit()
    return result
