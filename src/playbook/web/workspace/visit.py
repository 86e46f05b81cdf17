"""Who a workspace page is shown to: the person behind the session cookie, and their words.

Nothing a form sends names its actor: the session does. A page asked for
without a live session raises :class:`~playbook.errors.SignInRequiredError`
or :class:`~playbook.errors.SessionEndedError` (the pages answer with the
sign-in page); a gated form refused that way is recorded in ``refusals``, as
the API records a write with a revoked token. Every form that changes
something carries the session's CSRF token (compared in constant time), and a
form sent from another origin is refused before anything is read from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from playbook import refusals, services
from playbook.errors import CsrfError, InvalidBodyError, SessionEndedError
from playbook.i18n import LANGUAGES, Message
from playbook.model import Playbook
from playbook.store.repository import DealStore
from playbook.store.sessions import SignedIn, csrf_token, resolve_session, same_csrf
from playbook.values import Actor
from playbook.web.access import spoken_to

__all__ = [
    "LANG_COOKIE",
    "SESSION_COOKIE",
    "Visitor",
    "asked_language",
    "form_of",
    "invalid",
    "required",
    "visitor",
]

SESSION_COOKIE = "pb_session"
NO_SESSION = "PB056"
"""A page or form without a session cookie (a finer code of ``SessionEndedError``)."""
FORM_INVALID = "PB057"
"""A form field missing or not of its kind (a finer code of ``InvalidBodyError``)."""
LANG_COOKIE = "pb_lang"
_MAX_FIELDS = 50


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in browser: the store, the session, its cookie, the time, the language asked."""

    store: DealStore
    signed: SignedIn
    secret: str
    now: datetime
    asked: str | None

    @property
    def name(self) -> str:
        """The person's name: the actor every record names."""
        return self.signed.credentials.person.name

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles the session acts with (the token's, as stored now)."""
        return self.signed.credentials.roles

    @property
    def csrf(self) -> str:
        """The CSRF token every form of this session carries."""
        return csrf_token(self.secret)

    def language(self, playbook: Playbook | None = None) -> str:
        """``?lang=`` or the language cookie, else the person's, else the playbook's, else en."""
        return spoken_to(self.asked, self.signed.credentials, playbook)

    def actor(self, playbook: Playbook, action: str, deal: str | None = None) -> Actor:
        """The actor on ``playbook``'s deals; refused (and recorded) without any of its roles."""
        return services.actor_for(
            self.store, playbook, self.name, self.roles, action=action, now=self.now, deal=deal
        )


def asked_language(request: Request) -> str | None:
    """The language ``?lang=`` or the language cookie asks for, if playbook speaks it."""
    for lang in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if lang in LANGUAGES:
            return lang
    return None


def visitor(request: Request, action: str | None = None, deal: str | None = None) -> Visitor:
    """The signed-in person of ``request``; a refused gated ``action`` is recorded.

    Raises :class:`~playbook.errors.SessionEndedError`: ``PB056`` without a
    session cookie, ``PB624`` for an unknown, expired, signed-out one, or one
    whose token went.
    """
    store: DealStore = request.app.state.store
    now = datetime.now(UTC)
    secret = request.cookies.get(SESSION_COOKIE)
    try:
        if not secret:
            raise SessionEndedError(
                Message("error.workspace.sign_in_first"),
                hint=Message("error.sessions.sign_in_again"),
                details={"reason": "missing"},
                code=NO_SESSION,
            )
        signed = resolve_session(store.database, secret, now=now)
    except SessionEndedError as error:
        if action is not None:
            who = str(error.details.get("person") or "?")
            refusals.record(store, error, action, actor=who, roles=(), now=now, deal=deal)
        raise
    return Visitor(store, signed, secret, now, asked_language(request))


async def form_of(request: Request, who: Visitor | None, action: str) -> dict[str, str]:
    """The fields of a posted form (``application/x-www-form-urlencoded``), CSRF checked.

    Refuses (:class:`~playbook.errors.CsrfError`) a form from another origin
    and, with a session, one without that session's CSRF token; the refusal
    of a signed-in person is recorded. The body's size is capped by the app.
    """
    _same_origin(request)
    body = (await request.body()).decode("utf-8", "replace")
    parsed = parse_qs(body, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    fields = {key: values[-1] for key, values in parsed.items()}
    if who is not None and not same_csrf(who.secret, fields.get("csrf")):
        error = _csrf_error()
        deal = request.path_params.get("ref")
        refusals.record(who.store, error, action, actor=who.name, roles=who.roles, now=who.now,
                        deal=deal)  # fmt: skip
        raise error
    return fields


def required(fields: dict[str, str], name: str) -> str:
    """The stripped value of the form field ``name``; :class:`FormError` when empty."""
    value = fields.get(name, "").strip()
    if not value:
        raise InvalidBodyError(
            Message("error.workspace.field_missing", field=name),
            hint=Message("error.workspace.fill_field"),
            details={"field": name},
            code=FORM_INVALID,
        )
    return value


def invalid(name: str, value: str) -> InvalidBodyError:
    """The error of a form field ``name`` whose ``value`` is not of its kind (``PB057``)."""
    return InvalidBodyError(
        Message("error.workspace.field_invalid", field=name, value=value[:40]),
        hint=Message("error.workspace.fill_field"),
        details={"field": name},
        code=FORM_INVALID,
    )


def _same_origin(request: Request) -> None:
    """Refuse a form whose ``Origin`` (or ``Referer``) is another site than this server."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return  # a client that sends neither: SameSite=Lax and the CSRF token still stand
    if origin == "null" or urlsplit(origin).netloc != request.headers.get("host", ""):
        raise _csrf_error()


def _csrf_error() -> CsrfError:
    return CsrfError(Message("error.workspace.csrf"), hint=Message("error.workspace.reload_form"))
