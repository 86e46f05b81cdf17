"""``playbook kpi`` and ``playbook review`` end to end, on SQLite and PostgreSQL.

Deals are created and moved through the engine (the store records the real
history), then the commands run through click with their real output.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from playbook import services
from playbook.cli import cli
from playbook.definition.files import playbook_from_text
from playbook.runtime.engine import Engine
from playbook.store.db import Database
from playbook.store.repository import DealStore
from playbook.values import Actor

PLAYBOOK = """\
playbook: cli-kpi
version: 1
title: {en: Team sales, zh: 团队销售}
language: zh
currency: CNY
roles:
  rep: {title: {en: Rep, zh: 销售}}
fields:
  amount: {type: decimal, min: 0}
  tier: {type: enum, values: [key, normal]}
  score: {type: number}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}, probability: 0.1}
  - id: offer
    title: {en: Offer, zh: 报价}
    probability: 0.5
    entry: ["amount > 0"]
    actions:
      - {id: send_offer, title: {en: Send the offer, zh: 发送报价}, role: rep}
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
  - {id: lost, title: {en: Lost, zh: 输单}, outcome: lost}
kpis:
  - id: win_rate
    title: {en: Win rate, zh: 赢单率}
    metric: win_rate
    target: {min: 0.5}
    period: quarter
    by: [owner]
  - id: won_value
    title: {en: Won value, zh: 赢单金额}
    metric: won_value
    field: amount
    target: {min: 1000}
    period: month
  - id: calls
    metric: activity_count
    activity: call
    by: [owner]
  - id: mean_score
    metric: field_aggregate
    field: score
    aggregate: mean
"""

START = datetime(2017, 12, 4, 9, tzinfo=UTC)  # Monday of 2017-W49
REP = Actor("rep", frozenset({"rep"}))


@pytest.fixture
def filled(database: Database, db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Five deals of two reps: won, lost, open in offer, open in lead (idle), reopened."""
    path = tmp_path / "cli-kpi.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    playbook = playbook_from_text(PLAYBOOK, str(path))
    engine = Engine(playbook)
    store = DealStore(database)
    store.register_playbook(playbook, PLAYBOOK, path=str(path), now=START)
    plan = [
        ("D1", "王芳", "key", ["offer", "won"], 800),
        ("D2", "王芳", "normal", ["offer", "lost"], 300),
        ("D3", "王芳", "key", ["offer"], 500),
        ("D4", "Li", "normal", [], 0),
        ("D5", "Li", "normal", ["offer", "won"], 2000),
    ]
    for number, (ref, owner, tier, path_, amount) in enumerate(plan):
        at = START + timedelta(hours=number)
        fields = {"tier": tier, "amount": amount} if amount else {"tier": tier}
        store.add_deal(playbook, actor=REP, now=at, fields=fields, external_id=ref, owner=owner)
        for step, stage in enumerate(path_):
            if stage in ("won", "lost"):
                services.complete_action(
                    store,
                    ref,
                    "send_offer",
                    engine=engine,
                    actor=REP,
                    now=at + timedelta(days=step),
                )
            services.advance(
                store, ref, stage, engine=engine, actor=REP, now=at + timedelta(days=step + 1)
            )
        if ref in ("D1", "D3", "D4"):
            store.log_activity(ref, "call", actor=owner, now=at + timedelta(days=1, hours=2))
    return {"url": db_url, "path": str(path), "playbook": playbook}


def run(*args: str) -> tuple[int, str, str]:
    """Run the CLI; (exit code, stdout, stderr)."""
    runner = CliRunner()
    result = runner.invoke(cli, list(args), standalone_mode=False, catch_exceptions=True)
    code = result.return_value if isinstance(result.return_value, int) else 0
    if result.exception is not None:
        from playbook.errors import PlaybookError

        exc = result.exception
        if isinstance(exc, PlaybookError):
            return exc.exit_code, result.stdout, str(exc)
        import click

        if isinstance(exc, click.ClickException):
            return exc.exit_code, result.stdout, exc.format_message()
        raise exc
    return code, result.stdout, result.stderr


def _kpi(filled: dict[str, Any], *extra: str) -> tuple[int, str, str]:
    return run(
        "kpi",
        "--playbook",
        filled["path"],
        "--db",
        filled["url"],
        "--now",
        "2017-12-20T00:00:00+00:00",
        *extra,
    )


def test_json_has_the_documented_shape(filled: dict[str, Any]) -> None:
    """JSON: period, and per KPI and group its id, group, value, target, status and n;
    a group with no closed deal has a null win rate (no data), never 0."""
    code, out, _ = _kpi(filled, "--period", "2017-12", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["period"]["label"] == "2017-12"
    rates = {k["group"]["owner"]: k for k in data["kpis"] if k["id"] == "win_rate"}
    assert rates["王芳"]["value"] == 0.5
    assert rates["王芳"]["n"] == 2
    assert rates["王芳"]["status"] == "met"
    assert rates["Li"]["value"] == 1
    assert rates["Li"]["target"] == {"min": 0.5}
    won = next(k for k in data["kpis"] if k["id"] == "won_value")
    assert (won["group"], won["value"], won["n"]) == ({}, 2800, 2)
    assert won["status"] == "met"
    score = next(k for k in data["kpis"] if k["id"] == "mean_score")
    assert (score["value"], score["status"]) == (None, None)
    assert any("score" in note for note in data["notes"])


@pytest.mark.parametrize(
    ("args", "owners"),
    [
        (("--by", "owner"), {"王芳", "Li"}),
        (("--by", "tier"), {"key", "normal"}),
        (("--by", "all"), {None}),
    ],
)
def test_by_regroups_every_kpi(
    filled: dict[str, Any], args: tuple[str, ...], owners: set[Any]
) -> None:
    """``--by`` replaces each KPI's own grouping; ``--by all`` gives overall figures."""
    code, out, _ = _kpi(filled, "--period", "2017-Q4", "--format", "json", *args)
    assert code == 0
    groups = {next(iter(k["group"].values()), None) for k in json.loads(out)["kpis"]}
    assert groups == owners


def test_a_group_with_no_closed_deal_is_no_data(filled: dict[str, Any]) -> None:
    """Reps who logged calls but closed nothing in the period: their win rate is null with
    status no_data (not 0, not a division error); an empty period gives one no-data line."""
    code, out, _ = _kpi(
        filled, "--from", "2017-12-04", "--to", "2017-12-05", "--by", "owner", "--format", "json"
    )
    assert code == 0
    rates = [k for k in json.loads(out)["kpis"] if k["id"] == "win_rate"]
    assert rates[0] == {
        "id": "win_rate",
        "metric": "win_rate",
        "unit": "ratio",
        "group": {"owner": "Li"},
        "value": None,
        "target": {"min": 0.5},
        "gap": None,
        "status": "no_data",
        "n": 0,
        "title": "赢单率",
    }
    assert [k["group"]["owner"] for k in rates] == ["Li", "王芳"]
    code, out, _ = _kpi(filled, "--period", "2016-Q1", "--by", "owner", "--format", "json")
    rates = [k for k in json.loads(out)["kpis"] if k["id"] == "win_rate"]
    assert [(k["value"], k["status"], k["n"]) for k in rates] == [(None, "no_data", 0)]


def test_table_is_plain_when_piped_and_in_the_playbook_language(filled: dict[str, Any]) -> None:
    """The table uses the playbook's language (zh) and no colour codes when not on a terminal."""
    code, out, _ = _kpi(filled, "--period", "2017-12")
    assert code == 0
    assert "赢单率" in out
    assert "达成" in out
    assert "\033[" not in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("指标"))
    assert "状态" in header


def test_csv_has_a_column_per_grouping(filled: dict[str, Any]) -> None:
    """CSV: one row per KPI and group, with the grouping key as a column."""
    code, out, _ = _kpi(filled, "--period", "2017-12", "--format", "csv", "--lang", "en")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split(",")[:5] == ["kpi", "title", "metric", "unit", "owner"]
    assert any(row.startswith("win_rate,Win rate,win_rate,ratio,王芳,0.5,") for row in rows)


def test_check_exits_1_when_a_kpi_is_behind(filled: dict[str, Any]) -> None:
    """``--check`` turns a missed or at-risk KPI into exit code 1."""
    code, _, _ = _kpi(filled, "--period", "2017-11", "--check")
    assert code == 1
    code, _, _ = _kpi(filled, "--period", "2017-12", "--kpi", "win_rate", "--check")
    assert code == 0


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--period", "2017-Q5"), 2, "PB801"),
        (("--period", "last quarter"), 2, "is not a period"),
        (("--period", "2017-W54"), 2, "PB801"),
        (("--from", "2017-12-31", "--to", "2017-01-01"), 2, "before it starts"),
        (("--from", "2017-13-01", "--to", "2017-12-31"), 2, "is not a date"),
        (("--from", "2017-01-01"), 2, "go together"),
        (("--period", "2017", "--from", "2017-01-01", "--to", "2017-02-01"), 2, "not both"),
        (("--by", "regional_office"), 2, "PB802"),
        (("--by", "amount"), 2, "decimal field"),
        (("--kpi", "nope"), 2, "has no KPI 'nope'"),
    ],
)
def test_bad_input_is_refused_clearly(
    filled: dict[str, Any], args: tuple[str, ...], code: int, words: str
) -> None:
    """Bad periods, groupings and KPI ids exit 2 with a message that says what to write."""
    got, _, err = _kpi(filled, *args)
    assert got == code
    assert words in err


def test_a_store_without_dates_says_so(database: Database, db_url: str, tmp_path: Path) -> None:
    """Deals imported without dates all carry the import time: the report says there is no
    history to measure instead of printing zeros silently."""
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping

    path = tmp_path / "cli-kpi.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    csv_file = tmp_path / "deals.csv"
    csv_file.write_text("id,stage,owner\nA,won,x\nB,lost,y\nC,offer,x\n", encoding="utf-8")
    playbook = playbook_from_text(PLAYBOOK, str(path))
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text("external_id: id\nowner: owner\nstage: {column: stage}\n")
    mapping = read_mapping(mapping_file)
    import_deals(DealStore(database), playbook, csv_file, mapping=mapping, now=START)
    code, out, _ = run(
        "kpi", "--playbook", str(path), "--db", db_url, "--period", "2016", "--format", "json"
    )
    assert code == 0
    notes = json.loads(out)["notes"]
    assert any("imported without dates" in note for note in notes)


def test_review_lists_the_reps_deals(filled: dict[str, Any]) -> None:
    """The weekly review of one rep: open deals with days in stage, the week's activity, what
    is missing for the next stage (completed actions count as activity); closed deals too."""
    code, out, _ = run(
        "review",
        "--owner",
        "王芳",
        "--week",
        "2017-W49",
        "--db",
        filled["url"],
        "--now",
        "2017-12-20T00:00:00+00:00",
        "--format",
        "json",
        "--lang",
        "en",
    )
    assert code == 0
    data = json.loads(out)
    deals = {d["deal"]: d for d in data["deals"]}
    assert set(deals) == {"D1", "D2", "D3"}
    assert deals["D3"]["stage"] == "offer"
    assert deals["D3"]["activities"] == {"call": 1}
    assert deals["D3"]["missing"] == ["Send the offer"]
    assert deals["D1"]["outcome"] == "won"
    assert [m["to"] for m in deals["D1"]["moves"]] == ["offer", "won"]
    assert data["summary"] == {
        "open": 1,
        "moved": 3,
        "won": 1,
        "lost": 1,
        "idle": 0,
        "activities": 4,
        "escalations": 0,
    }


def test_review_text_and_bad_week(filled: dict[str, Any]) -> None:
    """The text review is in the playbook's language; a week that is not an ISO week exits 2."""
    code, out, _ = run(
        "review",
        "--owner",
        "Li",
        "--week",
        "2017-W49",
        "--db",
        filled["url"],
        "--now",
        "2017-12-20T00:00:00+00:00",
    )
    assert code == 0
    assert "D4" in out
    assert "线索" in out
    assert "本周" in out
    code, _, err = run("review", "--owner", "Li", "--week", "2017-12", "--db", filled["url"])
    assert code == 2
    assert "ISO week" in err
    code, _, err = run("review", "--db", filled["url"])
    assert code == 2
    assert "--owner" in err
