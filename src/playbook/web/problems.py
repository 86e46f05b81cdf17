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
    AuthenticationError,
    BodyTooLargeError,
    CrmRecordsError,
    InternalError,
    InvalidBodyError,
    InvalidPlaybookError,
    MalformedBodyError,
    MoveBlockedError,
    PlaybookError,
    RouteNotFoundError,
)
from playbook.i18n import Message

__all__ = ["error_body", "install", "respond", "status_of", "too_large"]

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())


def status_of(error: PlaybookError) -> int:
    """The HTTP status for ``error``: its class's ``http_status`` (see :mod:`playbook.errors`)."""
    return error.http_status


def error_body(error: PlaybookError, lang: str | None = None) -> dict[str, Any]:
    """The JSON body of ``error``, its message and hint in ``lang`` (English for None);
    a blocked move carries its decision, an invalid playbook its diagnostics, refused CRM
    records each record's error, in it too."""
    data: dict[str, Any] = {
        "code": error.code,
        "message": error.message_in(lang),
        "hint": error.hint_in(lang),
    }
    details = {key: value for key, value in error.details.items() if key != "recorded"}
    data["details"] = _json_safe(details)
    if isinstance(error, MoveBlockedError):
        data["decision"] = error.decision.to_dict(lang)
    if isinstance(error, InvalidPlaybookError):
        data["diagnostics"] = [item.to_dict(lang) for item in error.diagnostics]
    if isinstance(error, CrmRecordsError) and error.records:
        data["records"] = [
            {
                "record": number,
                "external_id": external_id,
                "code": refused.code,
                "message": refused.message_in(lang),
                "hint": refused.hint_in(lang),
            }
            for number, external_id, refused in error.records
        ]
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
        key = (
            "error.web.no_such_path" if error.status_code == 404 else "error.web.method_not_allowed"
        )
        found = RouteNotFoundError(
            Message(key, method=request.method, path=request.url.path),
            hint=Message("error.web.api_root"),
        )
        response = respond(found, request)
        response.status_code = error.status_code
        return response
    if error.status_code == 413:
        return respond(too_large(1024 * 1024), request)
    return respond(
        MalformedBodyError(
            Message("error.web.body_unreadable"), hint=Message("error.web.send_utf8_json")
        ),
        request,
    )


async def _bug(request: Request, error: Exception) -> JSONResponse:
    _LOG.exception("internal error on %s %s", request.method, request.url.path)
    found = InternalError(
        Message("error.web.internal"),
        hint=Message("error.web.report_bug"),
    )
    return respond(found, request)


def too_large(limit: int) -> BodyTooLargeError:
    """The error of a body over ``limit`` bytes."""
    return BodyTooLargeError(
        Message("error.web.too_large", limit=limit),
        hint=Message("error.web.send_less"),
        details={"limit": limit},
    )


def _request_error(problems: Sequence[Any], known: Mapping[str, Sequence[str]]) -> PlaybookError:
    """The first problem the framework found, as a coded error naming the field."""
    first = problems[0] if problems else {}
    kind = str(first.get("type", ""))
    where = [str(part) for part in first.get("loc", ()) if part != "body"]
    if kind == "json_invalid":
        error = first.get("ctx", {}).get("error", "not JSON")
        return MalformedBodyError(
            Message("error.web.not_json", error=error), hint=Message("error.web.send_json")
        )
    field = ".".join(where) or "the body"
    if kind == "extra_forbidden":
        name = where[-1] if where else ""
        choices = known.get(".".join(where[:-1]), ())
        return InvalidBodyError(
            Message("error.web.unknown_field", field=field),
            hint=did_you_mean(name, choices) or Message("error.web.known_fields", names=choices),
            details={"field": field, "problems": _problems(problems)},
        )
    return InvalidBodyError(
        Message("error.web.invalid_value", field=field, problem=first.get("msg", "invalid")),
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
