"""Hooks run only for what the store committed: threads racing, rollbacks, a live migrate.

Every figure compared is read back from the database's own history tables
(``stage_changes``, ``activities``) with plain SQL, independently of the hooks.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from playbook import services
from playbook.authoring.migrate import migrate_deals
from playbook.definition.files import playbook_from_text
from playbook.errors import (
    ConflictError,
    HookError,
    HookFailedError,
    MoveBlockedError,
    PlaybookError,
    PlaybookVersionError,
    StoreError,
)
from playbook.model import Playbook
from playbook.pipeline import Pipeline
from playbook.runtime.deals import DealState
from playbook.runtime.decisions import ActionCompleted, Advance, Decision, StageChanged
from playbook.runtime.engine import Engine
from playbook.runtime.hooks import Hooks
from playbook.store.repository import DealStore, StoredDeal
from playbook.values import Actor

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MANAGER = Actor("manager", frozenset({"manager"}))
REP = Actor("rep", frozenset({"rep"}))
DEALS = 30
THREADS = 3

Key = tuple[str, int, str]  # deal ref, deal version after the step, stage or action id


def _stored_moves(store: DealStore) -> Counter[Key]:
    """Every live stage change after a deal's creation row, as the database holds it."""
    sql = text(
        "SELECT d.external_id, s.deal_version, s.to_stage FROM playbook_stage_changes s "
        "JOIN playbook_deals d ON d.id = s.deal_id WHERE s.from_stage IS NOT NULL"
    )
    with store.database.transaction() as session:
        return Counter((str(r[0]), int(r[1]), str(r[2])) for r in session.execute(sql))


def _stored_completions(store: DealStore) -> Counter[Key]:
    """Every completed required action, as the database holds it."""
    sql = text(
        "SELECT d.external_id, a.deal_version, a.action_id FROM playbook_activities a "
        "JOIN playbook_deals d ON d.id = a.deal_id WHERE a.kind = 'action'"
    )
    with store.database.transaction() as session:
        return Counter((str(r[0]), int(r[1]), str(r[2])) for r in session.execute(sql))


class Recorder:
    """What the hooks saw, from any thread."""

    def __init__(self) -> None:
        self.entered: list[Key] = []
        self.exited: list[Key] = []
        self.actions: list[Key] = []
        self.blocked: list[tuple[str, tuple[str, ...]]] = []

    def install(self, hooks: Any, stages: tuple[str, ...]) -> None:
        for stage in stages:
            hooks.on_enter(stage, self.enter)
            hooks.on_exit(stage, self.exit)
        hooks.on_action(None, self.action)
        hooks.on_blocked(self.block)

    def enter(self, change: StageChanged, deal: DealState) -> None:
        self.entered.append((deal.id, deal.version, change.to_stage))

    def exit(self, change: StageChanged, deal: DealState) -> None:
        self.exited.append((deal.id, deal.version, change.to_stage))

    def action(self, event: ActionCompleted, deal: DealState) -> None:
        self.actions.append((deal.id, deal.version, event.action_id))

    def block(self, decision: Decision, deal: DealState) -> None:
        self.blocked.append((deal.id, decision.codes))


Writer = Callable[..., tuple[StoredDeal, Advance]]


def _writers(
    store: DealStore, playbook: Playbook, path: str, recorder: Recorder
) -> tuple[Writer, Writer]:
    """advance and complete_action through a Pipeline, or through services with one engine."""
    stages = tuple(stage.id for stage in playbook.stages)
    if path == "pipeline":
        pipeline = Pipeline(store)
        recorder.install(pipeline, stages)
        return pipeline.advance, pipeline.complete_action
    engine = Engine(playbook)
    recorder.install(engine, stages)

    def advance(ref: str, to: str, **kw: Any) -> tuple[StoredDeal, Advance]:
        return services.advance(store, ref, to, engine=engine, **kw)

    def complete(ref: str, action: str, **kw: Any) -> tuple[StoredDeal, Advance]:
        return services.complete_action(store, ref, action, engine=engine, **kw)

    return advance, complete


def _stock(store: DealStore, playbook: Playbook, text_: str, count: int = DEALS) -> list[str]:
    store.register_playbook(playbook, text_, now=T0)
    refs = [f"D-{n}" for n in range(count)]
    for ref in refs:
        store.add_deal(playbook, actor=REP, now=T0, external_id=ref, fields={"amount": "100"})
    return refs


def _race(threads: int, work: Callable[[int], None]) -> None:
    """Run ``work(n)`` in ``threads`` threads started together; re-raise the first failure."""
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as error:  # reported in the main thread
            failures.append(error)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise failures[0]


@pytest.mark.parametrize("path", ["pipeline", "engine"])
def test_racing_moves_fire_one_enter_hook_per_stored_move(
    store: DealStore, sales_playbook: Playbook, path: str
) -> None:
    """Threads move the same deals at once with retries=1: losers fire nothing, nothing twice."""
    from conftest import SALES_PLAYBOOK

    refs = _stock(store, sales_playbook, SALES_PLAYBOOK)
    recorder = Recorder()
    advance, _ = _writers(store, sales_playbook, path, recorder)
    lost = _count_lost_races(store)
    outcomes: Counter[str] = Counter()

    def work(n: int) -> None:
        for ref in refs:  # every thread on the same deal at the same time
            for target in ("offer", "lead", "offer"):
                try:
                    advance(ref, target, actor=MANAGER, now=T0, override="race", retries=1)
                    outcomes["stored"] += 1
                except ConflictError:
                    outcomes["conflict"] += 1
                except MoveBlockedError:
                    outcomes["blocked"] += 1

    _race(THREADS, work)
    stored = _stored_moves(store)
    assert sum(stored.values()) == outcomes["stored"] > 0
    assert Counter(recorder.entered) == stored  # one enter call per stored row
    assert max(Counter(recorder.entered).values()) == 1  # none twice
    assert Counter(recorder.exited) == stored  # each stored move also left its stage once
    assert len(recorder.blocked) == outcomes["blocked"]
    assert sum(outcomes.values()) == THREADS * 3 * DEALS
    assert len(lost) >= max(1, outcomes["conflict"])  # races happened; each escape lost two
    print(f"{path}: {dict(outcomes)}, races lost {len(lost)}")


def _count_lost_races(store: DealStore) -> list[int]:
    """Count the writes the database refused as stale (PB602), retried or not."""
    lost: list[int] = []
    write = store.apply

    def counted(deal: StoredDeal, *args: Any, **kw: Any) -> StoredDeal:
        try:
            return write(deal, *args, **kw)
        except ConflictError:
            lost.append(deal.id)
            raise

    store.apply = counted  # type: ignore[method-assign]
    return lost


@pytest.mark.parametrize("path", ["pipeline", "engine"])
def test_racing_completions_fire_one_action_hook_per_stored_completion(
    store: DealStore, sales_playbook: Playbook, path: str
) -> None:
    """complete_action hooks: one call per stored completion row, with races and retries=1."""
    from conftest import SALES_PLAYBOOK

    refs = _stock(store, sales_playbook, SALES_PLAYBOOK)
    recorder = Recorder()
    _, complete = _writers(store, sales_playbook, path, recorder)
    outcomes: Counter[str] = Counter()

    def work(n: int) -> None:
        for ref in refs:
            try:
                complete(ref, "first_call", actor=REP, now=T0, evidence=f"call {n}", retries=1)
                outcomes["stored"] += 1
            except ConflictError:
                outcomes["conflict"] += 1

    lost = _count_lost_races(store)
    _race(THREADS, work)
    stored = _stored_completions(store)
    print(f"{path}: {dict(outcomes)}, races lost {len(lost)}")
    assert sum(stored.values()) == outcomes["stored"] > 0
    assert Counter(recorder.actions) == stored
    assert max(stored.values()) == 1
    assert recorder.entered == recorder.exited == []


def test_a_retried_move_fires_once(store: DealStore, sales_playbook: Playbook) -> None:
    """A move that loses the race once and succeeds on its retry calls each hook once."""
    from conftest import SALES_PLAYBOOK

    (ref,) = _stock(store, sales_playbook, SALES_PLAYBOOK, count=1)
    pipeline = Pipeline(store)
    recorder = Recorder()
    recorder.install(pipeline, ("lead", "offer"))
    engine = pipeline.engine_for(store.get(ref))
    interfered: list[int] = []

    # A writer that slips in between the read and the write of the first attempt.
    original = store.apply

    def apply_after_a_rival(deal: StoredDeal, *args: Any, **kw: Any) -> StoredDeal:
        if not interfered:
            interfered.append(deal.version)
            store.log_activity(deal.ref, "note", actor="rival", now=T0)
        return original(deal, *args, **kw)

    store.apply = apply_after_a_rival  # type: ignore[method-assign]
    try:
        moved, _ = pipeline.advance(ref, "offer", actor=MANAGER, now=T0, override="x", retries=1)
    finally:
        del store.apply
    assert interfered == [1]
    assert moved.version == 3  # created at 1, the rival's note 2, the move 3
    assert recorder.entered == [(ref, 3, "offer")] == list(_stored_moves(store))
    assert engine is pipeline.engine_for(moved)


def _refuse_lost_moves(store: DealStore) -> None:
    """A trigger that makes the database roll back any move into `lost`."""
    statements = {
        "sqlite": [
            "CREATE TRIGGER refuse_lost BEFORE INSERT ON playbook_stage_changes "
            "WHEN NEW.to_stage = 'lost' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
        ],
        "postgresql": [
            "CREATE FUNCTION refuse_lost() RETURNS trigger AS $$ BEGIN "
            "IF NEW.to_stage = 'lost' THEN RAISE EXCEPTION 'refused by test'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_lost BEFORE INSERT ON playbook_stage_changes "
            "FOR EACH ROW EXECUTE FUNCTION refuse_lost()",
        ],
    }[store.database.dialect]
    with store.database.transaction(write=True) as session:
        for statement in statements:
            session.execute(text(statement))


@pytest.mark.parametrize("path", ["pipeline", "engine"])
def test_a_rolled_back_move_fires_nothing(
    store: DealStore, sales_playbook: Playbook, path: str
) -> None:
    """The deal row was updated, then the transaction rolled back: no hook, nothing stored."""
    from conftest import SALES_PLAYBOOK

    (ref,) = _stock(store, sales_playbook, SALES_PLAYBOOK, count=1)
    recorder = Recorder()
    advance, _ = _writers(store, sales_playbook, path, recorder)
    _refuse_lost_moves(store)
    with pytest.raises(DBAPIError, match="refused by test"):
        advance(ref, "lost", actor=REP, now=T0, retries=2)
    assert (recorder.entered, recorder.exited, recorder.blocked) == ([], [], [])
    after = store.get(ref)
    assert (after.stage, after.version) == ("lead", 1)
    advance(ref, "offer", actor=MANAGER, now=T0, override="works otherwise")
    assert recorder.entered == [(ref, 2, "offer")]


def test_blocked_hooks_run_after_the_refusal_is_recorded(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """on_blocked sees the refusal already in the refusals table."""
    from conftest import SALES_PLAYBOOK

    (ref,) = _stock(store, sales_playbook, SALES_PLAYBOOK, count=1)
    pipeline = Pipeline(store)
    seen: list[int] = []

    def count_refusals(decision: Decision, deal: DealState) -> None:
        with store.database.transaction() as session:
            seen.append(int(session.scalar(text("SELECT count(*) FROM playbook_refusals")) or 0))

    pipeline.on_blocked(count_refusals)
    with pytest.raises(MoveBlockedError):
        pipeline.advance(ref, "offer", actor=REP, now=T0)
    assert seen == [1]


def test_a_failing_hook_reports_after_the_stored_change(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """A hook that raises does not undo the move nor stop the other hooks."""
    from conftest import SALES_PLAYBOOK

    (ref,) = _stock(store, sales_playbook, SALES_PLAYBOOK, count=1)
    pipeline = Pipeline(store)
    later: list[str] = []

    def broken(change: StageChanged, deal: DealState) -> None:
        raise RuntimeError("mail server down")

    pipeline.on_enter("offer", broken)
    pipeline.on_enter("offer", lambda change, deal: later.append(deal.stage))
    with pytest.raises(HookFailedError, match="was stored") as failed:
        pipeline.advance(ref, "offer", actor=MANAGER, now=T0, override="x")
    assert later == ["offer"]
    assert failed.value.deal.version == store.get(ref).version == 2
    assert [str(error) for error in failed.value.failures] == ["mail server down"]
    assert isinstance(failed.value.__cause__, RuntimeError)


def test_engine_for_is_cached_and_hooks_reach_later_versions(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """One engine object per version; a hook registered before v2 existed fires on v2 deals."""
    from conftest import SALES_PLAYBOOK

    (ref,) = _stock(store, sales_playbook, SALES_PLAYBOOK, count=1)
    pipeline = Pipeline(store)
    entered: list[tuple[int, str]] = []
    handle = pipeline.on_enter("offer", lambda c, d: entered.append((c.playbook_version, d.id)))
    v1 = pipeline.engine_for(store.get(ref))
    assert v1 is pipeline.engine_for(store.get(ref)) is pipeline.engine("store-test", 1)
    assert pipeline.active_version("store-test") == 1
    with pytest.raises(StoreError, match="no copy of playbook store-test@9"):
        pipeline.engine("store-test", 9)
    with pytest.raises(StoreError, match="no copy of playbook 'other'"):
        pipeline.add_deal("other", actor=REP, now=T0)

    text_v2 = SALES_PLAYBOOK.replace("version: 1", "version: 2")
    v2_model = playbook_from_text(text_v2, "v2.yaml")
    v2 = pipeline.register(v2_model, text_v2, now=T0)
    assert pipeline.active_version("store-test") == store.active_version("store-test") == 2
    new = pipeline.add_deal("store-test", actor=REP, now=T0, external_id="N-1")
    assert new.playbook_version == 2
    assert pipeline.engine_for(new) is v2 is not v1
    assert v2.hooks is v1.hooks is pipeline.hooks

    pipeline.advance("N-1", "offer", actor=MANAGER, now=T0, override="x")
    pipeline.advance(ref, "offer", actor=MANAGER, now=T0, override="x")
    assert entered == [(2, "N-1"), (1, ref)]
    handle.remove()
    pipeline.advance("N-1", "lead", actor=MANAGER, now=T0)
    pipeline.advance("N-1", "offer", actor=MANAGER, now=T0, override="x")
    assert len(entered) == 2


def test_hooks_on_unknown_stages_are_refused(store: DealStore, sales_playbook: Playbook) -> None:
    """A misspelt stage or action is refused at registration, with a did-you-mean."""
    from conftest import SALES_PLAYBOOK

    pipeline = Pipeline(store)
    pipeline.on_enter("anything", lambda c, d: None)  # nothing registered yet: cannot check
    store.register_playbook(sales_playbook, SALES_PLAYBOOK, now=T0)
    with pytest.raises(PlaybookError, match="did you mean 'offer'"):
        pipeline.on_enter("ofer", lambda c, d: None)
    with pytest.raises(PlaybookError, match="did you mean 'first_call'"):
        pipeline.on_action("first_cal", lambda e, d: None)

    async def notify(change: StageChanged, deal: DealState) -> None:
        """Never awaited by anything: refused."""

    with pytest.raises(HookError, match="async def"):
        pipeline.on_enter("offer", notify)
    assert pipeline.hooks.keys("enter") == {"anything"}


MIGRATING = 20


@pytest.mark.parametrize("path", ["pipeline", "engine"])
def test_a_live_migrate_lets_no_pb503_escape(
    store: DealStore, sales_playbook: Playbook, path: str
) -> None:
    """Requests keep advancing deals while `migrate` moves them to v2; retries cover it."""
    from conftest import SALES_PLAYBOOK

    refs = _stock(store, sales_playbook, SALES_PLAYBOOK, count=MIGRATING)
    text_v2 = SALES_PLAYBOOK.replace("version: 1", "version: 2")
    v2 = playbook_from_text(text_v2, "v2.yaml")
    store.register_playbook(v2, text_v2, now=T0)
    recorder = Recorder()
    advance, _ = _writers(store, sales_playbook, path, recorder)
    errors: list[PlaybookError] = []
    stored = 0
    migrated = threading.Event()

    def request(n: int) -> None:
        nonlocal stored
        rounds = 0
        while not (migrated.is_set() and rounds >= 2):
            for ref in refs[n::2]:
                target = "offer" if store.get(ref).stage == "lead" else "lead"
                try:
                    advance(ref, target, actor=MANAGER, now=T0, override="live", retries=5)
                    stored += 1
                except PlaybookError as error:
                    errors.append(error)
                time.sleep(0.002)
            rounds += 1

    def migrate() -> int:
        attempts = 0
        while True:
            attempts += 1
            try:
                migrate_deals(store, v2, 1, now=T0 + timedelta(minutes=1))
                return attempts
            except ConflictError:
                time.sleep(0.01)

    workers = [threading.Thread(target=request, args=(n,)) for n in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(0.05)
    try:
        attempts = migrate()
    finally:
        migrated.set()
        for worker in workers:
            worker.join()
    assert not [e for e in errors if isinstance(e, PlaybookVersionError)]
    assert errors == []
    assert {store.get(ref).playbook_version for ref in refs} == {2}
    by_migrate = Counter(_migrated_keys(store))
    assert sum(by_migrate.values()) == MIGRATING  # every deal was open, on version 1
    assert len(recorder.entered) == stored > 0
    assert Counter(recorder.entered) + by_migrate == _stored_moves(store)
    assert attempts >= 1


def _migrated_keys(store: DealStore) -> list[Key]:
    sql = text(
        "SELECT d.external_id, s.deal_version, s.to_stage FROM playbook_stage_changes s "
        "JOIN playbook_deals d ON d.id = s.deal_id WHERE s.source = 'migrate'"
    )
    with store.database.transaction() as session:
        return [(str(r[0]), int(r[1]), str(r[2])) for r in session.execute(sql)]


def test_the_engine_hooks_registry_is_shared_not_copied() -> None:
    """Engines built on one registry see hooks added later (what Pipeline relies on)."""
    from conftest import SALES_PLAYBOOK

    hooks = Hooks()
    model = playbook_from_text(SALES_PLAYBOOK, "x.yaml")
    engine = Engine(model, hooks=hooks)
    seen: list[str] = []
    hooks.on_enter("offer", lambda c, d: seen.append(d.stage))
    deal = {"id": "X", "stage": "lead", "fields": {"amount": "1"}}
    engine.advance(deal, "offer", actor=MANAGER, now=T0, override="x")
    engine.advance(deal, "offer", actor=MANAGER, now=T0, override="x", run_hooks=False)
    assert seen == ["offer"]
