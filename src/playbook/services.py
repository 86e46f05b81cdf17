"""Application services: the engine decides, the store persists, in that order.

Each function here reads a deal from the store, lets the engine decide on it
and persists what the engine returned as one :class:`~playbook.store.repository.DealChange`
(one transaction, optimistic locking). Neither the engine nor the store knows
the other: this module is the only place they meet.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from playbook.definition.files import playbook_from_text
from playbook.errors import (
    ActorError,
    ConflictError,
    MoveBlockedError,
    OverrideError,
    PermissionDeniedError,
    PlaybookError,
    PlaybookMismatchError,
    StoreError,
)
from playbook.escalation import admin
from playbook.escalation.admin import EscalationView
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.runtime.deals import DealState, as_deal
from playbook.runtime.decisions import ActionCompleted, Advance, Decision, StageChanged
from playbook.runtime.engine import Engine
from playbook.store.audit import record_refusal
from playbook.store.repository import (
    ActionDone,
    DealChange,
    DealStore,
    StageMove,
    StoredDeal,
)
from playbook.values import Actor, check_actor, to_json_value

__all__ = [
    "REFUSALS",
    "acknowledge",
    "advance",
    "apply",
    "authorise",
    "change_of",
    "complete_action",
    "deal_state",
    "engine_for",
    "recording_refusals",
    "registered_playbook",
    "snooze",
]

REFUSALS: tuple[type[PlaybookError], ...] = (
    MoveBlockedError,
    PermissionDeniedError,
    OverrideError,
    ActorError,
    PlaybookMismatchError,
)
"""The errors that are a rule saying no to someone (recorded), not a mistake in the input."""


def deal_state(deal: StoredDeal, playbook: Playbook) -> DealState:
    """The engine's view of a stored deal, typed and checked against ``playbook``."""
    return as_deal(deal.deal_form(), playbook)


def change_of(result: Advance) -> DealChange:
    """The store's record of what the engine decided: the new state and its events."""
    new = result.deal
    events: list[StageMove | ActionDone] = []
    for event in result.events:
        if isinstance(event, StageChanged):
            events.append(
                StageMove(
                    from_stage=event.from_stage,
                    to_stage=event.to_stage,
                    actor_id=event.actor_id,
                    actor_roles=tuple(sorted(event.actor_roles)),
                    at=event.at,
                    override_reason=event.override_reason,
                    playbook_version=event.playbook_version,
                )
            )
        elif isinstance(event, ActionCompleted):
            events.append(
                ActionDone(
                    stage=event.stage,
                    action_id=event.action_id,
                    actor_id=event.actor_id,
                    at=event.at,
                    evidence=to_json_value(event.evidence),
                )
            )
    return DealChange(
        stage=new.stage,
        fields=new.fields,
        actions={key: record.to_dict() for key, record in new.completed_actions.items()},
        stage_entered_at=new.stage_entered_at,
        last_activity_at=new.last_activity_at,
        events=tuple(events),
    )


def apply(
    store: DealStore,
    deal: StoredDeal,
    result: Advance,
    playbook: Playbook,
    *,
    actor: Actor,
    now: datetime,
) -> StoredDeal:
    """Persist what the engine returned for ``deal`` (as read); see :meth:`DealStore.apply`."""
    return store.apply(deal, change_of(result), playbook, actor=actor, now=now)


def advance(
    store: DealStore,
    ref: str | int,
    to_stage: str,
    *,
    engine: Engine,
    actor: Actor,
    now: datetime,
    override: str | None = None,
    retries: int = 0,
) -> tuple[StoredDeal, Advance]:
    """Move the deal to ``to_stage`` if the engine allows it; persist the move atomically.

    Raises :class:`~playbook.errors.MoveBlockedError` (the engine's
    decision) when blocked, and :class:`~playbook.errors.ConflictError`
    when the deal changed meanwhile more than ``retries`` times in a row;
    each retry reads the deal again and lets the engine decide again.
    """

    def decide(state: DealState) -> Advance:
        return engine.advance(state, to_stage, actor=actor, now=now, override=override)

    action = "override" if override else "advance"
    with recording_refusals(store, action, actor=actor, now=now, deal=str(ref), subject=to_stage):
        return _decide_and_apply(store, ref, engine, decide, actor=actor, now=now, retries=retries)


def complete_action(
    store: DealStore,
    ref: str | int,
    action_id: str,
    *,
    engine: Engine,
    actor: Actor,
    now: datetime,
    evidence: Any = None,
    retries: int = 0,
) -> tuple[StoredDeal, Advance]:
    """Record a required action of the deal's stage as done, as the engine decides.

    Errors and ``retries`` as for :func:`advance`.
    """

    def decide(state: DealState) -> Advance:
        return engine.complete_action(state, action_id, actor=actor, now=now, evidence=evidence)

    with recording_refusals(
        store, "complete", actor=actor, now=now, deal=str(ref), subject=action_id
    ):
        return _decide_and_apply(store, ref, engine, decide, actor=actor, now=now, retries=retries)


def _decide_and_apply(
    store: DealStore,
    ref: str | int,
    engine: Engine,
    decide: Callable[[DealState], Advance],
    *,
    actor: Actor,
    now: datetime,
    retries: int,
) -> tuple[StoredDeal, Advance]:
    attempt = 0
    while True:
        deal = store.get(ref, playbook_id=engine.playbook.id)
        result = decide(deal_state(deal, engine.playbook))
        try:
            return apply(store, deal, result, engine.playbook, actor=actor, now=now), result
        except ConflictError:
            attempt += 1
            if attempt > retries:
                raise


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
        recorded = True
        try:
            record_refusal(
                store.database,
                at=now,
                actor=actor.id if actor is not None else "?",
                actor_roles=actor.roles if actor is not None else (),
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
        raise


def _reason(error: PlaybookError) -> str:
    if isinstance(error, MoveBlockedError) and isinstance(error.decision, Decision):
        reasons = [reason.text("en") for reason in error.decision.reasons]
        return "; ".join(reasons) or error.message
    return error.message + (f" ({error.hint})" if error.hint else "")


def _refusal_details(error: PlaybookError) -> dict[str, Any]:
    if isinstance(error, MoveBlockedError):
        return {"codes": list(error.decision.codes)}
    return {key: value for key, value in error.details.items() if key != "recorded"}


def engine_for(
    store: DealStore,
    deal: StoredDeal,
    playbook: tuple[Playbook, str] | None = None,
    *,
    actor: Actor | None = None,
    now: datetime,
) -> Engine:
    """The engine for ``deal``, always built from the text registered for its pinned version.

    ``playbook`` is a (model, text) pair read from a file the user named. When
    its id@version is the deal's and the store holds a different text for it,
    the attempt is refused with :class:`~playbook.errors.PlaybookMismatchError`
    (and recorded): an edited copy never moves a deal. A version the store has
    no text for yet is registered from the file. Engines are cached per text.
    """
    if playbook is not None:
        model, text = playbook
        if (model.id, model.version) != (deal.playbook_id, deal.playbook_version):
            return Engine(model)  # the engine refuses the deal: pinned to another version (PB503)
        known = store.playbook_source(model.id, model.version)
        if known is None:
            store.register_playbook(model, text, now=now)
        elif _digest(known) != _digest(text):
            with recording_refusals(store, "playbook", actor=actor, now=now, deal=deal.ref):
                raise PlaybookMismatchError(
                    Message("error.services.playbook_file_not_text", key=model.key),
                    hint=Message("error.services.bump_version_file_make"),
                    details={"playbook": model.key, "registered_sha256": _digest(known)},
                )
    return _engine(store, deal.playbook_id, deal.playbook_version)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_ENGINES: dict[tuple[str, int, str], Engine] = {}


def _engine(store: DealStore, playbook_id: str, version: int) -> Engine:
    text = store.playbook_source(playbook_id, version)
    if text is None:
        raise StoreError(
            Message("error.services.store_has_no_copy", playbook_id=playbook_id, version=version),
            hint=Message("error.services.pass_playbook_file_playbook"),
        )
    key = (playbook_id, version, text)
    with _PARSED_LOCK:
        engine = _ENGINES.get(key)
    if engine is None:
        engine = Engine(_parsed(key))
        with _PARSED_LOCK:
            _remember(_ENGINES, key, engine)
    return engine


_PARSED: dict[tuple[str, int, str], Playbook] = {}
_PARSED_LOCK = threading.Lock()


def registered_playbook(store: DealStore, playbook_id: str, version: int) -> Playbook | None:
    """The model of a registered playbook version, rebuilt from its stored text, or None.

    Models are cached per (id, version, text): reading the same version again
    costs one small query, not a new parse.
    """
    text = store.playbook_source(playbook_id, version)
    return None if text is None else _parsed((playbook_id, version, text))


def _parsed(key: tuple[str, int, str]) -> Playbook:
    with _PARSED_LOCK:
        known = _PARSED.get(key)
    if known is None:
        known = playbook_from_text(key[2], f"{key[0]}@{key[1]}")
        with _PARSED_LOCK:
            _remember(_PARSED, key, known)
    return known


_CACHE_SIZE = 64


def _remember(
    cache: dict[tuple[str, int, str], Any], key: tuple[str, int, str], value: Any
) -> None:
    """Keep ``value`` under ``key``, forgetting the oldest entry past :data:`_CACHE_SIZE`."""
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value


# --- supervision: acknowledging, snoozing and migrating are gated too ------------------------


def authorise(
    store: DealStore,
    playbook: Playbook,
    actor: Actor,
    action: str,
    *,
    now: datetime,
    deal: str | None = None,
    subject: str | None = None,
) -> None:
    """Refuse (and record) ``action`` unless ``actor`` holds one of the playbook's override roles.

    Migrating deals to another version changes the rules they live by: only
    the roles that may override gates (``overrides.roles``) may do it.
    """
    with recording_refusals(store, action, actor=actor, now=now, deal=deal, subject=subject):
        check_actor(actor, playbook)
        if not set(actor.roles) & set(playbook.override_roles):
            allowed = ", ".join(playbook.override_roles) or "none declared (overrides.roles)"
            raise PermissionDeniedError(
                Message(
                    "error.services.may_not_deals",
                    id=actor.id,
                    names=sorted(actor.roles),
                    action=action,
                    key=playbook.key,
                ),
                hint=Message("error.services.roles_may", allowed=allowed),
                details={"action": action, "allowed_roles": list(playbook.override_roles)},
            )


def acknowledge(
    store: DealStore, escalation_id: int, *, actor: Actor, reason: str, now: datetime
) -> EscalationView:
    """Acknowledge an open escalation, if ``actor`` is someone it notifies or a supervisor."""
    _may_handle(store, escalation_id, actor, "ack", now)
    return admin.acknowledge(store.database, escalation_id, actor=actor.id, reason=reason, now=now)


def snooze(
    store: DealStore,
    escalation_id: int,
    *,
    actor: Actor,
    until: datetime,
    reason: str,
    now: datetime,
) -> EscalationView:
    """Snooze an escalation's rule for its deal, with the same rule as :func:`acknowledge`."""
    _may_handle(store, escalation_id, actor, "snooze", now)
    return admin.snooze(
        store.database, escalation_id, actor=actor.id, until=until, reason=reason, now=now
    )


def _may_handle(
    store: DealStore, escalation_id: int, actor: Actor, action: str, now: datetime
) -> None:
    """Allowed: a role or person the escalation notified, or a role that may override gates."""
    view = admin.read_escalation(store.database, escalation_id)
    subject = f"escalation {escalation_id}"
    with recording_refusals(store, action, actor=actor, now=now, deal=view.deal, subject=subject):
        deal = store.get(view.deal)
        playbook = registered_playbook(store, deal.playbook_id, deal.playbook_version)
        if playbook is not None:
            check_actor(actor, playbook)
        supervisors = set(playbook.override_roles) if playbook is not None else set()
        names = {"owner": deal.owner, "manager": deal.manager}
        for recipient in view.notified:
            person = recipient.name or names.get(recipient.role)
            if recipient.role in actor.roles or (person is not None and person == actor.id):
                return
        if set(actor.roles) & supervisors:
            return
        told = ", ".join(str(recipient) for recipient in view.notified) or "nobody"
        raise PermissionDeniedError(
            Message(
                "error.services.may_not_escalation_notifies",
                id=actor.id,
                names=sorted(actor.roles),
                action=action,
                escalation_id=escalation_id,
                told=told,
            ),
            hint=Message(
                "error.services.people_notifies_may_roles",
                value=(", ".join(sorted(supervisors)) or "none declared"),
            ),
            details={"escalation": escalation_id, "action": action},
        )
