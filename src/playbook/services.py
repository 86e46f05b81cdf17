"""Application services: the engine decides, the store persists, in that order.

Each function here reads a deal from the store, lets the engine decide on it
and persists what the engine returned as one :class:`~playbook.store.repository.DealChange`
(one transaction, optimistic locking). Neither the engine nor the store knows
the other: this module is the only place they meet.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select

from playbook.definition.files import playbook_from_text
from playbook.errors import (
    ConflictError,
    HookFailedError,
    MoveBlockedError,
    PermissionDeniedError,
    PlaybookMismatchError,
    StaleVersionError,
    StoreError,
)
from playbook.escalation import admin
from playbook.escalation.admin import EscalationView
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.refusals import record, recording_refusals
from playbook.runtime.deals import DealState, as_deal
from playbook.runtime.decisions import ActionCompleted, Advance, Decision, StageChanged
from playbook.runtime.engine import Engine
from playbook.runtime.hooks import Hooks
from playbook.store.models import Deal
from playbook.store.repository import (
    ActionDone,
    DealChange,
    DealStore,
    StageMove,
    StoredDeal,
)
from playbook.values import Actor, check_actor, parse_assignments, to_json_value

__all__ = [
    "DealCommand",
    "VersionDrift",
    "acknowledge",
    "actor_for",
    "advance",
    "advancing",
    "apply",
    "authorise",
    "change_of",
    "complete_action",
    "completing",
    "deal_state",
    "decide_and_store",
    "engine_for",
    "pinned_playbooks",
    "registered_playbook",
    "require_version",
    "run_stored_hooks",
    "set_fields",
    "snooze",
    "version_drift",
]

_Written = TypeVar("_Written")


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
    if_version: int | None = None,
) -> tuple[StoredDeal, Advance]:
    """Move the deal to ``to_stage`` if the engine allows it; persist the move atomically.

    Raises :class:`~playbook.errors.MoveBlockedError` (the engine's
    decision) when blocked, and :class:`~playbook.errors.ConflictError`
    when the deal changed meanwhile more than ``retries`` times in a row;
    each retry reads the deal again and lets the engine decide again. With
    ``retries > 0`` a deal migrated to a newer registered version of the
    engine's playbook is decided by that version's engine (else PB503).

    The hooks registered on ``engine`` run only for a move that is stored:
    after the store's transaction committed, once, however many retries it
    took (see :func:`run_stored_hooks`); ``on_blocked`` hooks after the refusal
    is recorded. With ``if_version`` the deal must be at that version when
    read (:class:`~playbook.errors.StaleVersionError` otherwise, never retried).
    """
    command = advancing(to_stage, override)
    return _with_engine(
        store, ref, engine, command, actor=actor, now=now, retries=retries, version=if_version
    )


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
    if_version: int | None = None,
) -> tuple[StoredDeal, Advance]:
    """Record a required action of the deal's stage as done, as the engine decides.

    Errors, ``retries``, ``if_version`` and hooks (``on_action``) as for :func:`advance`.
    """
    command = completing(action_id, evidence)
    return _with_engine(
        store, ref, engine, command, actor=actor, now=now, retries=retries, version=if_version
    )


@dataclass(frozen=True, slots=True)
class DealCommand:
    """One gated change of a deal: its name in the refusals log, its subject, its decision.

    ``decide`` asks an engine without running its hooks (``run_hooks=False``):
    :func:`decide_and_store` runs them once the change is stored.
    """

    action: str
    subject: str
    decide: Callable[[Engine, DealState, Actor, datetime], Advance]


def set_fields(
    store: DealStore,
    ref: str | int,
    assignments: Mapping[str, str],
    *,
    playbook: Playbook,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
    retries: int = 0,
) -> StoredDeal:
    """Set field values of a deal from ``FIELD=VALUE`` texts, typed by ``playbook``; one step.

    An empty text clears the field. Unknown fields raise
    :class:`~playbook.errors.UnknownFieldError` (with a did-you-mean) and
    values their type refuses :class:`~playbook.errors.DealFieldError`, before
    anything is written. The step is recorded in the deal's history with who
    and ``reason``, and each changed field remembers when it was set in the
    tool (an import that keeps the newer value reads that). Conflicts as for
    :func:`advance`.
    """
    typed = parse_assignments(playbook, assignments)

    def write() -> StoredDeal:
        deal = store.get(ref, playbook_id=playbook.id)
        return store.update_fields(deal, playbook, typed, actor=actor, now=now, reason=reason)

    return _retrying(write, retries)


def advancing(to_stage: str, override: str | None = None) -> DealCommand:
    """Moving a deal to ``to_stage`` (:meth:`Engine.advance`), for :func:`decide_and_store`."""

    def decide(engine: Engine, state: DealState, actor: Actor, now: datetime) -> Advance:
        return engine.advance(
            state, to_stage, actor=actor, now=now, override=override, run_hooks=False
        )

    return DealCommand("override" if override else "advance", to_stage, decide)


def completing(action_id: str, evidence: Any = None) -> DealCommand:
    """Completing ``action_id`` (:meth:`Engine.complete_action`), for :func:`decide_and_store`."""

    def decide(engine: Engine, state: DealState, actor: Actor, now: datetime) -> Advance:
        return engine.complete_action(
            state, action_id, actor=actor, now=now, evidence=evidence, run_hooks=False
        )

    return DealCommand("complete", action_id, decide)


def decide_and_store(
    store: DealStore,
    ref: str | int,
    engine_of: Callable[[StoredDeal], Engine],
    hooks: Hooks,
    command: DealCommand,
    *,
    actor: Actor,
    now: datetime,
    retries: int,
    playbook_id: str | None = None,
    version: int | None = None,
) -> tuple[StoredDeal, Advance]:
    """Read the deal, let ``engine_of(deal)`` decide ``command``, store it, then run ``hooks``.

    ``playbook_id`` narrows ``ref`` to one playbook's deals; ``version``, if
    given, is the version the caller read (:func:`require_version`). A write that
    loses an optimistic-lock race (PB602) reads and decides
    again, up to ``retries`` times; refusals are recorded
    (:func:`recording_refusals`). Hooks run only after the write committed:
    the stored change's hooks once (:func:`run_stored_hooks`), ``on_blocked``
    hooks once the refusal is recorded.
    """
    seen: list[DealState] = []
    try:
        with recording_refusals(
            store, command.action, actor=actor, now=now, deal=str(ref), subject=command.subject
        ):
            stored, result = _store_decided(
                store, (ref, playbook_id, version), engine_of, command, seen, actor, now, retries
            )
    except MoveBlockedError as blocked:
        if isinstance(blocked.decision, Decision) and seen:
            for call in hooks.blocked_calls(blocked.decision, seen[-1]):
                call()
        raise
    run_stored_hooks(hooks, stored, result)
    return stored, result


def _store_decided(
    store: DealStore,
    which: tuple[str | int, str | None, int | None],
    engine_of: Callable[[StoredDeal], Engine],
    command: DealCommand,
    seen: list[DealState],
    actor: Actor,
    now: datetime,
    retries: int,
) -> tuple[StoredDeal, Advance]:
    def write() -> tuple[StoredDeal, Advance]:
        deal = store.get(which[0], playbook_id=which[1])
        if which[2] is not None:
            require_version(deal, which[2])
        engine = engine_of(deal)
        state = deal_state(deal, engine.playbook)
        seen.append(state)
        result = command.decide(engine, state, actor, now)
        return apply(store, deal, result, engine.playbook, actor=actor, now=now), result

    return _retrying(write, retries)


def _retrying(write: Callable[[], _Written], retries: int) -> _Written:
    """``write()``, run again (it reads the deal afresh) after up to ``retries`` conflicts."""
    attempt = 0
    while True:
        try:
            return write()
        except ConflictError:
            attempt += 1
            if attempt > retries:
                raise


def run_stored_hooks(hooks: Hooks, stored: StoredDeal, result: Advance) -> None:
    """Run the hooks of a change that the store has committed: every one, in order.

    A hook that raises does not stop the others (the change is stored either
    way); afterwards :class:`~playbook.errors.HookFailedError` carries the
    stored deal, the result and every exception. Nothing here retries a hook:
    a process that dies between the commit and its hooks loses them, while the
    history table keeps the change (see docs/embedding.md).
    """
    failures: list[Exception] = []
    for call in hooks.calls(result.events, result.deal):
        try:
            call()
        except Exception as error:  # every hook runs; all failures are reported below
            failures.append(error)
    if failures:
        raise HookFailedError(
            Message(
                "error.services.hooks_failed",
                ref=stored.ref,
                version=stored.version,
                count=len(failures),
                first=repr(failures[0]),
            ),
            hint=Message("error.services.change_is_stored"),
            details={"deal": stored.ref, "version": stored.version, "failures": len(failures)},
            deal=stored,
            result=result,
            failures=failures,
        ) from failures[0]


def _with_engine(
    store: DealStore,
    ref: str | int,
    engine: Engine,
    command: DealCommand,
    *,
    actor: Actor,
    now: datetime,
    retries: int,
    version: int | None = None,
) -> tuple[StoredDeal, Advance]:
    engines = _pinned(store, engine, retries)
    return decide_and_store(
        store, ref, engines, engine.hooks, command, actor=actor, now=now, retries=retries,
        playbook_id=engine.playbook.id, version=version,
    )  # fmt: skip


def _pinned(store: DealStore, engine: Engine, retries: int) -> Callable[[StoredDeal], Engine]:
    """``engine``, or with ``retries`` the engine of the newer version a deal was migrated to."""
    model = engine.playbook

    def engine_of(deal: StoredDeal) -> Engine:
        migrated = deal.playbook_id == model.id and deal.playbook_version > model.version
        if retries > 0 and migrated:
            return _engine(store, deal.playbook_id, deal.playbook_version)
        return engine  # the engine refuses a deal pinned elsewhere (PB503)

    return engine_of


def require_version(deal: StoredDeal, version: int) -> None:
    """Raise :class:`~playbook.errors.StaleVersionError` unless ``deal`` is at ``version``."""
    if deal.version == version:
        return
    raise StaleVersionError(
        Message(
            "error.services.stale_version",
            ref=deal.ref,
            version=deal.version,
            by=deal.updated_by,
            at=deal.updated_at.isoformat(timespec="seconds"),
            read=version,
        ),
        hint=Message("error.services.read_again"),
        details={
            "deal": deal.ref,
            "read_version": version,
            "version": deal.version,
            "changed_by": deal.updated_by,
            "changed_at": deal.updated_at.isoformat(),
        },
    )


def actor_for(
    store: DealStore,
    playbook: Playbook,
    person: str,
    roles: Iterable[str],
    *,
    action: str,
    now: datetime,
    deal: str | None = None,
) -> Actor:
    """``person`` acting on ``playbook``'s deals: with the roles they hold that it declares.

    A person holding none of them may do nothing there: refused (and recorded)
    with :class:`~playbook.errors.PermissionDeniedError`.
    """
    held = frozenset(roles) & frozenset(playbook.roles)
    if held:
        return Actor(person, held)
    error = PermissionDeniedError(
        Message(
            "error.services.no_role_of_playbook", person=person, key=playbook.key, action=action
        ),
        hint=Message("error.services.its_roles", names=sorted(playbook.roles)),
        details={"action": action, "allowed_roles": sorted(playbook.roles)},
    )
    record(store, error, action, actor=person, roles=roles, now=now, deal=deal)
    raise error


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


# --- versions: the deals are pinned, the command line may give another one -------------------


@dataclass(frozen=True, slots=True)
class VersionDrift:
    """The playbook given is not the version (every) deal of its id is pinned to."""

    playbook: Playbook
    deals: dict[int, int]
    """How many deals of the playbook's id are pinned to each version, by version."""
    registered: frozenset[int]
    """The versions among them whose text the store keeps."""

    @property
    def unregistered(self) -> tuple[int, ...]:
        """The versions deals are pinned to that the store has no text of."""
        return tuple(v for v in sorted(self.deals) if v not in self.registered)


def version_drift(store: DealStore, playbook: Playbook) -> VersionDrift | None:
    """How the store's deals of ``playbook``'s id are spread over versions, when any of them
    is pinned to another version than ``playbook``'s; None when all are on it (or none exist)."""
    with store.database.transaction() as session:
        rows = session.execute(
            select(Deal.playbook_version, func.count())
            .where(Deal.playbook_id == playbook.id)
            .group_by(Deal.playbook_version)
        ).all()
    deals = {int(version): int(count) for version, count in rows}
    if set(deals) <= {playbook.version}:
        return None
    known = {v for pid, v in store.playbook_versions() if pid == playbook.id}
    return VersionDrift(playbook, dict(sorted(deals.items())), frozenset(known & set(deals)))


def pinned_playbooks(store: DealStore, drift: VersionDrift | None) -> dict[int, Playbook]:
    """The playbook of each version deals are pinned to, rebuilt from the text the store keeps
    (versions without a stored text are left out: the playbook given stands in for them)."""
    if drift is None:
        return {}
    found = {v: registered_playbook(store, drift.playbook.id, v) for v in sorted(drift.registered)}
    return {version: model for version, model in found.items() if model is not None}


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
