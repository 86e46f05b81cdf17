"""Hooks: the callbacks an embedder registers for stage changes, completed actions and refusals.

One :class:`Hooks` registry holds every kind (enter, exit, blocked, action);
each registration returns a :class:`Hook` handle whose :meth:`Hook.remove`
takes it out again. The registry only answers *which* callbacks a set of events
calls, in order (:meth:`Hooks.calls`); *when* they run is the caller's choice:
an :class:`~playbook.runtime.engine.Engine` used alone runs them right after its
in-memory decision, :mod:`playbook.services` only after the store's
transaction has committed.

Callbacks are synchronous: an ``async def`` callback (or one that returns an
awaitable) is refused with :class:`~playbook.errors.HookError`, since nothing
here would ever await it.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from playbook.errors import HookError
from playbook.i18n import Message
from playbook.runtime.deals import DealState
from playbook.runtime.decisions import ActionCompleted, Decision, StageChanged

__all__ = ["ActionHook", "BlockedHook", "Hook", "HookCall", "Hooks", "StageHook"]

StageHook = Callable[[StageChanged, DealState], None]
"""Called with the stage change and the deal after the move."""

BlockedHook = Callable[[Decision, DealState], None]
"""Called with the decision and the deal when ``advance`` refuses a move."""

ActionHook = Callable[[ActionCompleted, DealState], None]
"""Called with the completed action and the deal after it was recorded."""

Kind = Literal["enter", "exit", "blocked", "action"]

_ANY = "*"  # the key of hooks that are not for one stage or action


class Hook:
    """A registered callback; :meth:`remove` unregisters it (removing twice does nothing)."""

    __slots__ = ("_registry", "callback", "key", "kind")

    def __init__(self, registry: Hooks, kind: Kind, key: str, callback: Callable[..., Any]):
        self._registry = registry
        self.kind = kind
        self.key = key
        self.callback = callback

    def remove(self) -> None:
        """Unregister the callback: later events no longer call it."""
        self._registry.remove(self)

    def __repr__(self) -> str:
        return f"Hook({self.kind!r}, {self.key!r}, {self.callback!r})"


class HookCall:
    """One callback bound to its arguments, ready to run (see :meth:`Hooks.calls`)."""

    __slots__ = ("args", "hook")

    def __init__(self, hook: Hook, args: tuple[Any, ...]) -> None:
        self.hook = hook
        self.args = args

    def __call__(self) -> None:
        result = self.hook.callback(*self.args)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: close it rather than leak a warning
            raise _async_refused(self.hook.callback)


class Hooks:
    """Callbacks by kind and key; safe to share between threads and between engines.

    Registering and removing take a lock and replace the lists they change, so
    a thread that is running hooks never sees a list change under it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[Kind, str], tuple[Hook, ...]] = {}

    def on_enter(self, stage: str, callback: StageHook) -> Hook:
        """Call ``callback(change, deal)`` for every stored move into ``stage``."""
        return self._add("enter", stage, callback)

    def on_exit(self, stage: str, callback: StageHook) -> Hook:
        """Call ``callback(change, deal)`` for every stored move out of ``stage`` (before enter)."""
        return self._add("exit", stage, callback)

    def on_blocked(self, callback: BlockedHook) -> Hook:
        """Call ``callback(decision, deal)`` whenever ``advance`` refuses a move."""
        return self._add("blocked", _ANY, callback)

    def on_action(self, action_id: str | None, callback: ActionHook) -> Hook:
        """Call ``callback(event, deal)`` when ``action_id`` (None: any action) is completed."""
        return self._add("action", _ANY if action_id is None else action_id, callback)

    def remove(self, hook: Hook) -> None:
        """Unregister ``hook``; a hook already removed (or of another registry) is ignored."""
        with self._lock:
            key = (hook.kind, hook.key)
            kept = tuple(known for known in self._by_key.get(key, ()) if known is not hook)
            others = {k: v for k, v in self._by_key.items() if k != key}
            self._by_key = {**others, key: kept} if kept else others

    def keys(self, kind: Kind) -> frozenset[str]:
        """The stages or action ids that hooks of ``kind`` are registered for."""
        return frozenset(key for known, key in self._by_key if known == kind and key != _ANY)

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def calls(
        self, events: Iterable[StageChanged | ActionCompleted], deal: DealState
    ) -> list[HookCall]:
        """The callbacks ``events`` call, bound and in order: per event, exit hooks of the
        stage left, then enter hooks of the stage entered; action hooks for completed actions.
        """
        out: list[HookCall] = []
        for event in events:
            if isinstance(event, StageChanged):
                out += self.stage_calls("exit", event, deal)
                out += self.stage_calls("enter", event, deal)
            else:
                out += self._bound("action", (event.action_id, _ANY), (event, deal))
        return out

    def stage_calls(
        self, kind: Literal["enter", "exit"], change: StageChanged, deal: DealState
    ) -> list[HookCall]:
        """The exit hooks of the stage ``change`` leaves, or the enter hooks of its target."""
        stage = change.from_stage if kind == "exit" else change.to_stage
        return self._bound(kind, (stage,), (change, deal))

    def blocked_calls(self, decision: Decision, deal: DealState) -> list[HookCall]:
        """The ``on_blocked`` callbacks, bound to a refused decision and the deal as it was."""
        return self._bound("blocked", (_ANY,), (decision, deal))

    def _bound(self, kind: Kind, keys: Sequence[str], args: tuple[Any, ...]) -> list[HookCall]:
        by_key = self._by_key  # replaced, never changed in place: no lock needed to read
        return [HookCall(hook, args) for key in keys for hook in by_key.get((kind, key), ())]

    def _add(self, kind: Kind, key: str, callback: Callable[..., Any]) -> Hook:
        if not callable(callback):
            raise HookError(
                Message("error.hooks.not_callable", kind=kind, name=type(callback).__name__),
                hint=Message("error.hooks.pass_function"),
            )
        if _is_async(callback):
            raise _async_refused(callback)
        hook = Hook(self, kind, key, callback)
        with self._lock:
            self._by_key = {**self._by_key, (kind, key): (*self._by_key.get((kind, key), ()), hook)}
        return hook


def _is_async(callback: Callable[..., Any]) -> bool:
    call = getattr(callback, "__call__", None)  # noqa: B004 - an object's own __call__
    return any(
        inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)
        for target in (callback, call)
        if target is not None
    )


def _async_refused(callback: Callable[..., Any]) -> HookError:
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    return HookError(
        Message("error.hooks.asynchronous", name=name),
        hint=Message("error.hooks.register_plain_function"),
        details={"hook": name},
    )
