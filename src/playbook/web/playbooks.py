"""``/api/v1/playbooks``: the registered versions, and validating a playbook text.

Validation is the one of ``playbook validate``: an invalid text is answered
422 with every diagnostic at its line and column (``error.diagnostics``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from playbook import services
from playbook.definition.validate import validate_text
from playbook.errors import InvalidPlaybookError
from playbook.i18n import Message
from playbook.web.access import Caller, reader
from playbook.web.schemas import ErrorBody, PlaybookVersions, ValidateRequest, Validation

__all__ = ["router"]

router = APIRouter(prefix="/playbooks", tags=["playbooks"])


@router.get("", response_model=PlaybookVersions, summary="Registered playbook versions")
def list_playbooks(caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
    """Every playbook version deals can be pinned to, with its title in the caller's language."""
    found = []
    for playbook_id, version in caller.store.playbook_versions():
        model = services.registered_playbook(caller.store, playbook_id, version)
        title = model.label(model.title, caller.language(model), playbook_id) if model else ""
        found.append({"id": playbook_id, "version": version, "title": title})
    return {"playbooks": found}


@router.post(
    "/validate",
    response_model=Validation,
    summary="Validate a playbook text",
    responses={
        422: {"model": ErrorBody, "description": "Invalid: every diagnostic in error.diagnostics."}
    },
)
def validate(body: ValidateRequest, caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
    """Check a playbook's YAML text as `playbook validate` does; nothing is registered."""
    result = validate_text(body.text, body.file)
    if not result.ok or result.playbook is None:
        errors = sum(1 for item in result.diagnostics if item.severity == "error")
        raise InvalidPlaybookError(
            Message("error.web.invalid_playbook", file=body.file, count=errors),
            file=body.file,
            diagnostics=list(result.diagnostics),
        )
    return {
        "valid": True,
        "playbook": result.playbook.id,
        "version": result.playbook.version,
        "diagnostics": [item.to_dict() for item in result.diagnostics],
    }
