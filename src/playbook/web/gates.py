"""Gates of the API that no playbook decides: who may feed CRM records and manage playbooks.

A deal's gates are its playbook's roles (:meth:`Caller.actor`); these are the
person's own roles (``playbook people``), checked by :func:`require_role` and,
when refused, recorded in ``refusals`` like every other gated attempt (403,
``PB530``). :func:`registered` finds a registered playbook version.
"""

from __future__ import annotations

from collections.abc import Sequence

from playbook import refusals, services
from playbook.errors import RouteNotFoundError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.web.access import Caller

__all__ = ["INTEGRATION_ROLES", "PLAYBOOK_ADMIN_ROLES", "registered", "require_role"]

INTEGRATION_ROLES = ("integration", "ops", "admin")
"""The roles that may upsert CRM records (``POST /webhooks/crm``)."""

PLAYBOOK_ADMIN_ROLES = refusals.PLAYBOOK_ADMIN_ROLES
"""The roles that may register and activate playbook versions (``POST /playbooks``)."""


def require_role(
    caller: Caller, allowed: Sequence[str], action: str, *, subject: str | None = None
) -> None:
    """Refuse (403 ``PB530``, recorded) unless the caller holds one of ``allowed``."""
    refusals.require_role(
        caller.store, allowed, action, actor=caller.name, roles=caller.credentials.roles,
        now=caller.now, subject=subject,
    )  # fmt: skip


def registered(caller: Caller, playbook_id: str | None, version: int | None = None) -> Playbook:
    """The registered ``playbook_id@version`` (None: the active version; a None id: the one
    playbook registered); 404 ``PB063`` with the registered versions otherwise."""
    versions = caller.store.playbook_versions()
    ids = sorted({found for found, _ in versions})
    chosen_id = playbook_id if playbook_id is not None else (ids[0] if len(ids) == 1 else None)
    mine = [v for p, v in versions if p == chosen_id]
    active = caller.store.active_version(chosen_id) if chosen_id is not None else None
    chosen = version if version is not None else active
    model = None
    if chosen_id is not None and chosen is not None and chosen in mine:
        model = services.registered_playbook(caller.store, chosen_id, chosen)
    if model is None:
        known = [f"{p}@{v}" for p, v in versions]
        name = f"{chosen_id or playbook_id or '?'}@{version or 'active'}"
        raise RouteNotFoundError(
            Message("error.web.playbook_not_registered", name=name),
            code="PB063",
            hint=Message(
                "error.web.registered_versions", names=known or Message("error.tokens.no_roles")
            ),
            details={"playbook": playbook_id, "version": version},
        )
    return model
