"""``/sign-in`` and ``/sign-out``: a session cookie from an email and an API token.

The cookie is HttpOnly (no script reads it), SameSite=Lax (no other site's
form sends it), ``Secure`` when the request came over https or the server was
started with ``--secure-cookies``, and lives as long as the session. A failed
sign-in of a known token's holder is recorded as a refusal (``sign-in``);
anonymous guesses are not (they would let anyone fill the database).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from playbook import refusals
from playbook.errors import SessionEndedError
from playbook.store.repository import DealStore
from playbook.store.sessions import SignedIn, end_session, open_session
from playbook.web.workspace.pages import error_page, page, posted, see_other
from playbook.web.workspace.visit import (
    SESSION_COOKIE,
    Visitor,
    asked_language,
    form_of,
    required,
)

__all__ = ["router"]

router = APIRouter()


@router.get("/sign-in", include_in_schema=False)
def sign_in_page(request: Request) -> Response:
    """The sign-in form (email and API token), in the language asked for."""
    lang = asked_language(request) or "en"
    return page(
        request,
        "sign_in.html",
        lang=lang,
        who=None,
        next=_next(request.query_params.get("next")),
        why=request.query_params.get("why", ""),
    )


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    """Open a session and set its cookie; back to the form with the refusal otherwise."""
    lang = asked_language(request) or "en"
    try:
        fields = await form_of(request, None, "sign-in")
        email, token = required(fields, "email"), required(fields, "token")
        store: DealStore = request.app.state.store
        secret, signed = await run_in_threadpool(_open, store, email, token)
    except Exception as error:  # shown as a page, never a trace
        return error_page(request, error, None, lang)
    response = see_other(_next(fields.get("next")))
    lifetime = int((signed.expires_at - datetime.now(UTC)).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max(lifetime, 1),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    """End the session (in the database: every process forgets it) and drop the cookie."""

    def act(who: Visitor, _fields: dict[str, str]) -> Response:
        end_session(who.store.database, who.secret, now=who.now)
        response = see_other("/sign-in")
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request)
        )
        return response

    return await posted(request, "sign-out", act)


def _open(store: DealStore, email: str, token: str) -> tuple[str, SignedIn]:
    now = datetime.now(UTC)
    try:
        return open_session(store.database, email, token, now=now)
    except SessionEndedError as error:
        who = str(error.details.get("person") or "?")
        if who != "?":
            refusals.record(store, error, "sign-in", actor=who, roles=(), now=now)
        raise


def _next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host``)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _secure(request: Request) -> bool:
    return (
        bool(getattr(request.app.state, "secure_cookies", False)) or request.url.scheme == "https"
    )
