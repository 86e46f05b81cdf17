"""Eight processes move and annotate the same 200 deals at once; no update may be lost."""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from playbook import services
from playbook.definition.files import playbook_from_text
from playbook.errors import ConflictError
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.services import deal_state
from playbook.store.db import open_database
from playbook.store.models import Activity, Deal, StageChange
from playbook.store.repository import DealStore
from playbook.values import Actor

WORKERS = 8
DEALS = 200
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MANAGER = Actor("manager", frozenset({"manager"}))


def _work(url: str, playbook_text: str, seed: int) -> tuple[int, int, int]:
    """Advance (with retries, as `--retry` does) and annotate every deal once, in random order."""
    engine = Engine(playbook_from_text(playbook_text))
    database = open_database(url)
    store = DealStore(database)
    order = [f"D-{n}" for n in range(DEALS)]
    random.Random(seed).shuffle(order)
    moves = notes = conflicts = 0
    now = T0 + timedelta(minutes=seed)
    try:
        for ref in order:
            while True:
                deal = store.get(ref)
                target = "offer" if deal.stage == "lead" else "lead"
                result = engine.advance(
                    deal_state(deal, engine.playbook),
                    target,
                    actor=MANAGER,
                    now=now,
                    override="load",
                )
                try:
                    services.apply(store, deal, result, engine.playbook, actor=MANAGER, now=now)
                except ConflictError:
                    conflicts += 1
                    continue
                moves += 1
                break
            store.log_activity(ref, "note", actor=f"worker-{seed}", now=now, note=str(seed))
            notes += 1
    finally:
        database.dispose()
    return moves, notes, conflicts


@pytest.mark.slow
def test_concurrent_writers_lose_no_update(
    store: DealStore, db_url: str, sales_playbook: Playbook
) -> None:
    """Every successful operation is one recorded row and one version step, on both databases."""
    from conftest import SALES_PLAYBOOK

    actor = Actor("setup", frozenset({"rep"}))
    for n in range(DEALS):
        store.add_deal(sales_playbook, actor=actor, now=T0, external_id=f"D-{n}")
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(_work, [(db_url, SALES_PLAYBOOK, seed) for seed in range(WORKERS)])
    moves = sum(r[0] for r in results)
    notes = sum(r[1] for r in results)
    assert moves == notes == WORKERS * DEALS

    with store.database.transaction() as session:
        deals = {d.id: d for d in session.scalars(select(Deal))}
        changes = session.scalars(select(StageChange).order_by(StageChange.deal_version)).all()
        activities = session.scalars(select(Activity)).all()
    assert len(changes) - DEALS == moves  # one creation row per deal, then one per move
    assert len(activities) == notes
    steps: dict[int, list[int]] = {deal_id: [] for deal_id in deals}
    for row in [*changes, *activities]:
        steps[row.deal_id].append(row.deal_version)
    for deal_id, versions in steps.items():
        assert sorted(versions) == list(range(1, deals[deal_id].version + 1))
    last: dict[int, StageChange] = {}
    for change in changes:
        previous = last.get(change.deal_id)
        assert change.from_stage == (previous.to_stage if previous else None)
        last[change.deal_id] = change
    assert all(deals[deal_id].stage == change.to_stage for deal_id, change in last.items())
    assert Counter(len(v) for v in steps.values()) == {1 + 2 * WORKERS: DEALS}
