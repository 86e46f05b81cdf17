"""``/api/v1/webhooks/crm``: a CRM pushes its records; deals are upserted by external id.

The records go through the import mapping configured on the server for the
playbook (``playbook serve --mapping PLAYBOOK=MAPPING.yaml``): the same rules
as ``playbook deals import --mapping`` (:mod:`playbook.store.crm_upsert`), on
the playbook's latest registered version, one transaction per batch, nothing
written when any record is refused. The caller needs one of
:data:`~playbook.web.gates.INTEGRATION_ROLES`; the history names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from playbook.errors import CrmRecordsError
from playbook.i18n import Message
from playbook.store.crm_upsert import upsert_records
from playbook.store.mapping import ImportMapping
from playbook.web.access import Caller, mark_gated, writer
from playbook.web.gates import INTEGRATION_ROLES, registered, require_role
from playbook.web.schemas import CrmRecords, ErrorBody, Upserted

__all__ = ["configure", "router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def configure(app: FastAPI, mappings: Mapping[str, ImportMapping]) -> None:
    """Let ``app`` upsert CRM records of each playbook id of ``mappings`` with its mapping."""
    app.state.mappings = dict(mappings)


@router.post(
    "/crm",
    response_model=Upserted,
    summary="Upsert CRM records by external id",
    responses={
        422: {
            "model": ErrorBody,
            "description": "No mapping for the playbook (PB060), or records refused (PB062: "
            "each in error.records with its own code; nothing written).",
        }
    },
)
def upsert(
    body: CrmRecords,
    request: Request,
    caller: Annotated[Caller, Depends(writer("upsert"))],
) -> dict[str, Any]:
    """Create or update one deal per record, as ``playbook deals import --mapping`` would;
    sending the same records again changes nothing."""
    require_role(caller, INTEGRATION_ROLES, "upsert", subject=body.playbook)
    mappings: Mapping[str, ImportMapping] = getattr(request.app.state, "mappings", {})
    mapping = mappings.get(body.playbook)
    if mapping is None:
        raise CrmRecordsError(
            Message("error.webhook.no_mapping", playbook=body.playbook),
            hint=Message(
                "error.webhook.configure_mapping",
                names=sorted(mappings) or Message("error.tokens.no_roles"),
            ),
            details={"playbook": body.playbook, "configured": sorted(mappings)},
        )
    playbook = registered(caller, body.playbook)
    request.state.lang = caller.language(playbook)
    counts = upsert_records(
        caller.store, playbook, mapping, body.records, actor=caller.name, now=caller.now
    )
    return {
        "playbook": playbook.id,
        "version": playbook.version,
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "cleared": counts.cleared,
        "kept": counts.kept,
        "stage_changes": counts.stage_changes,
        "activities": counts.activities,
        "deals": [plan.to_dict() for plan in counts.plans or ()],
    }


mark_gated(router)
