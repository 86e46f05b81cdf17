"""The engine: enforce a playbook on deals, and explain every decision.

:class:`Engine` is built once per playbook version. It answers, for a deal and
a target stage, whether the move is allowed and why not (:meth:`Engine.check`),
performs moves (:meth:`Engine.advance`), records required actions
(:meth:`Engine.complete_action`) and says what to do next
(:meth:`Engine.next_steps`). It is pure: no I/O, no clock (every call takes
``now``), and it never changes a deal in place: it returns a new
:class:`~playbook.runtime.deals.DealState` and the events to record.

The stage graph is one ``transitions`` machine per engine, with no model bound
to it: deals keep their stage as data. Decisions are read from the gates of
:mod:`playbook.runtime.gates`, built once per ``(source, target)`` pair (the
machine costs ~10-20 µs per trigger, the tables well under one);
:meth:`Engine.advance` then fires the machine's trigger on a throw-away cursor
so that the enter and exit callbacks that an embedder registers
(:meth:`Engine.on_enter`, :meth:`Engine.on_exit`; kept in a
:class:`~playbook.runtime.hooks.Hooks` registry that engines may share) run.
``run_hooks=False`` decides without running any hook: :mod:`playbook.services`
runs them itself once the store has committed the change. The answers and
their reason codes are in :mod:`playbook.runtime.decisions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from transitions import Machine

from playbook.errors import (
    ActorError,
    EvidenceMissingError,
    MoveBlockedError,
    OverrideError,
    PermissionDeniedError,
)
from playbook.i18n import Items, Message, Translated
from playbook.model import Playbook, RequiredAction, Stage
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import (
    ActionRecord,
    DealLike,
    DealState,
    as_deal,
    check_action,
    check_stage,
    unknown_action,
)
from playbook.runtime.decisions import (
    ActionCompleted,
    Advance,
    AvailableMove,
    Decision,
    MissingForStage,
    NextSteps,
    OpenAction,
    StageChanged,
)
from playbook.runtime.gates import Gate, build_gates
from playbook.runtime.hooks import ActionHook, BlockedHook, Hook, Hooks, StageHook
from playbook.runtime.reading import DealReader, DealView
from playbook.runtime.tables import fields_to_fill, with_derived
from playbook.runtime.words import Words
from playbook.values import Actor, FrozenMap, check_actor, coerce_fields, is_empty, require_now

__all__ = ["ActionHook", "BlockedHook", "Engine", "StageHook"]

_EMPTY: Mapping[str, Any] = FrozenMap()


class _Cursor:
    """The throw-away model the machine moves: only a ``state`` attribute, never bound."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Engine:
    """Enforces one playbook version on deals; build once and share (it is thread-safe
    once the hooks are registered).

    ``hooks`` is the registry its ``on_*`` methods add to (a new one when not
    given); engines of several versions may share one. ``strict=False`` reads
    deals that carry field names the playbook does not declare (kept
    untouched) instead of refusing them: for gradual adoption. Raises
    :class:`~playbook.errors.InvalidPlaybookError` when the playbook's calendar
    names an unknown holiday country.
    """

    def __init__(
        self,
        playbook: Playbook,
        *,
        calendar: WorkingCalendar | None = None,
        hooks: Hooks | None = None,
        strict: bool = True,
    ) -> None:
        self.playbook = playbook
        self.strict = strict
        self.calendar = calendar or WorkingCalendar.from_playbook(playbook)
        self._words = Words(playbook, self.calendar.timezone)
        self._role_ids = frozenset(playbook.roles)
        self._override_roles = frozenset(playbook.override_roles)
        self._may_override = bool(playbook.override_roles)
        self._actions = {s.id: {a.id: a for a in s.actions} for s in playbook.stages}
        self.hooks = Hooks() if hooks is None else hooks
        self._gates = build_gates(playbook, self._words, self.calendar)
        self._reader = DealReader(playbook, strict=strict)
        self._version = playbook.version
        self._machine = self._build_machine()

    # --- hooks ---------------------------------------------------------------------------

    def on_enter(self, stage: str, callback: StageHook) -> Hook:
        """Call ``callback(change, deal)`` after every ``advance`` into ``stage``.

        Returns the handle that removes it. An ``async def`` callback is refused
        (:class:`~playbook.errors.HookError`); an unknown stage too
        (:class:`~playbook.errors.UnknownStageError`).
        """
        check_stage(self.playbook, stage)
        return self.hooks.on_enter(stage, callback)

    def on_exit(self, stage: str, callback: StageHook) -> Hook:
        """Call ``callback(change, deal)`` on every ``advance`` out of ``stage``.

        Exit callbacks run before enter callbacks; ``deal`` is the state after the move.
        """
        check_stage(self.playbook, stage)
        return self.hooks.on_exit(stage, callback)

    def on_blocked(self, callback: BlockedHook) -> Hook:
        """Call ``callback(decision, deal)`` whenever ``advance`` refuses a move."""
        return self.hooks.on_blocked(callback)

    def on_action(self, action_id: str | None, callback: ActionHook) -> Hook:
        """Call ``callback(event, deal)`` after ``complete_action`` of ``action_id`` (None: any).

        Raises :class:`~playbook.errors.UnknownActionError` for an action no stage defines.
        """
        if action_id is not None:
            check_action(self.playbook, action_id)
        return self.hooks.on_action(action_id, callback)

    # --- decisions -----------------------------------------------------------------------

    def check(
        self, deal: DealLike, to_stage: str, *, actor: Actor | None, now: datetime
    ) -> Decision:
        """Whether ``deal`` may move to ``to_stage`` now, with every reason it may not.

        Pure: nothing changes and no hook runs. ``actor=None`` skips the role
        checks (PB542), to ask whether the deal itself is ready. ``now`` must be
        timezone-aware (:class:`~playbook.errors.MissingClockError`). Raises
        :class:`~playbook.errors.UnknownStageError` for a target the playbook does
        not define, and the errors of :func:`~playbook.runtime.deals.as_deal` for a bad deal
        (field values only when the decision reads them: the deal is read lazily).
        The reasons are worked out when first read.
        """
        # The hot path of an embedding: every test that holds in the common case is inline.
        if type(now) is not datetime or now.tzinfo is not UTC:
            now = require_now(now)
        if (
            type(deal) is DealState
            and deal.playbook_version == self._version
            and deal.playbook_id == self.playbook.id
        ):
            state: DealState | DealView = deal
        elif type(deal) is dict:
            state = DealView(deal, self._reader)
        else:
            state = self._reader.read(deal)
        gate = self._gates.get((state.stage, to_stage))
        if gate is None:
            gate = self._gate(state, to_stage)
        if actor is None:
            return gate.decide(state, None, now)
        return gate.decide(state, self._actor(actor).roles, now)

    def advance(
        self,
        deal: DealLike,
        to_stage: str,
        *,
        actor: Actor,
        now: datetime,
        override: str | None = None,
        run_hooks: bool = True,
    ) -> Advance:
        """Move ``deal`` to ``to_stage``: the new state and the :class:`StageChanged` event.

        Raises :class:`~playbook.errors.MoveBlockedError` (with the decision) when
        the move is blocked. ``override`` (a written reason) lets an actor holding
        an override role pass reasons PB543-PB546; a blank reason or an actor
        without such a role raises :class:`~playbook.errors.OverrideError`. The
        input deal is never changed; the new state is in ``to_stage``, entered at
        ``now``, with no completed actions and ``version + 1``. The hooks run
        before it returns (blocked hooks before the error); ``run_hooks=False``
        runs none, for a caller that runs them after storing the change.
        """
        at = require_now(now)
        state = self._deal(deal)
        who = self._actor(actor, required=True)
        why = self._override_reason(override, who)
        decision = self._gate(state, to_stage).decide(state, who.roles, at)
        overridden: tuple[str, ...] = ()
        if not decision.allowed:
            if why is None or not decision.overridable:
                self._refuse(decision, state, overriding=why is not None, run_hooks=run_hooks)
            overridden = tuple(dict.fromkeys(decision.codes))
        # A new visit of a stage starts with no completed actions.
        moved = replace(
            state,
            stage=to_stage,
            stage_entered_at=at,
            completed_actions=_EMPTY,
            version=state.version + 1,
        )
        change = StageChanged(
            state.id,
            self.playbook.id,
            self.playbook.version,
            state.stage,
            to_stage,
            who.id,
            tuple(sorted(who.roles)),
            at,
            why if overridden else None,
            overridden,
        )
        if run_hooks and self.hooks:
            self._fire(self._gates[state.stage, to_stage], change, moved)
        return Advance(moved, (change,), decision)

    def complete_action(
        self,
        deal: DealLike,
        action_id: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Any = None,
        run_hooks: bool = True,
    ) -> Advance:
        """Record ``action_id`` of the deal's current stage as done by ``actor`` at ``now``.

        The actor must hold one of the action's roles
        (:class:`~playbook.errors.PermissionDeniedError`). An action with an
        ``evidence`` field needs it filled: ``evidence`` is converted to the
        field's type and stored in the deal's fields, or the deal already has a
        value (else :class:`~playbook.errors.EvidenceMissingError`). Completing an
        action again replaces its record. Raises
        :class:`~playbook.errors.UnknownActionError` (with a did-you-mean) for an
        action the current stage does not define. Action hooks run before it
        returns, unless ``run_hooks=False``.
        """
        at = require_now(now)
        state = self._deal(deal)
        who = self._actor(actor, required=True)
        action = self._actions[state.stage].get(action_id)
        if action is None:
            raise unknown_action(self.playbook, state.stage, str(action_id))
        self._may_do(action, who)
        fields, proof = self._evidence(state, action, evidence)
        done = {**state.completed_actions, action.id: ActionRecord(action.id, who.id, at, proof)}
        updated = replace(state, fields=fields, completed_actions=done, version=state.version + 1)
        event = ActionCompleted(state.id, state.stage, action.id, who.id, at, proof)
        if run_hooks:
            for call in self.hooks.calls((event,), updated):
                call()
        return Advance(updated, (event,))

    def next_steps(self, deal: DealLike, *, now: datetime, actor: Actor | None = None) -> NextSteps:
        """What to do next: open required actions (due, overdue), what the next stages
        miss, and every move the graph allows from here with whether it is allowed now.

        Without ``actor`` the role checks are skipped in ``available``.
        """
        at = require_now(now)
        state = self._read(deal)
        roles = None if actor is None else self._actor(actor).roles
        gates = [
            gate
            for (source, _), gate in self._gates.items()
            if source == state.stage and gate.allowed_by_graph
        ]
        return NextSteps(
            state.id,
            state.stage,
            self._open_actions(state, at),
            tuple(self._missing(state, gate, at) for gate in gates if gate.forward),
            tuple(self._available(state, gate, roles, at) for gate in gates),
        )

    # --- the decision core ---------------------------------------------------------------

    def _gate(self, state: DealState | DealView, to_stage: str) -> Gate:
        gate = self._gates.get((state.stage, to_stage))
        if gate is None:
            check_stage(self.playbook, state.stage, deal_id=state.id)
            check_stage(self.playbook, to_stage)
            raise AssertionError("every pair of stages has a gate")  # pragma: no cover
        return gate

    def _due(self, action: RequiredAction, state: DealState | DealView) -> datetime | None:
        if action.due is None or state.stage_entered_at is None:
            return None
        return self.calendar.add(state.stage_entered_at, action.due)

    # --- next steps ----------------------------------------------------------------------

    def _open_actions(self, state: DealState | DealView, now: datetime) -> tuple[OpenAction, ...]:
        stage = self._stage(state.stage)
        values, done = with_derived(self.playbook, state.fields), state.completed_actions
        out: list[OpenAction] = []
        for action in stage.actions:
            if action.optional or action.id in done:
                continue
            if action.when is not None and not action.when.test(values):
                continue
            due = self._due(action, state)
            overdue = due is not None and due < now
            out.append(
                OpenAction(action, self._words.titles(action.title, action.id), due, overdue)
            )
        return tuple(out)

    def _missing(self, state: DealState | DealView, gate: Gate, now: datetime) -> MissingForStage:
        values = with_derived(self.playbook, state.fields)
        failing = [check for check in gate.entry if not check.test(values)]
        empty_names = (name for check in failing for name in check.empty_fields(values))
        empty = fields_to_fill(self.playbook, empty_names, values)
        return MissingForStage(
            gate.target.id,
            self._words.titles(gate.target.title, gate.target.id),
            tuple(dict.fromkeys(empty)),
            (*(check.reason(values) for check in failing), *gate.approval_reasons(state, now)),
        )

    def _available(
        self, state: DealState | DealView, gate: Gate, roles: frozenset[str] | None, now: datetime
    ) -> AvailableMove:
        reasons = gate.explain(state, roles, now)
        titles = self._words.titles(gate.target.title, gate.target.id)
        return AvailableMove(gate.target.id, titles, not reasons, reasons)

    # --- inputs --------------------------------------------------------------------------

    def _deal(self, deal: DealLike) -> DealState:
        if self._ready(deal):
            return deal  # type: ignore[return-value]  # the hot path: already read
        return as_deal(deal, self.playbook, strict=self.strict)

    def _read(self, deal: DealLike) -> DealState | DealView:
        """The deal for a decision: read lazily, values converted when the gate reads them."""
        if self._ready(deal):
            return deal  # type: ignore[return-value]
        return self._reader.read(deal)

    def _ready(self, deal: DealLike) -> bool:
        return (
            type(deal) is DealState
            and deal.playbook_id == self.playbook.id
            and deal.playbook_version == self.playbook.version
            and deal.stage in self._actions
        )

    def _actor(self, actor: Any, *, required: bool = False) -> Actor:
        if actor is None and required:
            raise ActorError(
                Message("error.engine.needs_actor_who_makes"),
                hint=Message("error.engine.pass_actor_actor_id"),
            )
        if isinstance(actor, Actor) and actor.roles <= self._role_ids:
            return actor
        return check_actor(actor, self.playbook)

    def _stage(self, stage_id: str) -> Stage:
        stage = self.playbook.stage(stage_id)
        assert stage is not None  # deals are checked on the way in
        return stage

    def _override_reason(self, override: str | None, actor: Actor) -> str | None:
        if override is None:
            return None
        if not isinstance(override, str) or not override.strip():
            raise OverrideError(
                Message("error.engine.override_needs_written_reason"),
                hint=Message("error.engine.pass_override_why_gate"),
            )
        if actor.roles.isdisjoint(self._override_roles):
            allowed = ", ".join(self.playbook.override_roles) or "nobody (no `overrides` section)"
            raise OverrideError(
                Message("error.engine.actor_may_not_override", id=actor.id, allowed=allowed),
                details={"actor_roles": sorted(actor.roles), "override_roles": allowed},
            )
        return override.strip()

    def _may_do(self, action: RequiredAction, actor: Actor) -> None:
        if not action.roles or not actor.roles.isdisjoint(action.roles):
            return
        raise PermissionDeniedError(
            Message(
                "error.engine.actor_may_not_complete",
                id=actor.id,
                names=sorted(actor.roles),
                id2=action.id,
                join2=action.roles,
            ),
            details={"action": action.id, "roles": list(action.roles)},
        )

    def _evidence(
        self, state: DealState, action: RequiredAction, evidence: Any
    ) -> tuple[Mapping[str, Any], Any]:
        name = action.evidence
        if name is None:
            return state.fields, evidence
        if not is_empty(evidence):
            value = coerce_fields(self.playbook, {name: evidence})[name]
            return {**state.fields, name: value}, value
        current = state.fields.get(name)
        if is_empty(current):
            raise EvidenceMissingError(
                Message("error.engine.action_needs_evidence_fill", id=action.id, name=name),
                hint=Message("error.engine.pass_evidence_set_on", name=name),
                details={"action": action.id, "field": name},
            )
        return state.fields, current

    # --- effects at the edge -------------------------------------------------------------

    def _refuse(
        self, decision: Decision, state: DealState, *, overriding: bool, run_hooks: bool
    ) -> None:
        for call in self.hooks.blocked_calls(decision, state) if run_hooks else ():
            call()
        summary = Items([Translated(r.messages) for r in decision.reasons], "clause")
        hint = None
        if overriding:
            hint = Message(
                "error.engine.override_passes_failing_criteria",
                names=sorted({r.code for r in decision.reasons if not r.overridable}),
            )
        elif decision.overridable:
            hint = Message(
                "error.engine.may_override_reason", names=Items(self.playbook.override_roles, "or")
            )
        raise MoveBlockedError(
            Message(
                "error.engine.deal_cannot_move_from",
                deal_id=decision.deal_id,
                from_stage=decision.from_stage,
                to_stage=decision.to_stage,
                summary=summary,
            ),
            decision,
            hint=hint,
            details={"codes": list(decision.codes)},
        )

    def _build_machine(self) -> Any:
        machine = Machine(
            model=None,
            states=[stage.id for stage in self.playbook.stages],
            initial=self.playbook.first_stage.id,
            auto_transitions=False,
            send_event=True,
        )
        for stage in self.playbook.stages:
            state = machine.get_state(stage.id)
            state.add_callback("exit", self._exit_hooks)
            state.add_callback("enter", self._enter_hooks)
        for gate in self._gates.values():
            if gate.trigger is not None:
                machine.add_transition(gate.trigger, gate.source.id, gate.target.id)
        return machine

    def _fire(self, gate: Gate, change: StageChanged, deal: DealState) -> None:
        assert gate.trigger is not None  # an allowed or overridden move is always in the graph
        self._machine.events[gate.trigger].trigger(
            _Cursor(gate.source.id), change=change, deal=deal
        )

    def _exit_hooks(self, event: Any) -> None:
        for call in self.hooks.stage_calls("exit", event.kwargs["change"], event.kwargs["deal"]):
            call()

    def _enter_hooks(self, event: Any) -> None:
        for call in self.hooks.stage_calls("enter", event.kwargs["change"], event.kwargs["deal"]):
            call()
