"""``/api/v1/actions``: the open required actions of open deals, as a task board reads them.

The same list as ``playbook actions export --format json``
(:func:`playbook.tasks.open_tasks`); each task links its deal on this service.
Titles are in the caller's language (``Accept-Language``, else the person's),
else each playbook's own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from playbook.i18n import LANGUAGES
from playbook.tasks import open_tasks
from playbook.web.access import Caller, reader
from playbook.web.schemas import ActionTaskList

__all__ = ["router"]

router = APIRouter(prefix="/actions", tags=["actions"])


@router.get("", response_model=ActionTaskList, summary="List open required actions")
def list_actions(
    request: Request,
    caller: Annotated[Caller, Depends(reader)],
    playbook: Annotated[str | None, Query(max_length=200)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Every open required action of the open deals matching the filters given."""
    asked = (caller.asked_language, caller.credentials.person.language)
    lang = next((item for item in asked if item in LANGUAGES), None)
    found = open_tasks(
        caller.store,
        now=caller.now,
        lang=lang,
        base_url=str(request.base_url),
        playbook_id=playbook,
        owner=owner,
    )
    return {"actions": [task.to_dict() for task in found]}
