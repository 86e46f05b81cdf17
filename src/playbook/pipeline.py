"""A store's deals as their playbooks enforce them: the object a service embeds.

A :class:`Pipeline` holds what every service over the deal store needs and
would otherwise write itself: one engine per registered playbook version,
built once from the stored text and cached (:meth:`Pipeline.engine_for`), one
hook registry applied to every version's engine (versions registered later
included), and ``advance``/``complete_action`` that run those hooks only for
changes the store committed, retrying a lost optimistic-lock race (PB602) and
a deal migrated to another version meanwhile.

It is safe to share between threads: build one per store when the service
starts, register the hooks, then call it from every request.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from playbook.errors import StoreError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.runtime.deals import check_action, check_stage
from playbook.runtime.decisions import Advance
from playbook.runtime.engine import Engine
from playbook.runtime.hooks import ActionHook, BlockedHook, Hook, Hooks, StageHook
from playbook.services import (
    advancing,
    completing,
    decide_and_store,
    registered_playbook,
)
from playbook.store.repository import DealStore, StoredDeal
from playbook.values import Actor

__all__ = ["Pipeline"]


class Pipeline:
    """The deals of ``store``, each decided by the engine of the version it is pinned to.

    ``retries`` is how many times ``advance`` and ``complete_action`` read the
    deal again and decide again after losing a race to another writer (the
    default of both; each call may give its own).
    """

    def __init__(self, store: DealStore, *, retries: int = 3) -> None:
        self.store = store
        self.retries = retries
        self.hooks = Hooks()
        self._engines: dict[tuple[str, int], Engine] = {}
        self._lock = threading.Lock()

    # --- engines --------------------------------------------------------------------------

    def engine_for(self, deal: StoredDeal) -> Engine:
        """The engine of the playbook version ``deal`` is pinned to; the same object every time.

        Built once per (playbook, version) from the text the store registered
        for it, with this pipeline's hooks. Raises
        :class:`~playbook.errors.StoreError` when the store has no such text.
        """
        return self.engine(deal.playbook_id, deal.playbook_version)

    def engine(self, playbook_id: str, version: int | None = None) -> Engine:
        """The engine of ``playbook_id`` at ``version`` (default: the active version)."""
        key = (playbook_id, self.active_version(playbook_id) if version is None else version)
        known = self._engines.get(key)
        return self._build(*key) if known is None else known

    def active_version(self, playbook_id: str) -> int:
        """The version new deals of ``playbook_id`` follow: the one activated last, else the
        highest registered; read from the store on every call, so an activation made by any
        process counts at once (engines are cached per version, never the choice)."""
        version = self.store.active_version(playbook_id)
        if version is None:
            raise _unregistered(repr(playbook_id))
        return version

    def _build(self, playbook_id: str, version: int) -> Engine:
        model = registered_playbook(self.store, playbook_id, version)
        if model is None:
            pinned = f"{playbook_id}@{version}"
            raise _unregistered(pinned)
        with self._lock:  # two threads may build it; both keep the first one stored
            return self._engines.setdefault((playbook_id, version), Engine(model, hooks=self.hooks))

    def register(
        self, playbook: Playbook, source: str, *, now: datetime, path: str | None = None
    ) -> Engine:
        """Register ``source`` as ``playbook``'s version (see :meth:`DealStore.register_playbook`)
        and return its engine; a version higher than every other becomes the active one unless
        a version was activated by hand (:meth:`DealStore.activate`).
        """
        self.store.register_playbook(playbook, source, path=path, now=now)
        return self.engine(playbook.id, playbook.version)

    # --- hooks ----------------------------------------------------------------------------

    def on_enter(self, stage: str, callback: StageHook) -> Hook:
        """Call ``callback(change, deal)`` once per stored move into ``stage``, after commit.

        The stage must exist in a registered version when any is registered
        (:class:`~playbook.errors.UnknownStageError`); ``async def`` callbacks
        are refused (:class:`~playbook.errors.HookError`). Returns the handle
        whose ``remove()`` unregisters it.
        """
        self._check_stage(stage)
        return self.hooks.on_enter(stage, callback)

    def on_exit(self, stage: str, callback: StageHook) -> Hook:
        """Call ``callback(change, deal)`` once per stored move out of ``stage`` (before enter)."""
        self._check_stage(stage)
        return self.hooks.on_exit(stage, callback)

    def on_action(self, action_id: str | None, callback: ActionHook) -> Hook:
        """Call ``callback(event, deal)`` per stored completion of ``action_id`` (None: any)."""
        if action_id is not None:
            self._check_action(action_id)
        return self.hooks.on_action(action_id, callback)

    def on_blocked(self, callback: BlockedHook) -> Hook:
        """Call ``callback(decision, deal)`` when ``advance`` is refused (after it is recorded)."""
        return self.hooks.on_blocked(callback)

    # --- changing deals -------------------------------------------------------------------

    def add_deal(self, playbook_id: str, *, actor: Actor, now: datetime, **row: Any) -> StoredDeal:
        """A new deal in the first stage of the active version (``row``: see
        :meth:`DealStore.add_deal`: fields, external_id, owner, team, manager, region)."""
        engine = self.engine(playbook_id)
        return self.store.add_deal(engine.playbook, actor=actor, now=now, **row)

    def advance(
        self,
        ref: str | int,
        to_stage: str,
        *,
        actor: Actor,
        now: datetime,
        override: str | None = None,
        retries: int | None = None,
        playbook_id: str | None = None,
    ) -> tuple[StoredDeal, Advance]:
        """Move the deal to ``to_stage`` as its pinned version decides; store it, then hooks.

        As :func:`playbook.services.advance`, with the engine chosen per read
        (a deal migrated meanwhile is decided by its new version) and this
        pipeline's hooks, run once per stored move after the commit.
        """
        command = advancing(to_stage, override)
        return decide_and_store(
            self.store, ref, self.engine_for, self.hooks, command, actor=actor, now=now,
            retries=self.retries if retries is None else retries, playbook_id=playbook_id,
        )  # fmt: skip

    def complete_action(
        self,
        ref: str | int,
        action_id: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Any = None,
        retries: int | None = None,
        playbook_id: str | None = None,
    ) -> tuple[StoredDeal, Advance]:
        """Record a required action of the deal's stage as done; hooks as for :meth:`advance`."""
        command = completing(action_id, evidence)
        return decide_and_store(
            self.store, ref, self.engine_for, self.hooks, command, actor=actor, now=now,
            retries=self.retries if retries is None else retries, playbook_id=playbook_id,
        )  # fmt: skip

    # --- checks ---------------------------------------------------------------------------

    def _latest(self) -> list[Engine]:
        """The engine of every registered version, newest version of each playbook first."""
        versions = sorted(self.store.playbook_versions(), key=lambda key: (key[0], -key[1]))
        return [self.engine(playbook_id, version) for playbook_id, version in versions]

    def _check_stage(self, stage: str) -> None:
        engines = self._latest()
        if not engines or any(engine.playbook.stage(stage) for engine in engines):
            return
        check_stage(engines[0].playbook, stage)  # raises, with a did-you-mean
        raise AssertionError("check_stage raised")  # pragma: no cover

    def _check_action(self, action_id: str) -> None:
        engines = self._latest()
        if not engines or any(engine.playbook.action(action_id) for engine in engines):
            return
        check_action(engines[0].playbook, action_id)  # raises, with a did-you-mean


def _unregistered(name: str) -> StoreError:
    return StoreError(
        Message("error.pipeline.unregistered", name=name),
        hint=Message("error.pipeline.register_first"),
        details={"playbook": name},
    )
