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
(:meth:`Engine.on_enter`, :meth:`Engine.on_exit`) run. The answers and their
reason codes are in :mod:`playbook.runtime.decisions`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
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
from playbook.runtime.deals import ActionRecord, DealState, as_deal, check_stage, unknown_action
from playbook.runtime.decisions import (
    ActionCompleted,
    Advance,
    AvailableMove,
    Deadline,
    Decision,
    MissingForStage,
    NextSteps,
    OpenAction,
    Reason,
    StageChanged,
)
from playbook.runtime.gates import ActionCheck, Gate, build_gates
from playbook.runtime.words import Words
from playbook.values import Actor, check_actor, coerce_fields, is_empty, require_now

__all__ = ["BlockedHook", "Engine", "StageHook"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

StageHook = Callable[[StageChanged, DealState], None]
"""Called with the stage change and the deal after the move."""

BlockedHook = Callable[[Decision, DealState], None]
"""Called with the decision and the deal when ``advance`` refuses a move."""


class _Cursor:
    """The throw-away model the machine moves: only a ``state`` attribute, never bound."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Engine:
    """Enforces one playbook version on deals; build once and share (it is thread-safe
    once the hooks are registered).

    Raises :class:`~playbook.errors.InvalidPlaybookError` when the playbook's
    calendar names an unknown holiday country.
    """

    def __init__(self, playbook: Playbook, *, calendar: WorkingCalendar | None = None) -> None:
        self.playbook = playbook
        self.calendar = calendar or WorkingCalendar.from_playbook(playbook)
        self._words = Words(playbook, self.calendar.timezone)
        self._role_ids = frozenset(playbook.roles)
        self._override_roles = frozenset(playbook.override_roles)
        self._may_override = bool(playbook.override_roles)
        self._actions = {s.id: {a.id: a for a in s.actions} for s in playbook.stages}
        self._blocked_hooks: list[BlockedHook] = []
        self._gates = build_gates(playbook, self._words)
        self._machine = self._build_machine()

    # --- hooks ---------------------------------------------------------------------------

    def on_enter(self, stage: str, callback: StageHook) -> None:
        """Call ``callback(change, deal)`` after every ``advance`` into ``stage``."""
        check_stage(self.playbook, stage)
        self._machine.get_state(stage).add_callback("enter", _adapt(callback))

    def on_exit(self, stage: str, callback: StageHook) -> None:
        """Call ``callback(change, deal)`` on every ``advance`` out of ``stage``.

        Exit callbacks run before enter callbacks; ``deal`` is the state after the move.
        """
        check_stage(self.playbook, stage)
        self._machine.get_state(stage).add_callback("exit", _adapt(callback))

    def on_blocked(self, callback: BlockedHook) -> None:
        """Call ``callback(decision, deal)`` whenever ``advance`` refuses a move."""
        self._blocked_hooks.append(callback)

    # --- decisions -----------------------------------------------------------------------

    def check(self, deal: Any, to_stage: str, *, actor: Actor | None, now: datetime) -> Decision:
        """Whether ``deal`` may move to ``to_stage`` now, with every reason it may not.

        Pure: nothing changes and no hook runs. ``actor=None`` skips the role
        checks (PB542), to ask whether the deal itself is ready. ``now`` must be
        timezone-aware (:class:`~playbook.errors.MissingClockError`). Raises
        :class:`~playbook.errors.UnknownStageError` for a target the playbook does
        not define, and the errors of :func:`~playbook.runtime.deals.as_deal` for a bad deal.
        """
        at = require_now(now)
        state = self._deal(deal)
        roles = None if actor is None else self._actor(actor).roles
        return self._decision(state, to_stage, roles, at)

    def advance(
        self,
        deal: Any,
        to_stage: str,
        *,
        actor: Actor,
        now: datetime,
        override: str | None = None,
    ) -> Advance:
        """Move ``deal`` to ``to_stage``: the new state and the :class:`StageChanged` event.

        Raises :class:`~playbook.errors.MoveBlockedError` (with the decision) when
        the move is blocked. ``override`` (a written reason) lets an actor holding
        an override role pass reasons PB543-PB546; a blank reason or an actor
        without such a role raises :class:`~playbook.errors.OverrideError`. The
        input deal is never changed; the new state is in ``to_stage``, entered at
        ``now``, with no completed actions and ``version + 1``.
        """
        at = require_now(now)
        state = self._deal(deal)
        who = self._actor(actor, required=True)
        why = self._override_reason(override, who)
        decision = self._decision(state, to_stage, who.roles, at)
        overridden: tuple[str, ...] = ()
        if not decision.allowed:
            if why is None or not decision.overridable:
                self._refuse(decision, state, overriding=why is not None)
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
        self._fire(self._gates[state.stage, to_stage], change, moved)
        return Advance(moved, (change,), decision)

    def complete_action(
        self,
        deal: Any,
        action_id: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Any = None,
    ) -> Advance:
        """Record ``action_id`` of the deal's current stage as done by ``actor`` at ``now``.

        The actor must hold one of the action's roles
        (:class:`~playbook.errors.PermissionDeniedError`). An action with an
        ``evidence`` field needs it filled: ``evidence`` is converted to the
        field's type and stored in the deal's fields, or the deal already has a
        value (else :class:`~playbook.errors.EvidenceMissingError`). Completing an
        action again replaces its record. Raises
        :class:`~playbook.errors.UnknownActionError` (with a did-you-mean) for an
        action the current stage does not define.
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
        return Advance(updated, (event,))

    def next_steps(self, deal: Any, *, now: datetime, actor: Actor | None = None) -> NextSteps:
        """What to do next: open required actions (due, overdue), what the next stages
        miss, and every move the graph allows from here with whether it is allowed now.

        Without ``actor`` the role checks are skipped in ``available``.
        """
        at = require_now(now)
        state = self._deal(deal)
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
            tuple(self._missing(state, gate) for gate in gates if gate.forward),
            tuple(self._available(state, gate, roles, at) for gate in gates),
        )

    # --- the decision core ---------------------------------------------------------------

    def _decision(
        self, state: DealState, to_stage: str, roles: frozenset[str] | None, now: datetime
    ) -> Decision:
        gate = self._gates.get((state.stage, to_stage))
        if gate is None:
            check_stage(self.playbook, to_stage)
            raise AssertionError("every pair of stages has a gate")  # pragma: no cover
        reasons = self._reasons(state, gate, roles, now)
        if not reasons:
            return Decision(True, state.id, state.stage, to_stage)
        # Reasons come in a fixed order, and those an override never passes (graph, same
        # stage, roles) come first: the first reason decides.
        overridable = self._may_override and reasons[0].ref.overridable
        return Decision(False, state.id, state.stage, to_stage, reasons, overridable)

    def _reasons(
        self, state: DealState, gate: Gate, roles: frozenset[str] | None, now: datetime
    ) -> tuple[Reason, ...]:
        if gate.same_stage:
            return gate.fixed
        values = state.fields
        reasons = list(gate.fixed)
        if roles is not None:
            for check in gate.roles:
                if roles.isdisjoint(check.roles) and (
                    check.when is None or check.when.test(values)
                ):
                    reasons.append(check.reason(values))
        if gate.guard is not None and not gate.guard.test(values):
            reasons.append(gate.guard.reason(values))
        for criterion in gate.entry:
            if not criterion.test(values):
                reasons.append(criterion.reason(values))
        if gate.forward:
            done = state.completed_actions
            for item in gate.actions:
                if item.action.id not in done and (item.when is None or item.when(values)):
                    reasons.append(Reason(item.ref, _EMPTY, (), self._deadline(item, state, now)))
            for criterion in gate.exit:
                if not criterion.test(values):
                    reasons.append(criterion.reason(values))
        return tuple(reasons)

    def _deadline(self, item: ActionCheck, state: DealState, now: datetime) -> Deadline | None:
        duration, start = item.action.due, state.stage_entered_at
        if duration is None or start is None:
            return None
        return Deadline(self.calendar, start, duration, now)

    def _due(self, action: RequiredAction, state: DealState) -> datetime | None:
        if action.due is None or state.stage_entered_at is None:
            return None
        return self.calendar.add(state.stage_entered_at, action.due)

    # --- next steps ----------------------------------------------------------------------

    def _open_actions(self, state: DealState, now: datetime) -> tuple[OpenAction, ...]:
        stage = self._stage(state.stage)
        values, done = state.fields, state.completed_actions
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

    def _missing(self, state: DealState, gate: Gate) -> MissingForStage:
        values = state.fields
        failing = [check for check in gate.entry if not check.test(values)]
        empty = (name for check in failing for name in check.empty_fields(values))
        return MissingForStage(
            gate.target.id,
            self._words.titles(gate.target.title, gate.target.id),
            tuple(dict.fromkeys(empty)),
            tuple(check.reason(values) for check in failing),
        )

    def _available(
        self, state: DealState, gate: Gate, roles: frozenset[str] | None, now: datetime
    ) -> AvailableMove:
        reasons = self._reasons(state, gate, roles, now)
        titles = self._words.titles(gate.target.title, gate.target.id)
        return AvailableMove(gate.target.id, titles, not reasons, reasons)

    # --- inputs --------------------------------------------------------------------------

    def _deal(self, deal: Any) -> DealState:
        if (
            type(deal) is DealState
            and deal.playbook_id == self.playbook.id
            and deal.playbook_version == self.playbook.version
            and deal.stage in self._actions
        ):
            return deal  # the hot path: a deal already read for this playbook
        return as_deal(deal, self.playbook)

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

    def _refuse(self, decision: Decision, state: DealState, *, overriding: bool) -> None:
        for hook in self._blocked_hooks:
            hook(decision, state)
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
        for gate in self._gates.values():
            if gate.trigger is not None:
                machine.add_transition(gate.trigger, gate.source.id, gate.target.id)
        return machine

    def _fire(self, gate: Gate, change: StageChanged, deal: DealState) -> None:
        assert gate.trigger is not None  # an allowed or overridden move is always in the graph
        self._machine.events[gate.trigger].trigger(
            _Cursor(gate.source.id), change=change, deal=deal
        )


def _adapt(callback: StageHook) -> Callable[[Any], None]:
    def call(event: Any) -> None:
        callback(event.kwargs["change"], event.kwargs["deal"])

    return call
