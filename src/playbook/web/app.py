"""The ASGI application of ``playbook serve``: the versioned JSON API under ``/api/v1``.

:func:`create_app` builds the routes, the error handlers and the request-size
limit; :func:`bind` gives it a deal store. The OpenAPI 3.1 document is served
at ``/api/v1/openapi.json`` (no Swagger UI: it would load scripts from a CDN).
The web workspace (:mod:`playbook.web.workspace`) is served by this same application,
under ``/``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from playbook.pipeline import Pipeline
from playbook.store.db import POOL_SIZE
from playbook.store.repository import DealStore
from playbook.web import (
    actions,
    approvals,
    deals,
    escalations,
    kpis,
    playbooks,
    problems,
    webhooks,
    workspace,
)
from playbook.web.access import Caller, reader
from playbook.web.schemas import ErrorBody, Me

__all__ = ["API_PREFIX", "MAX_BODY_BYTES", "bind", "create_app", "openapi_document"]

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted (1 MiB); larger ones are refused with 413 (PB053)."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Malformed JSON (PB051)."),
        (401, "No token, or an unknown, revoked or expired one (PB532)."),
        (403, "The person's roles do not allow it (PB530, PB531, PB510)."),
        (404, "No such deal, escalation or path."),
        (409, "Blocked by the engine (PB540, with the decision) or changed meanwhile (PB602)."),
        (412, "If-Match names a version the deal has moved on from (PB609)."),
        (413, "The body is over 1 MiB (PB053)."),
        (422, "Wrong types, missing or unknown fields (PB052), or values the playbook refuses."),
        (500, "A bug (PB059): nothing of it is shown."),
        (503, "The database is unavailable, locked or full (PB603, PB606, PB608)."),
    )
}


def create_app(store: DealStore | None = None, *, max_body: int = MAX_BODY_BYTES) -> FastAPI:
    """The application, with ``store`` bound when given (see :func:`bind`)."""
    app = FastAPI(
        title="playbook",
        summary="Sales playbooks enforced on deals: the live enforcement point.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
        lifespan=_threads,
    )
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(deals.router)
    api.include_router(approvals.router)
    api.include_router(actions.router)
    api.include_router(escalations.router)
    api.include_router(playbooks.router)
    api.include_router(kpis.router)
    api.include_router(webhooks.router)
    api.add_api_route("/me", _me, methods=["GET"], response_model=Me, tags=["people"])
    app.include_router(api)
    workspace.install(app)
    problems.install(app)
    app.add_middleware(_Limits, max_body=max_body)
    app.openapi = _pruned(app.openapi)  # type: ignore[method-assign]
    if store is not None:
        bind(app, store)
    return app


def bind(app: FastAPI, store: DealStore) -> None:
    """Let ``app`` serve the deals of ``store``.

    Its engines are cached per registered playbook version (a registered text
    never changes); everything else (tokens, people, deals, which version is
    active) is read from the database on each request, so several processes
    can serve one database.
    """
    app.state.store = store
    app.state.pipeline = Pipeline(store)


@asynccontextmanager
async def _threads(_app: FastAPI) -> AsyncIterator[None]:
    """Run as many requests at once as the store has pooled connections (not anyio's 40).

    More threads than connections only wait for one, or open and close one per
    request past the pool; fewer threads also fight less over the GIL.
    """
    anyio.to_thread.current_default_thread_limiter().total_tokens = POOL_SIZE
    yield


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (no store needed)."""
    return create_app().openapi()


def _pruned(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The document without schemas nothing refers to (pydantic leaves one for JsonValue)."""

    def document() -> dict[str, Any]:
        found = generate()
        schemas = found.get("components", {}).get("schemas", {})
        text = json.dumps({key: value for key, value in found.items() if key != "components"})
        text += json.dumps(schemas)
        for name in [name for name in schemas if f'"#/components/schemas/{name}"' not in text]:
            del schemas[name]
        return found

    return document


def _me(caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
    """The person the token stands for and the roles it acts with."""
    person = caller.credentials.person
    return {
        "name": person.name,
        "email": person.email,
        "team": person.team,
        "manager": person.manager,
        "language": person.language,
        "roles": list(caller.credentials.roles),
    }


_PRIVATE = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


class _Limits:
    """Refuse bodies over ``max_body`` bytes (413), declared or streamed; mark responses private.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a chunked body is counted as it arrives and refused once past it.
    """

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared and (not declared.isdigit() or int(declared) > self.max_body):
            await _refuse_large(send, self.max_body)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise problems.too_large(self.max_body)
            return message

        async def private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, counted, private)


async def _refuse_large(send: Send, limit: int) -> None:
    body = json.dumps(problems.error_body(problems.too_large(limit))).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
