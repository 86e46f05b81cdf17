"""The 1-15-30 rule of ``playbooks/b2b-project-sales.yaml``, replayed day by day.

Two deals live from April to June 2026 in Shanghai: activities are logged on
given days, one deal moves a stage, and a sweep runs three times a day. The
test asserts exactly which escalation levels fire, for whom, and at which
local time: due times follow the Chinese working calendar (the Qingming and
Labour Day holidays, the Dragon Boat Festival, the make-up working days).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from playbook import services
from playbook.definition.files import playbook_from_file
from playbook.escalation.rules import Fired
from playbook.escalation.sweep import sweep
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.store.db import Database, open_database
from playbook.store.models import Person
from playbook.store.repository import DealStore
from playbook.store.schema import upgrade
from playbook.values import Actor

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
REP = Actor("li.na", frozenset({"sales_rep"}))
SWEEP_TIMES = (time(9, 30), time(13, 0), time(20, 0))


def local(text: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture(scope="module")
def b2b() -> Playbook:
    """The B2B project sales playbook shipped in ``playbooks/``."""
    return playbook_from_file(ROOT / "playbooks" / "b2b-project-sales.yaml")[0]


@pytest.fixture(scope="module")
def replay_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A fresh SQLite store at the newest schema, with li.na reporting to wang.wei."""
    folder = tmp_path_factory.mktemp("replay")
    database = open_database(f"sqlite:///{folder / 'replay.db'}", check_schema=False)
    upgrade(database)
    with database.transaction(write=True) as session:
        session.add(
            Person(
                name="li.na",
                manager="wang.wei",
                team="east",
                region="east",
                updated_at=local("2026-01-01T00:00"),
            )
        )
    yield database
    database.dispose()


def _life(store: DealStore, b2b: Playbook) -> dict[datetime, list[Callable[[], object]]]:
    """What happens to the two deals, keyed by the moment it happens."""
    engine = Engine(b2b)
    events: dict[datetime, list[Callable[[], object]]] = {}

    def on(moment: str, action: Callable[[datetime], object]) -> None:
        at = local(moment)
        events.setdefault(at, []).append(lambda: action(at))

    def create(ref: str, amount: str) -> Callable[[datetime], object]:
        return lambda at: store.add_deal(
            b2b, actor=REP, now=at, external_id=ref, owner="li.na", fields={"amount": amount}
        )

    def call(ref: str) -> Callable[[datetime], object]:
        return lambda at: store.log_activity(ref, "call", actor=REP, now=at)

    on("2026-04-01T10:00", create("D-1", "500000"))
    on("2026-04-01T10:00", create("D-2", "1500000"))
    on("2026-04-10T15:00", call("D-1"))
    on(
        "2026-05-07T09:30",
        lambda at: services.complete_action(
            store, "D-1", "grade_customer", engine=engine, actor=REP, now=at, evidence="key"
        ),
    )
    on(
        "2026-05-07T09:45",
        lambda at: store.update_fields(
            store.get("D-1"), b2b, {"industry": "energy"}, actor=REP, now=at
        ),
    )
    on(
        "2026-05-07T10:00",
        lambda at: services.advance(
            store, "D-1", "initial_contact", engine=engine, actor=REP, now=at
        ),
    )
    on("2026-05-08T11:00", call("D-1"))
    on("2026-06-03T14:00", call("D-1"))
    for day in range(0, 91, 10):  # D-2 is followed up every ten days: it never goes quiet
        moment = datetime(2026, 4, 3, 16, 0) + timedelta(days=day)
        on(moment.isoformat(), call("D-2"))
    return events


def _replay(database: Database, b2b: Playbook, until: date) -> list[Fired]:
    store = DealStore(database)
    events = _life(store, b2b)
    sweeps = [
        datetime.combine(date(2026, 4, 1) + timedelta(days=n), moment, SHANGHAI).astimezone(UTC)
        for n in range((until - date(2026, 4, 1)).days + 1)
        for moment in SWEEP_TIMES
    ]
    fired: list[Fired] = []
    for moment in sorted({*events, *sweeps}):
        for action in events.get(moment, []):
            action()
        if moment in sweeps:
            report = sweep(database, b2b, now=moment)
            assert not report.dropped, report.dropped
            fired += report.fired
    return fired


EXPECTED = [
    # deal, rule, level, due (Shanghai), who
    ("D-1", "follow_up_15", 1, "2026-04-27T09:00", "owner li.na"),  # 04-25 is a Saturday
    # 2 working days after level 1: the trigger fell on Saturday, so they count from
    # Monday's opening, when the owner was told (Mon and Tue), and end at Wednesday's.
    ("D-1", "follow_up_15", 2, "2026-04-29T09:00", "manager wang.wei"),
    ("D-1", "judge_intent_30", 1, "2026-05-06T09:00", "manager wang.wei"),  # May 1-5 off
    ("D-2", "judge_intent_30_large", 1, "2026-05-06T09:00", "manager wang.wei"),
    # 3 working days from level 1 (Wed 05-06 09:00): Wed, Thu and Fri; Saturday 05-09 is a
    # make-up working day, whose opening ends them.
    ("D-2", "judge_intent_30_large", 2, "2026-05-09T09:00", "executive (no name on record)"),
    ("D-1", "follow_up_15", 1, "2026-05-25T09:00", "owner li.na"),  # new episode: 05-08 call
    ("D-1", "follow_up_15", 2, "2026-05-27T09:00", "manager wang.wei"),  # 05-23 is a Saturday
    ("D-1", "judge_intent_30", 1, "2026-06-08T09:00", "manager wang.wei"),  # new stage visit
    ("D-1", "follow_up_15", 1, "2026-06-18T14:00", "owner li.na"),  # new episode: 06-03 call
    ("D-1", "follow_up_15", 2, "2026-06-23T14:00", "manager wang.wei"),  # 06-19 Dragon Boat
]


@pytest.fixture(scope="module")
def fired(replay_db: Database, b2b: Playbook) -> list[Fired]:
    """Every escalation the replay's sweeps recorded, April to June 2026."""
    return _replay(replay_db, b2b, date(2026, 6, 30))


def test_one_fifteen_thirty_fires_exactly_these_on_these_days(fired: list[Fired]) -> None:
    """Three months of two deals: each level fires once, on its working day, to the right person."""
    seen = [
        (
            item.deal,
            item.rule,
            item.level,
            item.fired_at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
            ", ".join(str(person) for person in item.notified),
        )
        for item in sorted(fired, key=lambda item: (item.fired_at, item.deal, item.rule))
    ]
    assert seen == EXPECTED
    # Each level is recorded by the first sweep after it fell due, the same day.
    for item in fired:
        assert item.swept_at - item.fired_at < timedelta(hours=12)


def test_replay_resolves_what_activities_and_the_stage_move_made_moot(
    replay_db: Database, fired: list[Fired]
) -> None:
    """The stage move resolves judge_intent_30 and the calls resolve the older follow-ups."""
    from playbook.escalation.admin import list_escalations

    assert fired
    views = {
        (view.deal, view.rule, view.level, view.fired_at.astimezone(SHANGHAI).date().isoformat()): (
            view.status,
            view.resolution,
        )
        for view in list_escalations(replay_db)
    }
    # The playbook speaks Chinese: so do the resolutions the sweeps record.
    assert views[("D-1", "judge_intent_30", 1, "2026-05-06")] == ("resolved", "商机已离开该阶段")
    assert views[("D-1", "follow_up_15", 2, "2026-04-29")] == ("resolved", "已登记跟进记录")
    assert views[("D-1", "follow_up_15", 2, "2026-06-23")] == ("open", None)
    assert views[("D-1", "judge_intent_30", 1, "2026-06-08")] == ("open", None)
