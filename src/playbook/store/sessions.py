"""Sessions of the web workspace: kept in the database, so every ``serve`` process shares them.

A person signs in with their email and an API token of theirs
(:func:`open_session`); the browser then holds a session cookie: ``pbs_`` and
43 URL-safe characters, 32 random bytes from the operating system's
generator. Only the cookie's SHA-256 is stored (as for API tokens: a 256-bit
random secret needs no slow hash). Each request resolves the cookie
(:func:`resolve_session`) with one indexed query that also reads the token and
the person: the session ends when it expires, when it is signed out
(:func:`end_session`), when its token is revoked or expires, and when its
person is removed (the row goes with them). The roles a session acts with are
its token's, as stored at the time of the request.

The CSRF token of a session is derived from its cookie (:func:`csrf_token`),
never stored: a reader of the database cannot forge a form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from playbook.errors import AuthenticationError, SessionEndedError
from playbook.i18n import Message
from playbook.store.db import Database
from playbook.store.models import ApiToken, Person, WebSession
from playbook.store.people import person_from_row
from playbook.store.tokens import Credentials, authenticate
from playbook.values import require_now

__all__ = [
    "SESSION_LIFETIME",
    "SESSION_PREFIX",
    "SIGN_IN_REFUSED",
    "SignedIn",
    "csrf_token",
    "end_session",
    "open_session",
    "resolve_session",
    "same_csrf",
]

SESSION_PREFIX = "pbs_"
"""How every session cookie starts (``pbt_`` is an API token)."""

SESSION_LIFETIME = timedelta(hours=12)
"""How long a session lasts from sign-in, unless signed out or its token goes first."""

_MAX_LIFETIME = timedelta(days=30)

# Why a session is not live (``details["reason"]``, and the end of its message's key).
_UNKNOWN, _SIGNED_OUT, _EXPIRED, _TOKEN = "unknown", "signed_out", "expired", "token"
_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: its id, when it expires, and the credentials it acts with."""

    session_id: int
    expires_at: datetime
    credentials: Credentials


def open_session(
    database: Database,
    email: str,
    token: str,
    *,
    now: datetime,
    lifetime: timedelta = SESSION_LIFETIME,
) -> tuple[str, SignedIn]:
    """Sign ``email``'s holder in with one of their API tokens; the cookie secret and session.

    Raises :class:`~playbook.errors.SessionEndedError` with code ``PB625``
    when the token is unknown, revoked or expired, or is not a token of the
    person with that email (one answer for all: a guesser learns nothing);
    ``details["person"]`` names the token's holder when the token is known
    (for the record). ``lifetime`` is capped at 30 days.
    """
    at = require_now(now)
    lifetime = min(lifetime, _MAX_LIFETIME)
    try:
        credentials = authenticate(database, token.strip() or None, now=at)
    except AuthenticationError as error:
        raise _refused(error.details.get("person")) from error
    person = credentials.person
    if not person.email or not hmac.compare_digest(
        person.email.casefold().encode(), email.strip().casefold().encode()
    ):
        raise _refused(person.name)
    secret = SESSION_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    row = WebSession(
        sha256=_digest(secret),
        person=person.name,
        token_id=credentials.token_id,
        created_at=at,
        expires_at=at + lifetime,
        revoked_at=None,
    )
    with database.transaction(write=True) as session:
        session.add(row)
        session.flush()
        return secret, SignedIn(row.id, row.expires_at, credentials)


def resolve_session(database: Database, secret: str | None, *, now: datetime) -> SignedIn:
    """The live session ``secret`` (a cookie's value) stands for at ``now``.

    Raises :class:`~playbook.errors.SessionEndedError` for no cookie, an
    unknown one, or a session expired, signed out, or whose token was revoked
    or expired; ``details["person"]`` names the holder of a known one.
    """
    at = require_now(now)
    if not secret or not secret.startswith(SESSION_PREFIX):
        raise _ended(_UNKNOWN, None)
    with database.transaction() as session:
        found = session.execute(
            select(WebSession, ApiToken, Person)
            .join(ApiToken, ApiToken.id == WebSession.token_id)
            .join(Person, Person.name == WebSession.person)
            .where(WebSession.sha256 == _digest(secret))
        ).one_or_none()
    if found is None:
        raise _ended(_UNKNOWN, None)
    row, token, person_row = found
    if row.revoked_at is not None:
        raise _ended(_SIGNED_OUT, row.person)
    if row.expires_at <= at:
        raise _ended(_EXPIRED, row.person)
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= at):
        raise _ended(_TOKEN, row.person)
    # The roles as stored now, narrowed by the token's scopes: what an API request gets.
    person = person_from_row(person_row)
    roles = tuple(r for r in person.roles if not token.scopes or r in token.scopes)
    return SignedIn(row.id, row.expires_at, Credentials(person, roles, token.id))


def end_session(database: Database, secret: str | None, *, now: datetime) -> bool:
    """Sign the session out from ``now`` on; True if a live session was ended."""
    at = require_now(now)
    if not secret:
        return False
    with database.transaction(write=True) as session:
        done = session.execute(
            update(WebSession)
            .where(WebSession.sha256 == _digest(secret), WebSession.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(getattr(done, "rowcount", 0))


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie is ``secret`` (derived, never stored)."""
    return hashlib.sha256(b"playbook-csrf\x00" + secret.encode()).hexdigest()


def same_csrf(secret: str, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token (compared in constant time)."""
    return sent is not None and hmac.compare_digest(csrf_token(secret).encode(), sent.encode())


SIGN_IN_REFUSED = "PB625"
"""The code of a refused sign-in (a finer code of :class:`~playbook.errors.SessionEndedError`)."""


def _refused(person: object) -> SessionEndedError:
    return SessionEndedError(
        Message("error.sessions.sign_in_refused"),
        hint=Message("error.sessions.sign_in_hint"),
        details={"reason": "sign_in", "person": str(person) if person else "?"},
        code=SIGN_IN_REFUSED,
    )


def _ended(reason: str, person: str | None) -> SessionEndedError:
    return SessionEndedError(
        Message(f"error.sessions.ended_{reason}"),
        hint=Message("error.sessions.sign_in_again"),
        details={"reason": reason, "person": person or "?"},
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
