"""Issue #12: per-member targets, and every figure of a report as of one instant.

Deals, stage changes, activities, people and escalations are inserted
straight into the tables with explicit times; the expected figures are
computed here, in plain Python, from the rows inserted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from playbook.cli import cli
from playbook.definition.files import playbook_from_text
from playbook.kpi.charts import dashboard
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import parse_period
from playbook.model import Playbook
from playbook.render.kpi_formats import render_kpis
from playbook.store.db import Database
from playbook.store.escalation_models import EscalationRecord
from playbook.store.models import Activity, Deal, Person, StageChange

PLAYBOOK = """\
playbook: team-leads
version: 1
title: {en: Team leads, zh: 团队线索}
fields:
  amount: {type: decimal, min: 0}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}}
  - {id: qualified, title: {en: Qualified, zh: 合格}}
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
  - {id: lost, title: {en: Lost, zh: 输单}, outcome: lost}
kpis:
  - id: new_leads
    title: {en: New leads per rep, zh: 人均新增线索}
    metric: stage_entries
    stage: lead
    period: quarter
    target: {min: 20}
    per: owner
  - id: calls
    metric: activity_count
    activity: call
    period: quarter
    target: {min: 1}
"""

Q4_START = datetime(2017, 10, 1, tzinfo=UTC)
Q4_END = datetime(2018, 1, 1, tzinfo=UTC)
TEAMS = {
    "east": [f"east{i}" for i in range(10)],
    "west": [f"west{i}" for i in range(10)],
}
# Leads per rep in the quarter: east adds up to 85 (east9 has none), west to 230.
LEADS = {
    **dict(zip(TEAMS["east"], [15, 12, 10, 10, 9, 9, 8, 7, 5, 0], strict=True)),
    **dict.fromkeys(TEAMS["west"], 23),
}


@pytest.fixture
def playbook() -> Playbook:
    """The playbook of these tests."""
    return playbook_from_text(PLAYBOOK, "team-leads.yaml")


def _deal(connection: Any, number: int, owner: str, history: list[tuple[str, datetime]]) -> int:
    """Insert one deal with its stage changes (versions 1, 2, …); returns its id."""
    deal_id: int = connection.execute(
        insert(Deal).returning(Deal.id),
        {
            "external_id": f"D{number}",
            "playbook_id": "team-leads",
            "playbook_version": 1,
            "stage": history[-1][0],
            "owner": owner,
            "team": None,
            "manager": None,
            "region": None,
            "fields": {"amount": "100"},
            "actions": {},
            "created_at": history[0][1],
            "updated_at": history[-1][1],
            "updated_by": "test",
            "stage_entered_at": history[-1][1],
            "last_activity_at": history[-1][1],
            "closed_at": None,
            "version": len(history),
        },
    ).scalar_one()
    previous = None
    for version, (stage, at) in enumerate(history, start=1):
        connection.execute(
            insert(StageChange),
            {
                "deal_id": deal_id,
                "from_stage": previous,
                "to_stage": stage,
                "actor": "test",
                "actor_roles": [],
                "at": at,
                "override_reason": None,
                "playbook_version": 1,
                "deal_version": version,
                "source": "live",
            },
        )
        previous = stage
    return deal_id


def _activity(connection: Any, deal_id: int, at: datetime, version: int) -> None:
    connection.execute(
        insert(Activity),
        {
            "deal_id": deal_id,
            "kind": "call",
            "actor": "test",
            "at": at,
            "note": None,
            "stage": "lead",
            "action_id": None,
            "evidence": None,
            "deal_version": version,
        },
    )


def _escalation(
    connection: Any, deal_id: int, level: int, fired: datetime, resolved: datetime | None
) -> None:
    connection.execute(
        insert(EscalationRecord),
        {
            "deal_id": deal_id,
            "playbook_id": "team-leads",
            "rule": "stale",
            "level": level,
            "episode": "e1",
            "stage": "lead",
            "anchor_at": fired,
            "fired_at": fired,
            "swept_at": fired,
            "status": "open" if resolved is None else "resolved",
            "reason": "no follow-up",
            "trigger": {},
            "notified": [],
            "resolved_at": resolved,
        },
    )


@pytest.fixture
def team_store(database: Database) -> Database:
    """20 reps in two teams (people rows) and their leads of 2017-Q4, a day apart."""
    people = [
        {"name": rep, "team": team, "manager": None, "region": None, "updated_at": Q4_START}
        for team, reps in TEAMS.items()
        for rep in reps
    ]
    number = 0
    with database.engine.begin() as connection:
        connection.execute(insert(Person), people)
        for rep, count in LEADS.items():
            for day in range(count):
                number += 1
                _deal(connection, number, rep, [("lead", Q4_START + timedelta(days=day, hours=3))])
        # A lead entered after the quarter: not one of its leads.
        _deal(connection, number + 1, "east0", [("lead", Q4_END + timedelta(hours=1))])
    return database


def _expected_by_team() -> dict[str, tuple[int, int, float]]:
    """(total, members, per member) of each team, from the rows inserted."""
    found = {}
    for team, reps in TEAMS.items():
        total = sum(LEADS[rep] for rep in reps)
        found[team] = (total, len(reps), total / len(reps))
    return found


def test_per_member_target_judges_the_figure_per_member(
    team_store: Database, playbook: Playbook
) -> None:
    """A 10-rep team with 85 leads against 20 per rep is missed at 8.5 per member; 230 leads
    (23 per rep) is met. The total stays next to the per-member figure."""
    report = compute_kpis(
        team_store,
        playbook,
        parse_period("2017-Q4"),
        now=Q4_END,
        by=["team"],
        kpi_ids=["new_leads"],
    )
    expected = _expected_by_team()
    assert expected["east"] == (85, 10, 8.5)
    got = {r.group["team"]: (r.value, r.members, r.per_member, r.status) for r in report.results}
    assert got == {
        team: (total, members, per, "met" if per >= 20 else "missed")
        for team, (total, members, per) in expected.items()
    }
    east = next(r for r in report.results if r.group["team"] == "east")
    assert east.gap == pytest.approx(8.5 - 20)
    assert east.to_dict()["per_member"] == 8.5
    assert east.to_dict()["members"] == 10


def test_per_member_target_over_the_whole_company(team_store: Database, playbook: Playbook) -> None:
    """`--by all`: every lead of the quarter over every rep declared."""
    report = compute_kpis(
        team_store, playbook, parse_period("2017-Q4"), now=Q4_END, by=(), kpi_ids=["new_leads"]
    )
    total = sum(LEADS.values())
    reps = sum(len(reps) for reps in TEAMS.values())
    (result,) = report.results
    assert (result.value, result.members) == (total, reps)
    assert result.per_member == pytest.approx(total / reps)
    assert result.status == ("met" if total / reps >= 20 else "missed")


def test_per_member_target_by_owner_is_the_owners_figure(
    team_store: Database, playbook: Playbook
) -> None:
    """Grouped by owner, each rep is one member: the figure is judged as it is."""
    report = compute_kpis(
        team_store,
        playbook,
        parse_period("2017-Q4"),
        now=Q4_END,
        by=["owner"],
        kpi_ids=["new_leads"],
    )
    got = {r.group["owner"]: (r.value, r.per_member, r.status) for r in report.results}
    for rep, count in LEADS.items():
        if count:
            assert got[rep] == (count, count, "met" if count >= 20 else "missed")


def test_per_member_figures_in_table_json_csv_and_html(
    team_store: Database, playbook: Playbook, db_url: str, tmp_path: Path
) -> None:
    """The CLI's table says 8.5 per member and missed for east; JSON and CSV carry the
    members and the per-member figure; the HTML card shows them too."""
    runner = CliRunner()
    source = tmp_path / "team-leads.yaml"
    source.write_text(PLAYBOOK, encoding="utf-8")
    base = ["kpi", "--playbook", str(source), "--db", db_url, "--period", "2017-Q4"]
    base += ["--now", "2018-02-01T00:00:00Z", "--kpi", "new_leads", "--by", "team"]
    table = runner.invoke(cli, [*base, "--lang", "en"])
    assert table.exit_code == 0, table.output
    east = next(line for line in table.output.splitlines() if "team=east" in line)
    assert "85 · 8.50 per member (10)" in east
    assert "≥ 20 per member" in east
    assert "missed" in east
    assert "as of 2018-01-01 00:00 UTC" in table.output
    chinese = runner.invoke(cli, [*base, "--lang", "zh"])
    assert "人均 8.50（10 人）" in chinese.output
    assert "截至 2018-01-01 00:00 UTC" in chinese.output
    data = json.loads(runner.invoke(cli, [*base, "--format", "json"]).output)
    east_json = next(k for k in data["kpis"] if k["group"] == {"team": "east"})
    assert (east_json["members"], east_json["per_member"], east_json["status"]) == (
        10,
        8.5,
        "missed",
    )
    assert data["as_of"] == "2018-01-01T00:00:00+00:00"
    csv_text = runner.invoke(cli, [*base, "--format", "csv"]).output
    header, *rows = csv_text.splitlines()
    assert "members,per_member" in header
    assert any(
        row.startswith("new_leads,") and ",east," in row and ",10,8.5," in row for row in rows
    )
    html = runner.invoke(cli, [*base, "--format", "html", "--lang", "en"]).output
    assert "8.50 per member (10)" in html
    assert "as of 2018-01-01 00:00 UTC" in html


# --- one instant ------------------------------------------------------------------------------


def test_stuck_deals_and_figures_are_as_of_the_period_end(
    database: Database, playbook: Playbook
) -> None:
    """A follow-up after the quarter does not reset the days since the last follow-up, an
    escalation fired after it is not counted, and a move after it leaves the deal in the
    stage it was in at the end."""
    created = datetime(2017, 11, 1, tzinfo=UTC)
    call = datetime(2017, 11, 20, tzinfo=UTC)
    later_call = datetime(2018, 1, 10, tzinfo=UTC)
    moved = datetime(2018, 1, 5, tzinfo=UTC)
    with database.engine.begin() as connection:
        deal_id = _deal(connection, 1, "east0", [("lead", created), ("qualified", moved)])
        _activity(connection, deal_id, call, 3)
        _activity(connection, deal_id, later_call, 4)
        # Open at the end (resolved after it), and fired after it: only the first counts.
        _escalation(connection, deal_id, 1, datetime(2017, 12, 15, tzinfo=UTC), moved)
        _escalation(connection, deal_id, 2, datetime(2018, 1, 8, tzinfo=UTC), None)
    now = datetime(2018, 2, 1, tzinfo=UTC)
    report = compute_kpis(database, playbook, parse_period("2017-Q4"), now=now, by=())
    assert report.as_of == Q4_END
    charts = dashboard(database, report)
    (stuck,) = charts.stuck
    assert stuck.stage.id == "lead"
    assert stuck.days_in_stage == pytest.approx((Q4_END - created).total_seconds() / 86400)
    assert stuck.days_since_activity == pytest.approx((Q4_END - call).total_seconds() / 86400)
    assert stuck.escalations == 1
    calls = next(r for r in report.results if r.kpi.id == "calls")
    assert calls.value == sum(1 for at in (call, later_call) if Q4_START <= at < Q4_END)
    html = render_kpis(report, "html", lang="zh", dashboard=charts)
    assert "截至 2018-01-01 00:00 UTC" in html


def test_running_period_is_measured_as_of_now(database: Database, playbook: Playbook) -> None:
    """Inside a running period, `now` is the instant: a call logged after it does not count,
    nor a lead entered after it."""
    now = datetime(2018, 1, 8, tzinfo=UTC)
    times = [datetime(2018, 1, 3, tzinfo=UTC), datetime(2018, 1, 10, tzinfo=UTC)]
    with database.engine.begin() as connection:
        first = _deal(connection, 1, "east0", [("lead", times[0])])
        _deal(connection, 2, "east0", [("lead", times[1])])
        for version, at in enumerate(times, start=2):
            _activity(connection, first, at, version)
    report = compute_kpis(database, playbook, parse_period("2018-Q1"), now=now, by=())
    assert report.as_of == now
    figures = {r.kpi.id: r.value for r in report.results}
    assert figures == {"new_leads": sum(1 for at in times if at < now), "calls": 1}
    stuck = dashboard(database, report).stuck
    assert [item.deal.ref for item in stuck] == ["D1"]
    assert stuck[0].days_since_activity == pytest.approx((now - times[0]).total_seconds() / 86400)


def test_by_owner_table_has_team_subtotals(
    team_store: Database, playbook: Playbook, db_url: str, tmp_path: Path
) -> None:
    """Grouped by owner, the table lists each team's reps, then the team's subtotal: its total
    and per-member figure, judged per member."""
    source = tmp_path / "team-leads.yaml"
    source.write_text(PLAYBOOK, encoding="utf-8")
    args = ["kpi", "--playbook", str(source), "--db", db_url, "--period", "2017-Q4"]
    args += ["--now", "2018-02-01T00:00:00Z", "--kpi", "new_leads", "--by", "owner"]
    result = CliRunner().invoke(cli, [*args, "--lang", "en"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    expected = _expected_by_team()
    position = 0
    for team, reps in sorted(TEAMS.items()):
        with_leads = [rep for rep in reps if LEADS[rep]]
        found = [
            i for i, line in enumerate(lines) if any(f"owner={r} " in line for r in with_leads)
        ]
        subtotal = next(i for i, line in enumerate(lines) if f"team={team} · subtotal" in line)
        # Every rep of the team comes before its subtotal, and after the previous team's.
        assert position <= min(found)
        assert max(found) < subtotal
        position = subtotal
        total, members, per = expected[team]
        shown = f"{per:.0f}" if per.is_integer() else f"{per:.2f}"
        assert f"{total} · {shown} per member ({members})" in lines[subtotal]
        assert ("met" if per >= 20 else "missed") in lines[subtotal]
