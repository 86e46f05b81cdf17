"""The sweep on real SQLite and PostgreSQL stores: once, catch-up, lateness, resolution, outbox.

The playbook below runs in UTC on a Monday-Friday, 09:00-18:00 calendar. Its
deal is created on Monday 2 March 2026 at 10:00, so ``stale`` is due on
Thursday 5 March 10:00 (level 1), Monday 9 March 10:00 (level 2: two working
days later) and Wednesday 11 March 10:00 (level 3: four working days).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from playbook.definition.files import playbook_from_text
from playbook.errors import CalendarError, DatabaseUnavailableError, NotificationError
from playbook.escalation.admin import acknowledge, list_escalations, snooze
from playbook.escalation.sinks import Notification
from playbook.escalation.sweep import sweep
from playbook.model import Calendar, Playbook
from playbook.store.db import Database
from playbook.store.models import Person
from playbook.store.repository import DealStore
from playbook.values import Actor

SLA_PLAYBOOK = """\
playbook: sla-test
version: 1
title: {en: SLA test, zh: 时限测试}
timezone: UTC
calendar: {weekdays: [mon, tue, wed, thu, fri], hours: {start: "09:00", end: "18:00"}}
roles:
  executive: {title: Executive}
fields:
  amount: {type: decimal}
  close_on: {type: date}
  hot: {type: boolean}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}}
  - {id: offer, title: Offer}
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
escalations:
  - id: stale
    title: {en: Stale lead, zh: 线索停滞}
    trigger: {in_stage: {days: 3}}
    stages: [lead]
    levels:
      - notify: [owner]
        message: {en: Move it, zh: 请推进}
      - notify: [manager]
        after: {working_days: 2}
      - notify: [executive]
        after: {working_days: 4}
    max_lateness: {days: 10}
  - id: close_overdue
    trigger: {date_passed: close_on}
    when: "amount > 0"
    levels:
      - notify: [owner]
  - id: hot_idle
    trigger: {condition: "hot", for: {hours: 2}}
    levels:
      - notify: [owner]
"""

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
REP = Actor("ann", frozenset({"executive"}))


def at(day: int, hour: int = 12) -> datetime:
    """March ``day`` 2026 at ``hour``:00 UTC."""
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sla() -> Playbook:
    """The model of :data:`SLA_PLAYBOOK`."""
    return playbook_from_text(SLA_PLAYBOOK, "sla-test.yaml")


@pytest.fixture
def deal_store(database: Database, sla: Playbook) -> DealStore:
    """A store with one deal D-1 (owner ann, manager bob by the people table)."""
    store = DealStore(database)
    with database.transaction(write=True) as session:
        session.add(Person(name="ann", manager="bob", team="t", region="r", updated_at=START))
    store.add_deal(sla, actor=REP, now=START, external_id="D-1", owner="ann", fields={})
    return store


def fired_keys(report: Any) -> list[tuple[str, int, str, str]]:
    """(rule, level, fired_at, status) of everything a sweep recorded."""
    return [
        (item.rule, item.level, item.fired_at.isoformat(), item.status)
        for item in [*report.fired, *report.dropped]
    ]


def test_each_level_fires_once_however_often_the_sweep_runs(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """Level 1 fires on its day and never again; the next sweeps record nothing new."""
    assert sweep(database, sla, now=at(5, 9)).fired == []
    first = sweep(database, sla, now=at(5, 11))
    assert fired_keys(first) == [("stale", 1, "2026-03-05T10:00:00+00:00", "open")]
    assert [str(p) for p in first.fired[0].notified] == ["owner ann"]
    assert first.fired[0].message == "Move it"
    for _ in range(3):
        assert sweep(database, sla, now=at(5, 11)).fired == []


def test_catch_up_stamps_the_due_time_and_fires_every_missed_level(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """After downtime one sweep fires all three levels, each stamped when it was due."""
    report = sweep(database, sla, now=at(12))
    assert fired_keys(report) == [
        ("stale", 1, "2026-03-05T10:00:00+00:00", "open"),
        ("stale", 2, "2026-03-09T10:00:00+00:00", "open"),
        ("stale", 3, "2026-03-11T10:00:00+00:00", "open"),
    ]
    assert [str(p) for p in report.fired[1].notified] == ["manager bob"]


def test_levels_older_than_max_lateness_are_dropped_and_say_so(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """Ten days after they were due, levels 1 and 2 are dropped (recorded); level 3 fires."""
    report = sweep(database, sla, now=at(20))
    assert fired_keys(report) == [
        ("stale", 3, "2026-03-11T10:00:00+00:00", "open"),
        ("stale", 1, "2026-03-05T10:00:00+00:00", "dropped"),
        ("stale", 2, "2026-03-09T10:00:00+00:00", "dropped"),
    ]
    assert "max_lateness 10 days" in report.dropped[0].reason
    assert sweep(database, sla, now=at(21)).dropped == []


def test_leaving_the_stage_resolves_and_returning_starts_a_new_episode(
    database: Database, deal_store: DealStore, sla: Playbook, sales_engine: Any
) -> None:
    """The move resolves the open escalation; a later visit of the stage fires again."""
    sweep(database, sla, now=at(5, 11))
    deal = deal_store.get("D-1")
    with database.transaction(write=True) as session:  # a move recorded as the store would
        from playbook.store.models import Deal

        row = session.get(Deal, deal.id)
        assert row is not None
        row.stage, row.stage_entered_at = "offer", at(6, 9)
    report = sweep(database, sla, now=at(6, 10))
    assert report.resolved == 1
    [view] = list_escalations(database)
    assert (view.status, view.resolution) == ("resolved", "the deal left the stage")
    with database.transaction(write=True) as session:
        row = session.get(Deal, deal.id)
        assert row is not None
        row.stage, row.stage_entered_at = "lead", at(9, 9)
    assert fired_keys(sweep(database, sla, now=at(12, 10))) == [
        ("stale", 1, "2026-03-12T09:00:00+00:00", "open")
    ]


def test_an_acknowledged_escalation_stops_the_higher_levels(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """Once acked (with who and why), level 2 never fires for that episode."""
    first = sweep(database, sla, now=at(5, 11)).fired[0]
    assert first.id is not None
    view = acknowledge(database, first.id, actor="bob", reason="calling them", now=at(5, 12))
    assert (view.status, view.acked_by, view.ack_reason) == ("acked", "bob", "calling them")
    assert sweep(database, sla, now=at(20)).fired == []


def test_a_snoozed_rule_waits_for_the_snooze_to_expire(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """Level 2 (due 9 March) waits for the snooze until 10 March 15:00, then fires stamped so."""
    first = sweep(database, sla, now=at(5, 11)).fired[0]
    assert first.id is not None
    snooze(database, first.id, actor="ann", until=at(10, 15), reason="on leave", now=at(5, 12))
    assert sweep(database, sla, now=at(10, 14)).fired == []
    assert fired_keys(sweep(database, sla, now=at(10, 16))) == [
        ("stale", 2, "2026-03-10T15:00:00+00:00", "open")
    ]


def test_date_passed_fires_from_the_next_working_morning_and_warns_about_missing_values(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """close_on 2026-03-06 (a Friday) passes at the start of Saturday: fired Monday 09:00."""
    report = sweep(database, sla, now=at(9, 10))
    assert any("no 'close_on'" in warning for warning in report.warnings)
    deal = deal_store.get("D-1")
    deal_store.update_fields(
        deal, sla, {"close_on": "2026-03-06", "amount": "10"}, actor=REP, now=at(9, 10)
    )
    report = sweep(database, sla, now=at(9, 11))
    assert [k for k in fired_keys(report) if k[0] == "close_overdue"] == [
        ("close_overdue", 1, "2026-03-09T09:00:00+00:00", "open")
    ]
    assert report.fired[-1].trigger["value"] == "2026-03-06"


def test_a_condition_that_held_long_enough_fires_and_a_reset_starts_over(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """``hot`` held since the 10:00 sweep fires at 12:00; cleared, it resolves."""
    deal = deal_store.update_fields(
        deal_store.get("D-1"), sla, {"hot": True}, actor=REP, now=at(3, 9)
    )
    assert sweep(database, sla, now=at(3, 10)).fired == []
    assert [k[:2] for k in fired_keys(sweep(database, sla, now=at(3, 12)))] == [("hot_idle", 1)]
    deal_store.update_fields(deal, sla, {"hot": False}, actor=REP, now=at(3, 13))
    assert sweep(database, sla, now=at(3, 14)).resolved == 1


def test_dry_run_records_nothing(database: Database, deal_store: DealStore, sla: Playbook) -> None:
    """A dry run shows every level that would fire, then leaves the store untouched."""
    report = sweep(database, sla, now=at(12), dry_run=True)
    assert [k[1] for k in fired_keys(report)] == [1, 2, 3]
    assert list_escalations(database) == []


@dataclasses.dataclass
class FlakySink:
    """A sink that fails its first ``failures`` deliveries, then records what it sends."""

    failures: int
    name: str = "flaky"
    sent: list[Notification] = dataclasses.field(default_factory=list)

    def send(self, notification: Notification) -> None:
        """Fail while failures remain, else keep the notification."""
        if self.failures:
            self.failures -= 1
            raise NotificationError("HTTP 500 Internal Server Error")
        self.sent.append(notification)


def test_a_failed_delivery_is_retried_by_the_next_sweep_and_sent_once(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """The outbox keeps the failure (attempts, error); the next sweep delivers it, once."""
    sink = FlakySink(failures=1)
    report = sweep(database, sla, now=at(5, 11), sinks=[sink])
    assert (report.deliveries.sent, report.deliveries.failed) == (0, 1)
    assert "HTTP 500" in report.deliveries.errors[0]
    again = sweep(database, sla, now=at(5, 12), sinks=[sink])
    assert (again.fired, again.deliveries.sent, again.deliveries.pending) == ([], 1, 0)
    third = sweep(database, sla, now=at(5, 13), sinks=[sink])
    assert third.deliveries.sent == 0
    [sent] = sink.sent
    assert sent.escalation["rule"] == "stale"
    assert "owner ann" in sent.text


def test_a_calendar_without_working_days_is_a_clear_error(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """No weekday and no make-up day: the sweep refuses with PB701 before touching anything."""
    broken = dataclasses.replace(sla, calendar=Calendar(weekdays=frozenset()))
    with pytest.raises(CalendarError, match="no working day"):
        sweep(database, broken, now=at(12))
    assert list_escalations(database) == []


def test_now_before_the_deal_was_created_fires_nothing_and_says_why(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """A --now before the deal existed records nothing and explains it."""
    report = sweep(database, sla, now=START - timedelta(days=30), explain_future=True)
    assert report.fired == []
    assert any("created after" in warning for warning in report.warnings)


_INSERT_ESCALATION = re.compile(r"\s*INSERT INTO (\w+\.)?playbook_escalations\b", re.IGNORECASE)


@pytest.fixture
def dropping(database: Database) -> Iterator[list[int]]:
    """Break the connection at the Nth INSERT into escalations (N set by the test)."""
    countdown: list[int] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if countdown and _INSERT_ESCALATION.match(statement):
            countdown[0] -= 1
            if countdown[0] == 0:
                dbapi = conn.dialect.loaded_dbapi
                raise dbapi.OperationalError("server closed the connection unexpectedly")

    event.listen(database.engine, "before_cursor_execute", before)
    yield countdown
    event.remove(database.engine, "before_cursor_execute", before)


def test_a_connection_dropped_mid_sweep_loses_nothing_and_fires_nothing_twice(
    database: Database, deal_store: DealStore, sla: Playbook, dropping: list[int]
) -> None:
    """The sweep fails with PB603; the next one records each level exactly once."""
    for n in range(2, 6):
        deal_store.add_deal(sla, actor=REP, now=START, external_id=f"D-{n}", owner="ann")
    dropping.append(2)  # level 1 is inserted, level 2's insert breaks the connection
    with pytest.raises(DatabaseUnavailableError, match=r"run the sweep again"):
        sweep(database, sla, now=at(12))
    assert list_escalations(database) == []  # the rule's transaction was rolled back whole
    report = sweep(database, sla, now=at(12))
    keys = [(v.deal, v.rule, v.level) for v in list_escalations(database)]
    assert len(report.fired) == len(keys) == len(set(keys)) == 15


def test_the_cli_sweeps_lists_acks_and_snoozes(
    database: Database,
    deal_store: DealStore,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """sweep (text), escalations list/ack/snooze: exit 0, who and why recorded and shown."""
    from playbook.cli import main

    path = tmp_path / "sla.yaml"
    path.write_text(SLA_PLAYBOOK, encoding="utf-8")
    url = database.engine.url.render_as_string(hide_password=False)
    sweep_args = ["sweep", "--playbook", str(path), "--db", url, "--now", "2026-03-05T11:00Z"]
    assert main([*sweep_args, "--sink", "console"]) == 0
    out = capsys.readouterr().out
    assert "1 fired" in out
    assert "fired deal D-1 stale level 1 at 2026-03-05 10:00 +00:00" in out
    assert "notify owner ann" in out
    [view] = list_escalations(database)
    common = ["--db", url, "--actor", "bob", "--as", "executive", "--now", "2026-03-05T12:00Z"]
    assert main(["escalations", "ack", str(view.id), "--reason", "on it", *common]) == 1
    assert "PB530" in capsys.readouterr().err  # bob is not told (owner ann) nor a supervisor
    owner = ["--db", url, "--actor", "ann", "--as", "executive", "--now", "2026-03-05T12:00Z"]
    assert main(["escalations", "ack", str(view.id), "--reason", "on it", *owner]) == 0
    until = ["--until", "2d", "--reason", "trade fair"]
    assert main(["escalations", "snooze", str(view.id), *until, *owner]) == 0
    capsys.readouterr()
    assert main(["audit", "--db", url, "--format", "json"]) == 0
    [refused] = json.loads(capsys.readouterr().out)
    assert (refused["actor"], refused["action"], refused["code"]) == ("bob", "ack", "PB530")
    assert main(["escalations", "list", "--db", url, "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["escalations", "list", "--db", url]) == 0
    listed = capsys.readouterr().out
    assert "acked by ann: on it" in listed
    assert "snoozed until 2026-03-07 12:00 +00:00" in listed
    assert main(["escalations", "ack", "999", "--reason", "x", *owner]) == 2
    assert "PB703" in capsys.readouterr().err


def test_sinks_declared_in_the_playbook_deliver_and_the_command_line_replaces_them(
    database: Database,
    deal_store: DealStore,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`notifications:` sinks deliver with ${VAR} from the environment; --sink NAME wins."""
    from playbook.cli import main

    declared = tmp_path / "declared.jsonl"
    replaced = tmp_path / "replaced.jsonl"
    path = tmp_path / "sla.yaml"
    path.write_text(
        SLA_PLAYBOOK + "notifications:\n  audit: jsonl:${PLAYBOOK_SINK_AUDIT_FILE}\n",
        encoding="utf-8",
    )
    url = database.engine.url.render_as_string(hide_password=False)
    sweep_args = ["sweep", "--playbook", str(path), "--db", url]
    monkeypatch.setenv("PLAYBOOK_JSONL_DIR", str(tmp_path))

    monkeypatch.delenv("PLAYBOOK_SINK_AUDIT_FILE", raising=False)
    assert main([*sweep_args, "--now", "2026-03-05T11:00Z", "--dry-run"]) == 0  # sends nothing
    assert main([*sweep_args, "--now", "2026-03-05T11:00Z", "--dry-run", "--sink", "sms"]) == 2
    assert "unknown sink 'sms'" in capsys.readouterr().err  # --sink is read all the same
    assert main([*sweep_args, "--now", "2026-03-05T11:00Z"]) == 2
    err = capsys.readouterr().err
    assert "sink 'audit' needs the environment variable PLAYBOOK_SINK_AUDIT_FILE" in err
    assert list_escalations(database) == []  # refused before anything was recorded

    monkeypatch.setenv("PLAYBOOK_SINK_AUDIT_FILE", declared.name)  # in PLAYBOOK_JSONL_DIR
    assert main([*sweep_args, "--now", "2026-03-05T11:00Z"]) == 0
    [line] = declared.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["escalation"]["rule"] == "stale"

    override = ["--sink", f"audit=jsonl:{replaced}", "--now", "2026-03-09T11:00Z"]
    assert main([*sweep_args, *override]) == 0  # level 2 is due by then
    assert len(declared.read_text(encoding="utf-8").splitlines()) == 1
    [line] = replaced.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["escalation"]["level"] == 2


def _add_deal_at_0002(database: Database, sla: Playbook) -> None:
    """The deal ``OLD`` (owner ann, in the first stage since START), written with the columns
    revision 0002 has: the head models know later columns (``fields_set_at``, 0006)."""

    sqlite = database.engine.dialect.name == "sqlite"  # UTC wall time, as UtcDateTime stores it
    row = {
        "pid": sla.id,
        "stage": sla.first_stage.id,
        "at": START.replace(tzinfo=None) if sqlite else START,
    }
    with database.engine.begin() as connection:
        deal_id = connection.execute(
            text(
                "INSERT INTO deals (external_id, playbook_id, playbook_version, stage, owner, "
                "fields, actions, created_at, updated_at, updated_by, stage_entered_at, "
                "last_activity_at, version) VALUES ('OLD', :pid, 1, :stage, 'ann', '{}', '{}', "
                ":at, :at, 'ann', :at, :at, 1) RETURNING id"
            ),
            row,
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO stage_changes (deal_id, from_stage, to_stage, actor, actor_roles, "
                "at, playbook_version, deal_version, source) "
                "VALUES (:deal, NULL, :stage, 'ann', '[]', :at, 1, 1, 'live')"
            ),
            {**row, "deal": deal_id},
        )


def test_upgrading_a_store_from_the_previous_revision_keeps_deals_and_enables_sweeps(
    db_url: str, sla: Playbook
) -> None:
    """A store at 0002 with a deal, upgraded to head: the new tables appear and the deal fires."""
    from playbook.store.db import HEAD_REVISION, open_database
    from playbook.store.schema import upgrade

    database = open_database(db_url, check_schema=False)
    try:
        assert upgrade(database, "0002") == (None, "0002")
        _add_deal_at_0002(database, sla)
        assert upgrade(database)[1] == HEAD_REVISION
        report = sweep(database, sla, now=at(5, 11))
        assert [(item.deal, item.level) for item in report.fired] == [("OLD", 1)]
    finally:
        database.dispose()


def test_a_level_notifying_a_role_names_the_people_holding_it(
    database: Database, deal_store: DealStore, sla: Playbook
) -> None:
    """The executive level names every person holding `executive` in the people table."""
    with database.transaction(write=True) as session:
        session.add(Person(name="zed", roles=["executive"], updated_at=START))
        session.add(Person(name="eve", roles=["executive", "rep"], updated_at=START))
        session.add(Person(name="kim", roles=["rep"], updated_at=START))
    report = sweep(database, sla, now=at(12))
    assert [str(p) for p in report.fired[2].notified] == ["executive eve", "executive zed"]
    assert [str(p) for p in report.fired[1].notified] == ["manager bob"]
