"""``/api/v1/deals/{ref}/approvals``: a deal's approvals; request, grant, reject, delegate.

The caller acts as the person of their token with the roles they hold in the
deal's playbook (see :meth:`~playbook.web.access.Caller.actor`); who may
grant, reject or delegate a step is the rule of :mod:`playbook.approving`, and
a refusal is recorded like every other (403, PB582).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from playbook import approving, services
from playbook.model import Playbook
from playbook.store.records import StoredDeal
from playbook.web.access import Caller, mark_gated, reader, writer
from playbook.web.schemas import (
    ApprovalList,
    ApprovalNote,
    ApprovalWritten,
    Delegation,
    Rejection,
)

__all__ = ["router"]

router = APIRouter(prefix="/deals/{ref}/approvals", tags=["approvals"])

ApprovalId = Annotated[
    str, Path(min_length=1, max_length=100, description="The approval's id in the playbook.")
]


@router.get("", response_model=ApprovalList, summary="List a deal's approvals")
def list_approvals(
    ref: str, request: Request, caller: Annotated[Caller, Depends(reader)]
) -> dict[str, Any]:
    """Each approval of the deal's playbook: its state, current step and who it waits for."""
    deal, book, statuses = approving.approval_statuses(caller.store, ref)
    request.state.lang = caller.language(book)
    return {"deal": deal.ref, "approvals": [status.to_dict() for status in statuses]}


@router.post("/{approval}/request", response_model=ApprovalWritten, summary="Request")
def request_approval(
    ref: str,
    approval: ApprovalId,
    body: ApprovalNote,
    request: Request,
    caller: Annotated[Caller, Depends(writer("approval_request"))],
) -> dict[str, Any]:
    """Ask for the approval: a new round (earlier grants and a rejection no longer count)."""
    return _write(caller, request, ref, approval, "request", reason=body.reason)


@router.post("/{approval}/grant", response_model=ApprovalWritten, summary="Grant")
def grant_approval(
    ref: str,
    approval: ApprovalId,
    body: ApprovalNote,
    request: Request,
    caller: Annotated[Caller, Depends(writer("approval_grant"))],
) -> dict[str, Any]:
    """Grant the current step, as one of its approvers or their delegate."""
    return _write(caller, request, ref, approval, "grant", reason=body.reason)


@router.post("/{approval}/reject", response_model=ApprovalWritten, summary="Reject")
def reject_approval(
    ref: str,
    approval: ApprovalId,
    body: Rejection,
    request: Request,
    caller: Annotated[Caller, Depends(writer("approval_reject"))],
) -> dict[str, Any]:
    """Reject the current step, with a reason."""
    return _write(caller, request, ref, approval, "reject", reason=body.reason)


@router.post("/{approval}/delegate", response_model=ApprovalWritten, summary="Delegate")
def delegate_approval(
    ref: str,
    approval: ApprovalId,
    body: Delegation,
    request: Request,
    caller: Annotated[Caller, Depends(writer("approval_delegate"))],
) -> dict[str, Any]:
    """Hand the caller's part of the current step to someone else (recorded)."""
    return _write(caller, request, ref, approval, "delegate", reason=body.reason, to=body.to)


def _write(
    caller: Caller, request: Request, ref: str, approval: str, kind: str, **options: Any
) -> dict[str, Any]:
    store = caller.store
    deal: StoredDeal = store.get(ref)
    book: Playbook | None = services.registered_playbook(
        store, deal.playbook_id, deal.playbook_version
    )
    if book is None:
        book = services.engine_for(store, deal, None, now=caller.now).playbook
    request.state.lang = caller.language(book)
    actor = caller.actor(book, f"approval_{kind}", deal.ref)
    run = getattr(approving, kind)
    outcome = run(
        store, deal.ref, approval, actor=actor, now=caller.now, playbook=book, retries=3, **options
    )
    return {
        "deal": outcome.deal.ref,
        "version": outcome.deal.version,
        "approval": outcome.status.to_dict(),
    }


mark_gated(router)
