"""``/api/v1/playbooks``: registered versions; validate, register and diff playbook texts.

Validation is the one of ``playbook validate``: an invalid text is answered
422 with every diagnostic at its line and column (``error.diagnostics``), in
the request's language. Registering and activating need one of
:data:`~playbook.web.gates.PLAYBOOK_ADMIN_ROLES` (refusals are recorded); the
version activated last is the active one (with none activated, the highest
registered). A diff is ``playbook diff --db``:
the changes between two registered versions and their impact on the open
deals pinned to the older one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message as AsgiMessage

from playbook import services
from playbook.authoring.diff import diff_playbooks, impact_on_deals
from playbook.definition.validate import FileResult, validate_text
from playbook.errors import InvalidPlaybookError, MalformedBodyError, VersionTakenError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.web.access import Caller, mark_gated, reader, writer
from playbook.web.gates import PLAYBOOK_ADMIN_ROLES, registered, require_role
from playbook.web.schemas import (
    ActivateRequest,
    Activation,
    ErrorBody,
    PlaybookDiffOut,
    PlaybookVersions,
    Registration,
    ValidateRequest,
    Validation,
)

__all__ = ["router"]

_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


class _YamlUpload(APIRoute):
    """A route that also takes the playbook as a raw YAML body (``Content-Type:
    application/yaml``, the file name in ``?file=``): it is handed on as the JSON body
    ``{"text": ..., "file": ...}``, so both forms are validated alike."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind in _YAML_TYPES:
                request = await _as_json(request)
            return await handler(request)

        return handle


async def _as_json(request: Request) -> Request:
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedBodyError(
            Message("error.web.body_unreadable"), hint=Message("error.web.send_utf8_json")
        ) from error
    file = request.query_params.get("file", "upload.yaml")
    body = json.dumps({"text": text, "file": file}).encode()
    headers = [
        (key, value)
        for key, value in request.scope["headers"]
        if key not in (b"content-type", b"content-length")
    ]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    sent = False

    async def receive() -> AsgiMessage:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({**request.scope, "headers": headers}, receive)


_UPLOAD = {
    "requestBody": {
        "content": {
            "application/yaml": {
                "schema": {
                    "type": "string",
                    "maxLength": 512 * 1024,
                    "description": "The playbook's YAML text; its file name in ?file=.",
                }
            }
        }
    },
    "parameters": [
        {
            "name": "file",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": "With a YAML body: the file name diagnostics show.",
        }
    ],
}

router = APIRouter(prefix="/playbooks", tags=["playbooks"], route_class=_YamlUpload)


@router.get("", response_model=PlaybookVersions, summary="Registered playbook versions")
def list_playbooks(caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
    """Every playbook version deals can be pinned to, with its title in the caller's language."""
    found = []
    active: dict[str, int | None] = {}
    for playbook_id, version in caller.store.playbook_versions():
        model = services.registered_playbook(caller.store, playbook_id, version)
        title = model.label(model.title, caller.language(model), playbook_id) if model else ""
        if playbook_id not in active:
            active[playbook_id] = caller.store.active_version(playbook_id)
        on = active[playbook_id] == version
        found.append({"id": playbook_id, "version": version, "title": title, "active": on})
    return {"playbooks": found}


@router.post(
    "/validate",
    response_model=Validation,
    summary="Validate a playbook text",
    openapi_extra=_UPLOAD,
    responses={
        422: {"model": ErrorBody, "description": "Invalid: every diagnostic in error.diagnostics."}
    },
)
def validate(body: ValidateRequest, caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
    """Check a playbook's YAML text as `playbook validate` does; nothing is registered."""
    result = _valid(body)
    assert result.playbook is not None  # _valid refused it otherwise
    return {
        "valid": True,
        "playbook": result.playbook.id,
        "version": result.playbook.version,
        "diagnostics": [item.to_dict(caller.language()) for item in result.diagnostics],
    }


@router.post(
    "",
    response_model=Registration,
    status_code=201,
    summary="Register a playbook version",
    openapi_extra=_UPLOAD,
    responses={
        200: {"model": Registration, "description": "This text was registered already."},
        409: {"model": ErrorBody, "description": "The version holds another text (PB064)."},
        422: {"model": ErrorBody, "description": "Invalid: every diagnostic."},
    },
)
def register(
    body: ValidateRequest,
    response: Response,
    caller: Annotated[Caller, Depends(writer("register"))],
) -> dict[str, Any]:
    """Validate and register the text as its ``playbook``@``version``; it becomes the one new
    deals follow when it is the highest and no version was activated by hand. The same text
    again changes nothing (200)."""
    require_role(caller, PLAYBOOK_ADMIN_ROLES, "register", subject=body.file)
    result = _valid(body)
    model = result.playbook
    assert model is not None  # _valid refused it otherwise
    known = caller.store.playbook_source(model.id, model.version)
    if known is not None and known != body.text:
        raise VersionTakenError(
            Message("error.web.version_taken", key=model.key),
            hint=Message("error.web.bump_version", version=model.version + 1),
            details={"playbook": model.id, "version": model.version},
        )
    if known is None:
        caller.store.register_playbook(model, body.text, path=body.file, now=caller.now)
    else:
        response.status_code = 200
    return {
        "playbook": model.id,
        "version": model.version,
        "created": known is None,
        "active": caller.store.active_version(model.id) == model.version,
        "diagnostics": [item.to_dict(caller.language()) for item in result.diagnostics],
    }


@router.post(
    "/{playbook_id}/versions/{version}/activate",
    response_model=Activation,
    summary="Make a registered version the one new deals follow",
    responses={404: {"model": ErrorBody, "description": "Not registered (PB614)."}},
)
def activate(
    playbook_id: Annotated[str, Path(max_length=200)],
    version: Annotated[int, Path(ge=1, le=2**31)],
    body: ActivateRequest,
    caller: Annotated[Caller, Depends(writer("activate"))],
) -> dict[str, Any]:
    """New deals of ``playbook_id`` follow ``version`` from now on, in every process; who, when
    and why are recorded. Versions registered later do not replace it; deals already pinned
    stay on their version (``playbook migrate`` moves them)."""
    subject = f"{playbook_id}@{version}"
    require_role(caller, PLAYBOOK_ADMIN_ROLES, "activate", subject=subject)
    caller.store.activate(
        playbook_id, version, actor=caller.name, reason=body.reason, now=caller.now
    )
    return {
        "playbook": playbook_id,
        "version": version,
        "active": caller.store.active_version(playbook_id) == version,
        "activated_by": caller.name,
        "reason": body.reason,
    }


@router.get(
    "/{playbook_id}/diff",
    response_model=PlaybookDiffOut,
    summary="Diff two registered versions, with the impact on stored deals",
)
def diff(
    playbook_id: Annotated[str, Path(max_length=200)],
    request: Request,
    caller: Annotated[Caller, Depends(reader)],
    old: Annotated[int | None, Query(alias="from", ge=1, le=2**31)] = None,
    new: Annotated[int | None, Query(alias="to", ge=1, le=2**31)] = None,
) -> dict[str, Any]:
    """The changes from version ``from`` (default: the one before ``to``) to ``to`` (default:
    the active one), and what ``to`` would do now to the open deals pinned to ``from``."""
    after = registered(caller, playbook_id, new)
    before = registered(caller, playbook_id, old if old is not None else _before(caller, after))
    request.state.lang = caller.language(after)
    changes = diff_playbooks(before, after)
    impact = impact_on_deals(before, after, caller.store, now=caller.now)
    return changes.to_dict() | {"impact": impact.to_dict()}


def _before(caller: Caller, playbook: Playbook) -> int:
    """The version registered before ``playbook``'s (itself when it is the first)."""
    versions = [v for p, v in caller.store.playbook_versions() if p == playbook.id]
    older = [v for v in versions if v < playbook.version]
    return max(older) if older else playbook.version


def _valid(body: ValidateRequest) -> FileResult:
    """The validation of the uploaded text; 422 with every diagnostic when it is not valid."""
    result = validate_text(body.text, body.file)
    if not result.ok or result.playbook is None:
        errors = sum(1 for item in result.diagnostics if item.severity == "error")
        raise InvalidPlaybookError(
            Message("error.web.invalid_playbook", file=body.file, count=errors),
            file=body.file,
            diagnostics=list(result.diagnostics),
        )
    return result


mark_gated(router)
