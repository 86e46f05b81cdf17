"""Every failure of a request as one JSON shape, ``{"error": {"code": "PBnnn", ...}}``.

Errors are :class:`~playbook.errors.PlaybookError` s with a stable code; the
HTTP status follows from the class (a blocked move is 409, a stale
``If-Match`` 412, a missing token 401, a role not allowed 403). A request the
framework cannot parse (malformed JSON, wrong types, unknown fields) becomes a
coded error too, with a did-you-mean for a misspelt field. Anything else is a
bug: logged on the server with its traceback, answered with ``PB059`` and no
trace (the last line of defence, as the CLI's exit 70).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from playbook.diagnostics import did_you_mean
from playbook.errors import (
    ActorError,
    AuthenticationError,
    BodyTooLargeError,
    ConflictError,
    DatabaseLockedError,
    DatabaseUnavailableError,
    DealNotFoundError,
    DiskFullError,
    EscalationNotFoundError,
    InternalError,
    InvalidBodyError,
    InvalidPlaybookError,
    MalformedBodyError,
    MoveBlockedError,
    OverrideError,
    PermissionDeniedError,
    PersonNotFoundError,
    PlaybookError,
    PlaybookMismatchError,
    RouteNotFoundError,
    SchemaVersionError,
    StaleVersionError,
)

__all__ = ["STATUS", "error_body", "install", "respond", "status_of", "too_large"]

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())

STATUS: tuple[tuple[type[PlaybookError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (OverrideError, 403),
    (ActorError, 403),
    (StaleVersionError, 412),
    (ConflictError, 409),
    (MoveBlockedError, 409),
    (PlaybookMismatchError, 409),
    (DealNotFoundError, 404),
    (PersonNotFoundError, 404),
    (EscalationNotFoundError, 404),
    (RouteNotFoundError, 404),
    (MalformedBodyError, 400),
    (BodyTooLargeError, 413),
    (InvalidBodyError, 422),
    (InvalidPlaybookError, 422),
    (DatabaseLockedError, 503),
    (DatabaseUnavailableError, 503),
    (DiskFullError, 503),
    (SchemaVersionError, 503),
    (InternalError, 500),
)
"""The HTTP status of each error class, the first match winning (subclasses first)."""


def status_of(error: PlaybookError) -> int:
    """The HTTP status for ``error``: see :data:`STATUS`; other bad input is 422."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 422 if error.exit_code == 2 else 409


def error_body(error: PlaybookError, lang: str | None = None) -> dict[str, Any]:
    """The JSON body of ``error``; a blocked move carries its decision in ``lang``."""
    data: dict[str, Any] = {"code": error.code, "message": error.message, "hint": error.hint}
    details = {key: value for key, value in error.details.items() if key != "recorded"}
    data["details"] = _json_safe(details)
    if isinstance(error, MoveBlockedError):
        data["decision"] = error.decision.to_dict(lang)
    if isinstance(error, InvalidPlaybookError):
        data["diagnostics"] = [item.to_dict() for item in error.diagnostics]
    return {"error": data}


def install(app: FastAPI) -> None:
    """Answer every failure of ``app`` with a coded JSON error."""
    app.add_exception_handler(PlaybookError, _playbook_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _bug)


def respond(error: PlaybookError, request: Request) -> JSONResponse:
    """The response for ``error``: its status, body and (for 401) the challenge."""
    lang = getattr(request.state, "lang", None)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
    return JSONResponse(error_body(error, lang), status_code=status_of(error), headers=headers)


async def _playbook_error(request: Request, error: PlaybookError) -> JSONResponse:
    return respond(error, request)


async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    return respond(_request_error(error.errors(), _fields_of(request)), request)


async def _http(request: Request, error: HTTPException) -> JSONResponse:
    if error.status_code in (404, 405):
        what = "no such path" if error.status_code == 404 else "the path does not take this method"
        found = RouteNotFoundError(
            f"{what}: {request.method} {request.url.path}",
            hint="the API is under /api/v1; its OpenAPI document is /api/v1/openapi.json",
        )
        response = respond(found, request)
        response.status_code = error.status_code
        return response
    if error.status_code == 413:
        return respond(too_large(1024 * 1024), request)
    return respond(
        MalformedBodyError(
            "the request body cannot be read", hint="send UTF-8 JSON with Content-Type: json"
        ),
        request,
    )


async def _bug(request: Request, error: Exception) -> JSONResponse:
    _LOG.exception("internal error on %s %s", request.method, request.url.path)
    found = InternalError(
        "the server failed on this request; it was logged",
        hint="this is a bug in playbook: report it with the time of the request",
    )
    return respond(found, request)


def too_large(limit: int) -> BodyTooLargeError:
    """The error of a body over ``limit`` bytes."""
    return BodyTooLargeError(
        f"the request body is larger than {limit:,} bytes",
        hint="send less: a deal's fields, a note or a playbook text fit in far less",
        details={"limit": limit},
    )


def _request_error(problems: Sequence[Any], known: Mapping[str, Sequence[str]]) -> PlaybookError:
    """The first problem the framework found, as a coded error naming the field."""
    first = problems[0] if problems else {}
    kind = str(first.get("type", ""))
    where = [str(part) for part in first.get("loc", ()) if part != "body"]
    if kind == "json_invalid":
        error = first.get("ctx", {}).get("error", "not JSON")
        return MalformedBodyError(f"the request body is not JSON: {error}", hint="send JSON")
    field = ".".join(where) or "the body"
    if kind == "extra_forbidden":
        name = where[-1] if where else ""
        choices = known.get(".".join(where[:-1]), ())
        return InvalidBodyError(
            f"unknown field {field!r}",
            hint=did_you_mean(name, choices) or f"known fields: {', '.join(choices)}",
            details={"field": field, "problems": _problems(problems)},
        )
    return InvalidBodyError(
        f"{field}: {first.get('msg', 'invalid')}",
        details={"field": field, "problems": _problems(problems)},
    )


def _problems(problems: Sequence[Any]) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(p) for p in item.get("loc", ()) if p != "body"),
            "problem": str(item.get("msg", "")),
        }
        for item in problems[:20]
    ]


def _fields_of(request: Request) -> Mapping[str, Sequence[str]]:
    """The fields the route's body model declares, by path ('' for the top level)."""
    route = request.scope.get("route")
    body = getattr(getattr(route, "body_field", None), "field_info", None)
    model = getattr(body, "annotation", None)
    fields = getattr(model, "model_fields", None)
    return {"": sorted(fields)} if isinstance(fields, dict) else {}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
