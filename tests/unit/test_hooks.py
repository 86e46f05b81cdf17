"""The hook registry: order, removal, sharing between engines, and async callbacks refused."""

from __future__ import annotations

import asyncio
import functools
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest

from playbook.errors import HookError, MoveBlockedError, UnknownActionError
from playbook.model import Playbook
from playbook.runtime.deals import DealState
from playbook.runtime.decisions import ActionCompleted, StageChanged
from playbook.runtime.engine import Engine
from playbook.runtime.hooks import Hooks
from playbook.values import Actor

NOW = datetime(2026, 3, 4, 2, tzinfo=UTC)
REP = Actor("li", frozenset({"rep"}))
PRESALES = Actor("zhao", frozenset({"presales"}))


def deal(stage: str = "qualified", **done: str) -> dict[str, Any]:
    """A deal of the engine test playbook that may move from qualified to proposal."""
    return {
        "id": "D-1",
        "stage": stage,
        "stage_entered_at": "2026-03-02T09:00:00+08:00",
        "fields": {
            "amount": "1000",
            "decision_maker": "王总",
            "industry": "energy",
            "budget_confirmed": True,
            "minutes": "m",
        },
        "completed_actions": ["tech_exchange", *done],
    }


async def notify(change: StageChanged, state: DealState) -> None:
    """An async hook: nothing would ever await it."""


class AsyncCallable:
    async def __call__(self, change: StageChanged, state: DealState) -> None:
        """An object whose call is a coroutine."""


@pytest.mark.parametrize(
    "callback",
    [notify, AsyncCallable(), functools.partial(notify)],
    ids=["async-def", "async-call", "partial"],
)
def test_async_hooks_are_refused_at_registration(callback: Any) -> None:
    """``async def`` callbacks (however wrapped) are refused with PB560 and a hint."""
    hooks = Hooks()
    with pytest.raises(HookError, match="async def") as refused:
        hooks.on_enter("x", callback)
    assert refused.value.code == "PB560"
    assert "run_coroutine_threadsafe" in (refused.value.hint or "")
    assert not hooks


def test_a_hook_returning_a_coroutine_is_refused_when_called(
    engine_playbook: Playbook,
) -> None:
    """A plain function that returns an awaitable: refused at call time, coroutine closed."""
    engine = Engine(engine_playbook)
    engine.on_enter("proposal", lambda change, state: notify(change, state))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would be an error
        with pytest.raises(HookError, match="async"):
            engine.advance(deal(), "proposal", actor=REP, now=NOW)


def test_engine_refuses_async_hooks(engine_playbook: Playbook) -> None:
    """Every registration method of the engine refuses async callbacks."""
    engine = Engine(engine_playbook)
    for register in (
        lambda: engine.on_enter("proposal", notify),
        lambda: engine.on_exit("qualified", notify),
        lambda: engine.on_blocked(notify),  # type: ignore[arg-type]
        lambda: engine.on_action("tech_exchange", notify),  # type: ignore[arg-type]
    ):
        with pytest.raises(HookError):
            register()
    assert asyncio.iscoroutinefunction(notify)


def test_not_callable_is_refused() -> None:
    """A value that cannot be called is refused at once, not when a deal moves."""
    with pytest.raises(HookError, match="must be a function"):
        Hooks().on_blocked("print")  # type: ignore[arg-type]


def test_removal_by_handle_and_by_registry(engine_playbook: Playbook) -> None:
    """A removed hook no longer runs; removing twice does nothing; others stay."""
    engine = Engine(engine_playbook)
    calls: list[str] = []
    first = engine.on_enter("proposal", lambda c, d: calls.append("first"))
    second = engine.on_enter("proposal", lambda c, d: calls.append("second"))
    engine.advance(deal(), "proposal", actor=REP, now=NOW)
    first.remove()
    first.remove()
    engine.advance(deal(), "proposal", actor=REP, now=NOW)
    engine.hooks.remove(second)
    engine.advance(deal(), "proposal", actor=REP, now=NOW)
    assert calls == ["first", "second", "second"]
    assert not engine.hooks


def test_order_exit_enter_then_actions() -> None:
    """Per event: exit hooks of the stage left, enter hooks of the one entered; actions by id."""
    hooks = Hooks()
    seen: list[str] = []
    hooks.on_enter("b", lambda c, d: seen.append("enter b"))
    hooks.on_exit("a", lambda c, d: seen.append("exit a"))
    hooks.on_enter("a", lambda c, d: seen.append("enter a"))
    hooks.on_action("call", lambda e, d: seen.append("call"))
    hooks.on_action(None, lambda e, d: seen.append("any action"))
    move = StageChanged("D", "p", 1, "a", "b", "x", (), NOW)
    done = ActionCompleted("D", "b", "call", "x", NOW)
    other = ActionCompleted("D", "b", "visit", "x", NOW)
    state: Any = object()
    for call in hooks.calls((move, done, other), state):
        call()
    assert seen == ["exit a", "enter b", "call", "any action", "any action"]
    assert hooks.keys("enter") == {"a", "b"}


def test_action_hooks_on_the_engine_alone(engine_playbook: Playbook) -> None:
    """complete_action runs action hooks after its in-memory decision; run_hooks=False none."""
    engine = Engine(engine_playbook)
    seen: list[tuple[str, int]] = []
    engine.on_action("tech_exchange", lambda e, d: seen.append((e.action_id, d.version)))
    state = {**deal(), "completed_actions": []}
    engine.complete_action(state, "tech_exchange", actor=PRESALES, now=NOW, evidence="notes")
    engine.complete_action(
        state, "tech_exchange", actor=PRESALES, now=NOW, evidence="notes", run_hooks=False
    )
    assert seen == [("tech_exchange", 1)]
    with pytest.raises(UnknownActionError, match="did you mean"):
        engine.on_action("tech_exchang", lambda e, d: None)


def test_blocked_hooks_follow_run_hooks(engine_playbook: Playbook) -> None:
    """run_hooks=False refuses without calling on_blocked (the store path calls it later)."""
    engine = Engine(engine_playbook)
    seen: list[tuple[str, ...]] = []
    engine.on_blocked(lambda decision, d: seen.append(decision.codes))
    blocked = {**deal(), "completed_actions": []}
    with pytest.raises(MoveBlockedError):
        engine.advance(blocked, "proposal", actor=REP, now=NOW, run_hooks=False)
    with pytest.raises(MoveBlockedError):
        engine.advance(blocked, "proposal", actor=REP, now=NOW)
    assert seen == [("PB545",)]
