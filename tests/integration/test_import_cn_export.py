"""A Chinese team's CRM export, imported and re-imported, on SQLite and PostgreSQL.

``data/cn-export/export.csv`` (written by ``make_export.py`` there) has Chinese
column headers, two teams, dates in three spellings (``2026/3/5``,
``2026年3月5日``, Excel serial numbers), deals that skipped stages, and won deals
that moved on to after-sales. The KPIs computed from the store are compared
with figures computed below in plain Python from the raw CSV, following the
definitions of docs/kpis.md; nothing of the expected side reads the store.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from playbook.cli import cli
from playbook.definition.files import playbook_from_file
from playbook.errors import UnknownActivityKindError
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import parse_period
from playbook.store.db import Database
from playbook.store.models import Activity, Deal, StageChange
from playbook.store.repository import DealStore

DATA = Path(__file__).parent / "data" / "cn-export"
EXPORT = DATA / "export.csv"
ZONE = ZoneInfo("Asia/Shanghai")
NOW = "2026-12-01T00:00:00+08:00"
YEAR = (date(2026, 1, 1), date(2027, 1, 1))
STAGE_COLUMNS = {
    "lead": "创建日期",
    "qualified": "初步接触日期",
    "proposal": "方案报价日期",
    "negotiation": "商务谈判日期",
    "signed": "签约日期",
    "after_sales": "售后日期",
    "lost": "输单日期",
}
ORDER = list(STAGE_COLUMNS)
STAGES = dict(
    zip(
        ["线索", "初步接触", "方案报价", "商务谈判", "已签约", "售后服务", "输单"],
        ORDER,
        strict=True,
    )
)


# --- the expected figures, from the raw CSV ---------------------------------------------------


def _day(text: str) -> date | None:
    """A cell as a calendar day, read independently of the importer."""
    text = text.strip()
    if not text:
        return None
    for pattern in (r"(\d{4})/(\d{1,2})/(\d{1,2})", r"(\d{4})年(\d{1,2})月(\d{1,2})日"):
        found = re.fullmatch(pattern, text)
        if found:
            year, month, day = map(int, found.groups())
            return date(year, month, day)
    if text.isdigit():
        return date(1899, 12, 30) + timedelta(days=int(text))
    return date.fromisoformat(text[:10])


def _raw_rows() -> list[dict[str, str]]:
    with EXPORT.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _in_year(day: date | None) -> bool:
    return day is not None and YEAR[0] <= day < YEAR[1]


def _reach(target: str) -> list[str]:
    """``target`` and every later stage that is not lost (docs/kpis.md, conversion)."""
    return [stage for stage in ORDER[ORDER.index(target) :] if stage != "lost"]


def _expected() -> dict[tuple[str, str], float | None]:
    """Every KPI of data/cn-export/playbook.yaml for 2026, per team, from the raw CSV."""
    out: dict[tuple[str, str], float | None] = {}
    teams: dict[str, list[dict[str, date | None]]] = defaultdict(list)
    for row in _raw_rows():
        days = {stage: _day(row[column]) for stage, column in STAGE_COLUMNS.items()}
        current = STAGES[row["阶段"]]
        if days[current] is None:  # in the stage, date unknown: entered with the stage before
            days[current] = max(day for day in days.values() if day is not None)
        teams[row["团队"]].append(days)
    for team, deals in teams.items():
        for stage in ORDER:
            out[f"entries_{stage}", team] = sum(_in_year(deal[stage]) for deal in deals)
        # The close is the signing (also for deals now in after-sales) or the loss.
        won = [deal for deal in deals if _in_year(deal["signed"])]
        lost = [deal for deal in deals if deal["signed"] is None and _in_year(deal["lost"])]
        out["won_deals", team] = len(won)
        out["win_rate", team] = len(won) / (len(won) + len(lost)) if won or lost else None
        cycles = [(deal["signed"] - deal["lead"]).days for deal in won]  # type: ignore[operator]
        out["cycle", team] = sum(cycles) / len(cycles) if cycles else None
        for kpi, start, end in (
            ("lead_to_signed", "lead", "signed"),
            ("qualified_to_negotiation", "qualified", "negotiation"),
            ("proposal_to_signed", "proposal", "signed"),
        ):
            cohort = [deal for deal in deals if _in_year(deal[start])]
            converted = [d for d in cohort if any(d[stage] is not None for stage in _reach(end))]
            out[kpi, team] = len(converted) / len(cohort) if cohort else None
    return out


# --- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ran:
    exit_code: int
    output: str


def _run(url: str, *args: str) -> _Ran:
    """The command's exit code (as ``playbook`` exits) and its output, stderr included."""
    result = CliRunner().invoke(
        cli, [*args, "--db", url], catch_exceptions=False, standalone_mode=False
    )
    return _Ran(result.return_value, result.output)


def _import(url: str, mapping: Path, *extra: str, file: Path = EXPORT) -> _Ran:
    return _run(
        url,
        "deals",
        "import",
        str(file),
        "--playbook",
        str(DATA / "playbook.yaml"),
        "--mapping",
        str(mapping),
        "--now",
        NOW,
        "--format",
        "json",
        *extra,
    )


def _mapping(folder: Path, extra: str = "", **fields: str) -> Path:
    """The fixture's mapping with ``extra`` top-level lines and some field lines replaced."""
    text = (DATA / "mapping.yaml").read_text(encoding="utf-8")
    for key, line in fields.items():
        text, count = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {line}", text)
        assert count == 1, key
    path = folder / f"mapping-{len(list(folder.glob('mapping-*')))}.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def _counts(database: Database) -> tuple[int, ...]:
    with database.engine.connect() as connection:
        return tuple(
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (Deal, StageChange, Activity)
        )


def _local(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(UTC)


@pytest.fixture
def url(database: Database) -> str:
    """The URL of an empty, up-to-date store (SQLite file or PostgreSQL database)."""
    return database.engine.url.render_as_string(hide_password=False)


# --- tests -------------------------------------------------------------------------------------


def test_kpis_of_every_team_match_the_raw_export(url: str, database: Database) -> None:
    """Win rate, cycle time, the funnel and conversions per team equal the raw CSV's figures.

    Won deals now in after-sales count as signed at their 签约日期 (the close),
    skipped stages have no entry, and the last follow-up is a logged call.
    """
    result = _import(url, DATA / "mapping.yaml")
    assert result.exit_code == 0, result.output
    playbook, _ = playbook_from_file(DATA / "playbook.yaml")
    # After the year: KPIs are measured as of min(now, period end), and the export has
    # December dates that a report as of 2026-12-01 rightly leaves out.
    report = compute_kpis(
        database, playbook, parse_period("2026"), now=datetime(2027, 1, 2, tzinfo=UTC)
    )
    measured = {
        (r.kpi.id, str(r.group["team"])): r.value for r in report.results if r.kpi.id != "wechats"
    }
    expected = _expected()
    assert set(measured) == set(expected)
    for key, value in expected.items():
        assert measured[key] == (None if value is None else pytest.approx(value)), key
    raw = _raw_rows()
    signed = sum(_in_year(_day(row["签约日期"])) for row in raw)
    after = [row for row in raw if row["阶段"] == "售后服务"]
    assert after
    assert all(row["签约日期"] for row in after)
    assert sum(v for (k, _), v in measured.items() if k == "entries_signed") == signed  # type: ignore[misc]
    store = DealStore(database)
    for row in after:
        deal = store.get(row["商机编号"])
        assert deal.stage == "after_sales"
        assert deal.closed_at == _local(_day(row["签约日期"]))  # type: ignore[arg-type]
        assert deal.last_activity_at == _local(_day(row["最后跟进日期"]))  # type: ignore[arg-type]
        kinds = [entry.kind for entry in store.history(deal.id)]
        assert kinds.count("call") == 1


def test_a_reimport_keeps_values_entered_in_the_tool(
    url: str, database: Database, tmp_path: Path
) -> None:
    """Evidence from ``deals complete`` and values from ``deals set`` survive empty cells;
    ``on_empty: clear`` clears them, and a dry run of that says so and writes nothing."""
    assert _import(url, DATA / "mapping.yaml").exit_code == 0
    raw = {row["商机编号"]: row for row in _raw_rows()}
    talking = next(k for k, row in raw.items() if row["阶段"] == "商务谈判")
    early = next(k for k, row in raw.items() if row["阶段"] == "初步接触")
    assert raw[talking]["审批单号"] == ""
    assert raw[early]["合同金额"] == ""
    done = _run(
        url, "deals", "complete", talking, "pricing_approved", "--as", "manager",
        "--actor", "周经理", "--evidence", "SP-2026-118", "--now", NOW,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    edited = _run(
        url, "deals", "set", early, "amount=52,000", "notes=客户口头确认",
        "--reason", "电话确认预算", "--as", "陈静:rep", "--now", NOW,
    )  # fmt: skip
    assert edited.exit_code == 0, edited.output
    store = DealStore(database)
    entry = store.history(early)[-1]
    assert (entry.kind, entry.actor, entry.note) == ("fields", "陈静", "电话确认预算")

    again = _import(url, DATA / "mapping.yaml")
    assert again.exit_code == 0, again.output
    assert '"cleared": 0' in again.output
    assert store.get(talking).fields["approval_no"] == "SP-2026-118"
    assert store.get(talking).actions["pricing_approved"]["by"] == "周经理"
    assert store.get(early).fields["amount"] == "52000"

    clearing = _mapping(tmp_path, "on_empty: clear\n")
    before = _counts(database)
    dry = _import(url, clearing, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert '"dry_run": true' in dry.output
    assert '"cleared": 2' in dry.output
    assert _counts(database) == before
    assert store.get(talking).fields["approval_no"] == "SP-2026-118"

    cleared = _import(url, clearing)
    assert cleared.exit_code == 0, cleared.output
    assert '"cleared": 2' in cleared.output
    assert "approval_no" not in store.get(talking).fields
    assert "amount" not in store.get(early).fields
    assert store.get(early).fields["notes"] == "客户口头确认"  # not mapped: never touched


def test_the_tool_s_newer_value_wins_where_the_field_says_so(
    url: str, database: Database, tmp_path: Path
) -> None:
    """``keep_newer``: a value set in the tool after the row's 更新时间 stays; a row changed
    later in the CRM wins; a field without the rule takes the file's value."""
    mapping = _mapping(tmp_path, amount="{column: 合同金额, keep_newer: true}")
    assert _import(url, mapping).exit_code == 0
    raw = {row["商机编号"]: row for row in _raw_rows()}
    signed = next(k for k, row in raw.items() if row["阶段"] == "已签约")
    updated = datetime.fromisoformat(raw[signed]["更新时间"]).replace(tzinfo=ZONE)
    later = (updated + timedelta(days=3)).isoformat()
    edited = _run(
        url, "deals", "set", signed, "amount=400000", "approval_no=SP-NEW", "--reason", "补充协议",
        "--as", "王芳:rep", "--now", later,
    )  # fmt: skip
    assert edited.exit_code == 0, edited.output
    store = DealStore(database)

    again = _import(url, mapping)
    assert again.exit_code == 0, again.output
    assert '"kept": 1' in again.output, again.output
    deal = store.get(signed)
    assert deal.fields["amount"] == "400000"  # newer in the tool than the row
    assert deal.fields["approval_no"] == raw[signed]["审批单号"]  # no rule: the file's value

    changed = tmp_path / "export-later.csv"
    rows = _raw_rows()
    for row in rows:
        if row["商机编号"] == signed:
            row["合同金额"] = "380,000"
            row["更新时间"] = (updated + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S")
    with changed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    latest = _import(url, mapping, file=changed)
    assert latest.exit_code == 0, latest.output
    assert store.get(signed).fields["amount"] == "380000"  # changed in the CRM after the tool


def test_a_dry_run_writes_nothing(url: str, database: Database) -> None:
    """``--dry-run`` reports what it would create and which columns are unused, and the
    database is unchanged: row counts, and on SQLite the file's bytes."""
    path = (
        database.engine.url.database if database.engine.url.get_backend_name() == "sqlite" else None
    )
    database.engine.dispose()

    def snapshot() -> tuple[Any, ...]:
        database.engine.dispose()  # the last connection's close checkpoints SQLite's WAL
        files = sorted(Path(path).parent.glob(Path(path).name + "*")) if path else []
        return _counts(database), [(f.name, f.read_bytes()) for f in files]

    before = snapshot()
    dry = _import(url, DATA / "mapping.yaml", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert '"created": 60' in dry.output
    assert '"unused_columns": [\n    "备注"\n  ]' in dry.output
    assert snapshot() == before
    assert _counts(database) == (0, 0, 0)
    text = _run(url, "deals", "import", str(EXPORT), "--playbook", str(DATA / "playbook.yaml"),
                "--mapping", str(DATA / "mapping.yaml"), "--now", NOW, "--dry-run")  # fmt: skip
    assert "试运行" in text.output
    assert "备注" in text.output
    assert snapshot() == before
    real = _import(url, DATA / "mapping.yaml")
    assert real.exit_code == 0
    assert '"created": 60' in real.output
    assert _counts(database)[0] == 60


def test_a_date_in_an_undeclared_format_is_a_row_error(url: str, tmp_path: Path) -> None:
    """A date the mapping's formats do not read fails its row, with line and column; the
    other rows are imported and the summary counts the failure."""
    rows = _raw_rows()
    rows[4]["签约日期"] = "15.09.2026"
    bad = tmp_path / "bad-date.csv"
    with bad.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = _import(url, DATA / "mapping.yaml", file=bad)
    assert result.exit_code == 1
    assert '"created": 59' in result.output
    assert '"failed": 1' in result.output
    assert '"line": 6' in result.output
    assert '"column": "签约日期"' in result.output
    assert "15.09.2026" in result.output


def test_activity_kinds_come_from_the_playbook(url: str, database: Database) -> None:
    """``deals log`` takes the playbook's own kinds (wechat), counted by ``activity_count``;
    a kind it does not declare is refused with a did-you-mean, and nothing is written."""
    assert _import(url, DATA / "mapping.yaml").exit_code == 0
    logged = _run(url, "deals", "log", "OPP-0002", "--kind", "wechat", "--now", NOW)
    assert logged.exit_code == 0, logged.output
    before = _counts(database)
    refused = CliRunner().invoke(
        cli, ["deals", "log", "OPP-0002", "--kind", "wechat_msg", "--db", url]
    )
    assert isinstance(refused.exception, UnknownActivityKindError)
    assert refused.exception.code == "PB505"
    assert "did you mean 'wechat'" in str(refused.exception.hint)
    assert _counts(database) == before
    playbook, _ = playbook_from_file(DATA / "playbook.yaml")
    report = compute_kpis(
        database, playbook, parse_period("2026"), now=datetime(2026, 12, 1, tzinfo=UTC), by=()
    )
    counted = {r.kpi.id: r.value for r in report.results}
    assert counted["wechats"] == 1
