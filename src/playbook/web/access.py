"""Who a request acts as: the person behind its bearer token, with that person's roles.

Nothing in a request's body or query names its actor: the token does. A write
refused before any rule is asked (no token, an unknown, revoked or expired
one) is recorded in ``refusals`` like any other refused gated attempt; a read
without a valid token is only answered 401 (recording every anonymous read
would let anyone fill the database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from playbook import refusals, services
from playbook.errors import AuthenticationError, InvalidBodyError
from playbook.i18n import LANGUAGES, Message
from playbook.model import Playbook
from playbook.pipeline import Pipeline
from playbook.store.repository import DealStore
from playbook.store.tokens import Credentials, authenticate
from playbook.values import Actor

__all__ = [
    "Caller",
    "engines",
    "mark_gated",
    "preferred_language",
    "reader",
    "spoken_to",
    "version_of",
    "writer",
]

_BEARER = HTTPBearer(auto_error=False, description="`playbook tokens create PERSON` makes one.")


@dataclass(frozen=True, slots=True)
class Caller:
    """A signed-in request: the store, the person and roles, the time, the language asked for."""

    store: DealStore
    credentials: Credentials
    now: datetime
    asked_language: str | None

    @property
    def name(self) -> str:
        """The person's name: the actor every record names."""
        return self.credentials.person.name

    def language(self, playbook: Playbook | None = None) -> str:
        """``Accept-Language``, else the person's language, else the playbook's, else English."""
        return spoken_to(self.asked_language, self.credentials, playbook)

    def actor(self, playbook: Playbook, action: str, deal: str | None = None) -> Actor:
        """The actor on ``playbook``'s deals; refused (and recorded) without any of its roles."""
        return services.actor_for(
            self.store,
            playbook,
            self.name,
            self.credentials.roles,
            action=action,
            now=self.now,
            deal=deal,
        )


def spoken_to(asked: str | None, credentials: Credentials, playbook: Playbook | None) -> str:
    """The language ``asked`` for, else the person's, else the playbook's, else English."""
    for lang in (asked, credentials.person.language):
        if lang in LANGUAGES:
            return lang
    if playbook is not None and playbook.language in LANGUAGES:
        return playbook.language
    return "en"


def engines(request: Request) -> Pipeline:
    """The engines of the store the app serves: one per registered playbook version, cached."""
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def preferred_language(header: str | None) -> str | None:
    """The first language of an ``Accept-Language`` header that playbook speaks, or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and weight > 0:
            ranked.append((-weight, index, primary))
    return min(ranked)[2] if ranked else None


def version_of(if_match: str | None) -> int | None:
    """The deal version an ``If-Match`` header names (``"7"``, ``W/"7"`` or ``7``), or None."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 18:
        raise InvalidBodyError(
            Message("error.web.if_match_not_version", text=if_match[:40]),
            hint=Message("error.web.send_etag"),
        )
    return int(text)


def _signed_in(action: str | None) -> Callable[..., Caller]:
    def caller(
        request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> Caller:
        store: DealStore = request.app.state.store
        now = datetime.now(UTC)
        asked = preferred_language(request.headers.get("accept-language"))
        request.state.lang = asked
        secret = bearer.credentials if bearer is not None else None
        try:
            credentials = authenticate(store.database, secret, now=now)
        except AuthenticationError as error:
            if action is not None:
                who = str(error.details.get("person") or "?")
                deal = request.path_params.get("ref")
                refusals.record(store, error, action, actor=who, roles=(), now=now, deal=deal)
            raise
        request.state.lang = asked or credentials.person.language
        return Caller(store, credentials, now, asked)

    return caller


reader = _signed_in(None)
"""The dependency of a read: a valid token, or 401."""


_GATED: dict[Callable[..., Caller], str] = {}
"""The dependency of each gated write, and the action its refusals are recorded as."""


def writer(action: str) -> Callable[..., Caller]:
    """The dependency of a gated write named ``action``: a refusal without a valid token is kept."""
    dependency = _signed_in(action)
    _GATED[dependency] = action
    return dependency


def mark_gated(router: APIRouter) -> APIRouter:
    """Mark each route of ``router`` that depends on :func:`writer` ``x-gated: ACTION`` in the
    OpenAPI document (call it before the router is included): the authorization sweep
    enumerates the gated operations from the document, so none can be forgotten."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        for dependency in route.dependant.dependencies:
            action = _GATED.get(dependency.call) if dependency.call is not None else None
            if action is not None:
                route.openapi_extra = {**(route.openapi_extra or {}), "x-gated": action}
    return router
