"""Users and API keys: creation, revocation and authentication of a presented key.

Key format `bc_<prefix>_<secret>`: the 12-hex-digit prefix is stored in clear to find the row, the
SHA-256 of the whole key is stored to verify it (compared in constant time). The plain key is shown
once, at creation, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ConflictError, InvalidInputError, NotFoundError
from ..orm import ApiKey, Role, User, utcnow

_KEY_PATTERN = re.compile(r"^bc_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"
LAST_USED_RESOLUTION = timedelta(minutes=5)  # don't turn every read request into a write


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> tuple[str, str]:
    """A new random key and its lookup prefix."""
    prefix = secrets.token_hex(6)
    return f"bc_{prefix}_{secrets.token_urlsafe(32)}", prefix


def create_user(session: Session, username: str, role: Role | str, full_name: str = "") -> User:
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise InvalidInputError("username", f"{username!r} must be 2-64 letters, digits, '_', '.' or '-'")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"username {username!r} already exists")
    user = User(username=username, role=Role(role), full_name=full_name)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    return user


def get_user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError("user", username)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def create_api_key(session: Session, user: User, name: str = "") -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the plain key (show it once, it is not stored)."""
    if not user.active:
        raise ConflictError(f"user {user.username!r} is deactivated; activate it before issuing keys")
    key, prefix = generate_api_key()
    row = ApiKey(user_id=user.id, name=name, prefix=prefix, key_hash=hash_api_key(key))
    session.add(row)
    session.flush()
    return row, key


def list_api_keys(session: Session, user_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)))


def revoke_api_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError("API key", key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row


def key_prefix(presented: str) -> str | None:
    """The lookup prefix of a well-formed key, None for anything else (it names no key)."""
    match = _KEY_PATTERN.match(presented.strip())
    return match.group(1) if match else None


def authenticate(session: Session, presented: str | None) -> User | None:
    """The active user owning the presented, unrevoked key; None for anything else."""
    found = authenticate_key(session, presented)
    return found[0] if found else None


def authenticate_key(session: Session, presented: str | None) -> tuple[User, ApiKey] | None:
    """Like `authenticate`, also returning the key row (so a request knows which key it came with)."""
    if not presented:
        return None
    prefix = key_prefix(presented)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_api_key(presented.strip())):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.commit()
    return user, row
