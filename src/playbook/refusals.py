"""Refusals recorded for supervision (授权与监督): which errors are a rule saying no, and how.

A gated action that the rules refuse — a blocked move, a role that may not,
an edited copy of a registered playbook, a request with a revoked token — is
recorded by :func:`recording_refusals` (around the attempt) or :func:`record`
(when the caller knows who tried before there is an :class:`Actor`), in its
own short transaction through :func:`playbook.store.audit.record_refusal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from playbook.errors import (
    ActorError,
    AuthenticationError,
    MoveBlockedError,
    OverrideError,
    PermissionDeniedError,
    PlaybookError,
    PlaybookMismatchError,
    StoreError,
)
from playbook.i18n import LANGUAGES, Message
from playbook.runtime.decisions import Decision
from playbook.store.audit import record_refusal
from playbook.store.repository import DealStore
from playbook.values import Actor

__all__ = ["PLAYBOOK_ADMIN_ROLES", "REFUSALS", "record", "recording_refusals", "require_role"]

PLAYBOOK_ADMIN_ROLES = ("ops", "admin")
"""The person roles that may register and activate playbook versions (API and CLI)."""

REFUSALS: tuple[type[PlaybookError], ...] = (
    MoveBlockedError,
    PermissionDeniedError,
    OverrideError,
    ActorError,
    AuthenticationError,
    PlaybookMismatchError,
)
"""The errors that are a rule saying no to someone (recorded), not a mistake in the input."""


@contextmanager
def recording_refusals(
    store: DealStore,
    action: str,
    *,
    actor: Actor | None,
    now: datetime,
    deal: str | None = None,
    subject: str | None = None,
) -> Iterator[None]:
    """Record any :data:`REFUSALS` error raised inside the block, then let it go on.

    The refused write wrote nothing; the record is its own transaction. When
    the record itself cannot be written (a read-only database), the refusal
    still reaches the caller, with ``details["recorded"] = False``.
    """
    try:
        yield
    except REFUSALS as error:
        who, roles = (actor.id, actor.roles) if actor is not None else ("?", frozenset[str]())
        record(store, error, action, actor=who, roles=roles, now=now, deal=deal, subject=subject)
        raise


def record(
    store: DealStore,
    error: PlaybookError,
    action: str,
    *,
    actor: str,
    roles: Iterable[str],
    now: datetime,
    deal: str | None = None,
    subject: str | None = None,
) -> None:
    """Record ``error`` as a refusal of ``action`` by ``actor``; ``details["recorded"]`` says if.

    For callers that know who tried before there is an :class:`Actor` (a
    request with a revoked token, a person holding none of a playbook's roles).
    """
    recorded = True
    try:
        record_refusal(
            store.database,
            at=now,
            actor=actor,
            actor_roles=roles,
            action=action,
            code=error.code,
            reason=_reason(error),
            deal_ref=deal,
            subject=subject,
            details=_refusal_details(error),
        )
    except StoreError:
        recorded = False
    error.details.setdefault("recorded", recorded)


def _reason(error: PlaybookError) -> str:
    if isinstance(error, MoveBlockedError) and isinstance(error.decision, Decision):
        reasons = [reason.text("en") for reason in error.decision.reasons]
        return "; ".join(reasons) or error.message
    return error.message + (f" ({error.hint})" if error.hint else "")


def _refusal_details(error: PlaybookError) -> dict[str, Any]:
    if isinstance(error, MoveBlockedError) and isinstance(error.decision, Decision):
        # The reasons in every language: the history and the audit show the reader's.
        reasons = error.decision.reasons
        messages = {lang: "; ".join(r.text(lang) for r in reasons) for lang in LANGUAGES}
        return {"codes": list(error.decision.codes), "messages": messages}
    if isinstance(error, MoveBlockedError):
        return {"codes": list(error.decision.codes)}
    return {key: value for key, value in error.details.items() if key != "recorded"}


def require_role(
    store: DealStore,
    allowed: Sequence[str],
    action: str,
    *,
    actor: str,
    roles: Iterable[str],
    now: datetime,
    subject: str | None = None,
) -> None:
    """Refuse ``action`` (``PB530``, recorded) unless ``roles`` hold one of ``allowed``."""
    held = frozenset(roles)
    if held & set(allowed):
        return
    error = PermissionDeniedError(
        Message("error.web.role_required", person=actor, action=action, names=list(allowed)),
        hint=Message("error.web.ask_for_role", names=list(allowed)),
        details={"action": action, "allowed_roles": list(allowed)},
    )
    record(store, error, action, actor=actor, roles=held, now=now, subject=subject)
    raise error
