"""API tokens: a person's credentials for ``playbook serve``, shown once and kept hashed.

A token is ``pbt_`` and 43 URL-safe characters: 32 random bytes from the
operating system's generator. Only its SHA-256 is stored. A slow password
hash (bcrypt, argon2) protects low-entropy secrets that people choose against
guessing; a 256-bit random secret cannot be guessed, so a fast hash protects
it as well and lets every request be checked by one indexed lookup.

A token may be scoped to some of its person's roles; the roles a request acts
with are the person's roles *as stored at the time of the request*, narrowed
by the scopes, so taking a role from a person takes it from their tokens too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from playbook.errors import AuthenticationError, TokenError
from playbook.i18n import Message
from playbook.store.db import Database
from playbook.store.models import ApiToken, Person
from playbook.store.people import PersonRecord, get_person, person_from_row
from playbook.values import require_now

__all__ = [
    "TOKEN_PREFIX",
    "Credentials",
    "TokenInfo",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke_token",
]

TOKEN_PREFIX = "pbt_"  # noqa: S105 (a fixed marker, not a secret)
"""How every token starts: secret scanners and people can tell one at a glance."""

_SECRET_BYTES = 32
_SHOWN = 8  # characters of the secret kept in clear to tell tokens apart in listings


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret, only its first characters."""

    id: int
    person: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """The JSON form, with the status at ``now``; times in ISO 8601 UTC."""
        return {
            "id": self.id,
            "person": self.person,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "status": self.status(now),
        }


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a request acts as: the person, and the roles the token lets them use."""

    person: PersonRecord
    roles: tuple[str, ...]
    token_id: int


def create_token(
    database: Database,
    person: str,
    *,
    now: datetime,
    expires_in: timedelta | None = None,
    scopes: tuple[str, ...] = (),
) -> tuple[str, TokenInfo]:
    """Make a token for ``person``; returns the secret (shown once, never stored) and its info.

    ``scopes`` must be roles the person holds; without scopes the token acts
    with all of them. Raises :class:`~playbook.errors.TokenError` otherwise.
    """
    at = require_now(now)
    holder = get_person(database, person)
    missing = sorted(set(scopes) - set(holder.roles))
    if missing:
        raise TokenError(
            Message("error.tokens.roles_not_held", name=holder.name, names=missing),
            hint=Message(
                "error.tokens.roles_held",
                names=list(holder.roles) or Message("error.tokens.no_roles"),
            ),
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    row = ApiToken(
        person=holder.name,
        prefix=secret[: len(TOKEN_PREFIX) + _SHOWN],
        sha256=_digest(secret),
        scopes=sorted(set(scopes)),
        created_at=at,
        expires_at=at + expires_in if expires_in is not None else None,
        revoked_at=None,
    )
    with database.transaction(write=True) as session:
        session.add(row)
        session.flush()
        return secret, _info(row)


def list_tokens(database: Database, *, person: str | None = None) -> list[TokenInfo]:
    """Every token (of one person), oldest first."""
    query = select(ApiToken).order_by(ApiToken.id)
    if person is not None:
        query = query.where(ApiToken.person == person)
    with database.transaction() as session:
        return [_info(row) for row in session.scalars(query)]


def revoke_token(database: Database, token_id: int, *, now: datetime) -> TokenInfo:
    """Revoke a token from ``now`` on (a token revoked before stays revoked then)."""
    at = require_now(now)
    with database.transaction(write=True) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        row = session.get(ApiToken, token_id)
        if row is None:
            raise TokenError(
                Message("error.tokens.not_found", id=token_id),
                hint=Message("error.tokens.list_shows_them"),
            )
        return _info(row)


def authenticate(database: Database, secret: str | None, *, now: datetime) -> Credentials:
    """The person and roles ``secret`` stands for at ``now``.

    Raises :class:`~playbook.errors.AuthenticationError` for no token, an
    unknown, revoked or expired one; ``details["person"]`` names the holder of
    a known one (for the record of the refusal).
    """
    if not secret:
        raise AuthenticationError(
            Message("error.tokens.needed"),
            hint=Message("error.tokens.send_bearer"),
            details={"reason": "missing"},
        )
    at = require_now(now)
    with database.transaction() as session:
        found = session.execute(_BY_DIGEST, {"digest": _digest(secret)}).one_or_none()
        if found is None:
            raise AuthenticationError(
                Message("error.tokens.unknown"), details={"reason": "unknown"}
            )
        token, row = found
        _usable(_info(token), at)
        person = person_from_row(row)
    roles = tuple(r for r in person.roles if not token.scopes or r in token.scopes)
    return Credentials(person=person, roles=roles, token_id=token.id)


# Built once: a statement object keeps its cache key (see store/lifecycle.py).
_BY_DIGEST = (
    select(ApiToken, Person)
    .join(Person, Person.name == ApiToken.person)
    .where(ApiToken.sha256 == bindparam("digest"))
)


def _usable(token: TokenInfo, at: datetime) -> None:
    status = token.status(at)
    if status != "active":
        raise AuthenticationError(
            Message(
                "error.tokens.not_active",
                prefix=token.prefix,
                status=Message(
                    "error.tokens.revoked" if status == "revoked" else "error.tokens.expired"
                ),
            ),
            hint=Message("error.tokens.ask_new"),
            details={"reason": status, "person": token.person, "token": token.id},
        )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        person=row.person,
        prefix=row.prefix,
        scopes=tuple(row.scopes or ()),
        created_at=row.created_at.astimezone(UTC),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
