"""Every KPI metric computed in SQL agrees with a plain-Python computation from the raw rows.

The reference below is written from the definitions in docs/kpis.md, reading
only plain rows (deals, stage changes, activities, people), and is compared
with :func:`playbook.kpi.metrics.compute_kpis` on SQLite and PostgreSQL: on generated
histories (skipped stages, backward moves, reopened deals, missing fields,
another playbook's deals in the same store) and on the Maven CRM data set.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from conftest import EXAMPLE, MAVEN
from playbook.definition.files import playbook_from_file, playbook_from_text
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import Period, parse_period, period_between
from playbook.model import Kpi, Playbook
from playbook.store.db import Database
from playbook.store.models import Activity, Deal, Person, StageChange

NOW = datetime(2018, 3, 1, tzinfo=UTC)

KPI_PLAYBOOK = """\
playbook: kpi-test
version: 1
title: {en: KPI test, zh: 指标测试}
timezone: Asia/Shanghai
fields:
  amount: {type: decimal, min: 0}
  satisfaction: {type: number, min: 0, max: 10}
  invoiced: {type: decimal}
  collected: {type: decimal}
  segment: {type: enum, values: [smb, mid, enterprise]}
  strategic: {type: boolean}
stages:
  - {id: lead, title: Lead, probability: 0.1}
  - {id: qualified, title: Qualified, probability: 0.3}
  - {id: proposal, title: Proposal, probability: 0.6}
  - {id: won, title: Won, outcome: won, probability: 1}
  - {id: lost, title: Lost, outcome: lost, probability: 0}
kpis:
  - {id: leads, metric: stage_entries, stage: lead, target: {min: 40}, period: month}
  - {id: lead_to_proposal, metric: conversion, from_stage: lead, to_stage: proposal}
  - {id: qualified_to_won, metric: conversion, from_stage: qualified, to_stage: won}
  - {id: win_rate, metric: win_rate, target: {min: 0.4}}
  - {id: win_rate_big, metric: win_rate, where: "amount >= 50000"}
  - {id: cycle_won, metric: cycle_time, outcome: won, statistic: mean, target: {max: 60}}
  - {id: cycle_won_median, metric: cycle_time, outcome: won, statistic: median}
  - {id: cycle_lost_p90, metric: cycle_time, outcome: lost, from_stage: qualified, statistic: p90}
  - {id: qualified_days, metric: time_in_stage, stage: qualified, statistic: mean}
  - {id: proposal_days_p90, metric: time_in_stage, stage: proposal, statistic: p90}
  - {id: pipeline, metric: pipeline_value, field: amount}
  - {id: weighted, metric: weighted_pipeline, field: amount}
  - {id: won_deals, metric: won_deals, target: {min: 10}, period: quarter}
  - {id: won_value, metric: won_value, field: amount}
  - {id: calls, metric: activity_count, activity: call}
  - {id: activities, metric: activity_count}
  - {id: satisfaction, metric: field_aggregate, field: satisfaction, aggregate: mean,
     where: "has(satisfaction)"}
  - {id: best_amount, metric: field_aggregate, field: amount, aggregate: max}
  - {id: lowest_amount, metric: field_aggregate, field: amount, aggregate: min}
  - {id: amount_closed, metric: field_aggregate, field: amount, aggregate: sum}
  - {id: filled, metric: field_aggregate, field: satisfaction, aggregate: count}
  - {id: collection, metric: field_ratio, field: collected, denominator: invoiced}
  - {id: strategic_share, metric: field_aggregate, field: strategic, aggregate: mean}
"""

OWNERS = {
    "王伟": ("east", "李娜", "华东"),
    "Ann": ("east", "李娜", "华东"),
    "Bob": ("west", "Carl", "West"),
    "Cleo": ("west", "Carl", "West"),
    "Dan": (None, None, None),
}
GROUPINGS: tuple[tuple[str, ...], ...] = (
    (),
    ("owner",),
    ("team",),
    ("manager", "region"),
    ("segment",),
)


# --- the plain-Python reference ------------------------------------------------------------


@dataclasses.dataclass
class Rows:
    """The raw rows of a store, as plain dicts."""

    deals: dict[int, dict[str, Any]]
    changes: dict[int, list[dict[str, Any]]]
    activities: list[dict[str, Any]]
    people: dict[str, dict[str, Any]]


def read_rows(database: Database) -> Rows:
    """Every row of the four tables, as plain dicts (changes per deal, in version order)."""
    with database.engine.connect() as connection:
        deals = {row.id: dict(row._mapping) for row in connection.execute(select(Deal))}
        changes: dict[int, list[dict[str, Any]]] = defaultdict(list)
        query = select(StageChange).order_by(StageChange.deal_id, StageChange.deal_version)
        for row in connection.execute(query):
            changes[row.deal_id].append(dict(row._mapping))
        activities = [dict(row._mapping) for row in connection.execute(select(Activity))]
        people = {row.name: dict(row._mapping) for row in connection.execute(select(Person))}
    return Rows(deals, changes, activities, people)


def _inside(at: datetime, period: Period) -> bool:
    return period.start <= at < period.end


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(Decimal(str(value)))


def _percentile(values: list[float], numerator: int, denominator: int) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * numerator
    low, rest = divmod(position, denominator)
    if rest == 0:
        return ordered[low]
    share = rest / denominator
    return ordered[low] * (1 - share) + ordered[low + 1] * share


def _statistic(values: list[float], name: str) -> float | None:
    if not values:
        return None
    if name == "median":
        return _percentile(values, 1, 2)
    if name == "p90":
        return _percentile(values, 9, 10)
    return sum(values) / len(values)


class Reference:
    """The KPI definitions of docs/kpis.md, row by row."""

    def __init__(self, playbook: Playbook, rows: Rows, period: Period) -> None:
        self.playbook = playbook
        self.rows = rows
        self.period = period
        self.outcome = {stage.id: stage.outcome for stage in playbook.stages}
        self.mine = {i: d for i, d in rows.deals.items() if d["playbook_id"] == playbook.id}
        # The report's one instant: nothing recorded at or after it counts.
        self.end = min(period.end, NOW)

    def closing(self, deal_id: int) -> dict[str, Any] | None:
        """The deal's last move from an open (or no) stage to a closed one, in the period."""
        found = None
        for change in self.rows.changes[deal_id]:
            source = change["from_stage"]
            opened = source is None or self.outcome.get(source) == "open"
            closes = self.outcome.get(change["to_stage"]) in ("won", "lost")
            if opened and closes and _inside(change["at"], self.period):
                found = change
        return found

    def entered(self, deal_id: int, stage: str) -> list[dict[str, Any]]:
        return [
            c
            for c in self.rows.changes[deal_id]
            if c["to_stage"] == stage and _inside(c["at"], self.period)
        ]

    def units(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        """(deal id, measure) for every unit the metric counts."""
        yield from getattr(self, f"_{kpi.metric}")(kpi)

    def _stage_entries(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id in self.mine:
            if self.entered(deal_id, kpi.params["stage"]):
                yield deal_id, 1

    def _conversion(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        target = self.playbook.stage(kpi.params["to_stage"])
        assert target is not None
        reach = {target.id} | {
            s.id
            for s in self.playbook.stages
            if target.outcome != "lost" and s.outcome != "lost" and s.index > target.index
        }
        for deal_id in self.mine:
            entries = self.entered(deal_id, kpi.params["from_stage"])
            if entries:
                first = entries[0]["deal_version"]
                later = self.rows.changes[deal_id]
                yield (
                    deal_id,
                    any(
                        c["deal_version"] > first and c["to_stage"] in reach and c["at"] < self.end
                        for c in later
                    ),
                )

    def _win_rate(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id in self.mine:
            close = self.closing(deal_id)
            if close is not None:
                yield deal_id, self.outcome[close["to_stage"]] == "won"

    def _won(self) -> Iterator[int]:
        for deal_id, won in self._win_rate(Kpi(id="x", metric="win_rate")):
            if won:
                yield deal_id

    def _won_deals(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id in self._won():
            yield deal_id, 1

    def _won_value(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id in self._won():
            yield deal_id, self.field(deal_id, kpi.params["field"])

    def _cycle_time(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        start = kpi.params.get("from_stage") or self.playbook.first_stage.id
        for deal_id in self.mine:
            close = self.closing(deal_id)
            if close is None or self.outcome[close["to_stage"]] != kpi.params["outcome"]:
                continue
            starts = [
                c["at"]
                for c in self.rows.changes[deal_id]
                if c["to_stage"] == start and c["deal_version"] < close["deal_version"]
            ]
            if starts:
                yield deal_id, _days(close["at"], min(starts))

    def _time_in_stage(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id in self.mine:
            history = self.rows.changes[deal_id]
            for before, change in itertools.pairwise(history):
                if change["from_stage"] == kpi.params["stage"] and _inside(
                    change["at"], self.period
                ):
                    yield deal_id, _days(change["at"], before["at"])

    def _open_at_end(self) -> Iterator[tuple[int, str]]:
        for deal_id in self.mine:
            before = [c for c in self.rows.changes[deal_id] if c["at"] < self.period.end]
            if before and self.outcome[before[-1]["to_stage"]] == "open":
                yield deal_id, before[-1]["to_stage"]

    def _pipeline_value(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id, _stage in self._open_at_end():
            yield deal_id, self.field(deal_id, kpi.params["field"])

    def _weighted_pipeline(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id, stage_id in self._open_at_end():
            value = self.field(deal_id, kpi.params["field"])
            stage = self.playbook.stage(stage_id)
            assert stage is not None
            yield deal_id, None if value is None else value * (stage.probability or 0)

    def _activity_count(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        kinds = (
            {kpi.params["activity"]}
            if "activity" in kpi.params
            else {
                "call",
                "meeting",
                "email",
                "note",
                "visit",
            }
        )
        for row in self.rows.activities:
            mine = row["deal_id"] in self.mine and row["kind"] in kinds
            if mine and _inside(row["at"], self.period):
                yield row["deal_id"], 1

    def _measured(self, kpi: Kpi) -> Iterator[int]:
        for deal_id in self.mine:
            if self.closing(deal_id) is not None:
                yield deal_id

    def _field_aggregate(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id in self._measured(kpi):
            yield deal_id, self.field(deal_id, kpi.params["field"])

    def _field_ratio(self, kpi: Kpi) -> Iterator[tuple[int, Any]]:
        for deal_id in self._measured(kpi):
            top = self.field(deal_id, kpi.params["field"])
            bottom = self.field(deal_id, kpi.params["denominator"])
            yield deal_id, (top, bottom)

    def field(self, deal_id: int, name: str) -> float | None:
        return _number(self.mine[deal_id]["fields"].get(name))

    def group(self, deal_id: int, names: Sequence[str]) -> tuple[str | None, ...]:
        deal = self.mine[deal_id]
        person = self.rows.people.get(deal["owner"] or "", {})
        out = []
        for name in names:
            if name == "owner":
                out.append(deal["owner"])
            elif name in ("team", "manager", "region"):
                out.append(deal[name] if deal[name] is not None else person.get(name))
            else:
                value = deal["fields"].get(name)
                out.append(None if value is None else str(value))
        return tuple(out)

    def figures(self, kpi: Kpi, names: Sequence[str]) -> dict[tuple[Any, ...], tuple[Any, int]]:
        """(value, n) per group, as docs/kpis.md defines them."""
        where = kpi.where
        units: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
        for deal_id, measure in self.units(kpi):
            if where is not None and not where.test(self._typed(deal_id)):
                continue
            units[self.group(deal_id, names)].append(measure)
        return {key: self._aggregate(kpi, values) for key, values in units.items()}

    def _typed(self, deal_id: int) -> dict[str, Any]:
        from playbook.values import coerce_fields

        return coerce_fields(self.playbook, self.mine[deal_id]["fields"])

    def _aggregate(self, kpi: Kpi, values: list[Any]) -> tuple[Any, int]:
        metric = kpi.metric
        if metric in ("stage_entries", "won_deals", "activity_count"):
            return len(values), len(values)
        if metric in ("conversion", "win_rate"):
            return sum(values) / len(values), len(values)
        if metric in ("won_value", "pipeline_value", "weighted_pipeline"):
            return sum(v for v in values if v is not None), len(values)
        if metric in ("cycle_time", "time_in_stage"):
            present = [v for v in values if v is not None]
            return _statistic(present, kpi.params.get("statistic", "mean")), len(present)
        if metric == "field_ratio":
            pairs = [(a, b) for a, b in values if a is not None and b is not None]
            bottom = sum(b for _, b in pairs)
            return (sum(a for a, _ in pairs) / bottom if bottom else None), len(pairs)
        present = [v for v in values if v is not None]
        aggregate = kpi.params["aggregate"]
        if aggregate == "count":
            return len(present), len(present)
        if aggregate == "sum":
            return sum(present), len(values)
        if not present:
            return None, 0
        pick: Callable[[list[float]], float] = {"min": min, "max": max}.get(
            aggregate, lambda v: sum(v) / len(v)
        )
        return pick(present), len(present)


def assert_agree(
    database: Database, playbook: Playbook, period: Period, groupings: Sequence[Sequence[str]]
) -> int:
    """Compare every KPI and grouping; returns how many (kpi, group) figures were compared."""
    rows = read_rows(database)
    reference = Reference(playbook, rows, period)
    compared = 0
    for names in groupings:
        report = compute_kpis(database, playbook, period, now=NOW, by=names)
        for kpi in playbook.kpis:
            expected = reference.figures(kpi, names)
            got = {
                tuple(r.group.get(name) for name in names): (r.value, r.n)
                for r in report.for_kpi(kpi.id)
            }
            # Groups with nothing to measure (seen in another KPI, or the one line of an empty
            # KPI) are reported with n = 0 and the figure over nothing: 0 or no data.
            empty = {key: got.pop(key) for key in set(got) - set(expected)}
            assert all(n == 0 and value in (0, None) for value, n in empty.values()), kpi.id
            assert set(got) == set(expected), (kpi.id, names)
            for key, (value, n) in expected.items():
                got_value, got_n = got[key]
                assert got_n == n, (kpi.id, names, key)
                if value is None:
                    assert got_value is None, (kpi.id, names, key)
                else:
                    assert got_value == pytest.approx(value, rel=1e-5, abs=1e-5), (
                        kpi.id,
                        names,
                        key,
                    )
                compared += 1
    return compared


# --- generated histories -------------------------------------------------------------------


def _walk(rng: random.Random) -> list[str]:
    """A path through the stages: skips, backward moves, reopened deals, open deals."""
    path = ["lead"]
    while len(path) < 9:
        here = path[-1]
        roll = rng.random()
        if here == "lead":
            step = "qualified" if roll < 0.55 else "proposal" if roll < 0.7 else "lost"
            step = step if rng.random() > 0.15 else ""
        elif here == "qualified":
            step = "proposal" if roll < 0.6 else "lost" if roll < 0.8 else ""
        elif here == "proposal":
            step = "won" if roll < 0.45 else "lost" if roll < 0.7 else "qualified"
            step = step if roll < 0.9 else ""
        else:
            step = "proposal" if roll < 0.12 else ""  # a reopened deal
        if not step:
            break
        path.append(step)
    return path


def _fields(rng: random.Random) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if rng.random() < 0.9:
        fields["amount"] = str(Decimal(rng.randrange(1000, 120000)) / 4)
    if rng.random() < 0.5:
        fields["satisfaction"] = round(rng.uniform(3, 10), 1)
    if rng.random() < 0.6:
        fields["invoiced"] = str(rng.randrange(1000, 9000))
        fields["collected"] = str(rng.randrange(0, 9000))
    if rng.random() < 0.85:
        fields["segment"] = rng.choice(["smb", "mid", "enterprise"])
    if rng.random() < 0.7:
        fields["strategic"] = rng.random() < 0.4
    return fields


def generate(database: Database, playbook_id: str, count: int, seed: int) -> None:
    """Insert ``count`` deals with random histories and activities, straight into the tables."""
    rng = random.Random(seed)
    start = datetime(2017, 1, 1, tzinfo=UTC)
    people = [
        {"name": name, "team": t, "manager": m, "region": r, "updated_at": start}
        for name, (t, m, r) in OWNERS.items()
    ]
    with database.engine.begin() as connection:
        if playbook_id == "kpi-test":
            connection.execute(insert(Person), people)
        for number in range(count):
            _one_deal(connection, rng, playbook_id, number, start)


def _one_deal(
    connection: Any, rng: random.Random, playbook_id: str, number: int, start: Any
) -> None:
    owner = rng.choice([*OWNERS, None])
    at = start + timedelta(days=rng.uniform(0, 420))
    history: list[tuple[str | None, str, datetime]] = []
    previous = None
    for stage in _walk(rng):
        history.append((previous, stage, at))
        previous = stage
        at += timedelta(days=rng.choice([0, rng.uniform(0.2, 45)]))
    times = [moment for _, _, moment in history]
    deal = {
        "external_id": f"{playbook_id}-{number}",
        "playbook_id": playbook_id,
        "playbook_version": 1,
        "stage": history[-1][1],
        "owner": owner,
        # Some deals carry their team themselves; the others take it from `people`.
        "team": "north" if owner and rng.random() < 0.2 else None,
        "manager": None,
        "region": None,
        "fields": _fields(rng),
        "actions": {},
        "created_at": times[0],
        "updated_at": times[-1],
        "updated_by": "test",
        "stage_entered_at": times[-1],
        "last_activity_at": times[-1],
        "closed_at": times[-1] if history[-1][1] in ("won", "lost") else None,
        "version": 1,
    }
    deal_id = connection.execute(insert(Deal).returning(Deal.id), deal).scalar_one()
    steps: list[tuple[datetime, str, Any]] = [
        (moment, "change", h) for h, moment in zip(history, times, strict=True)
    ]
    for _ in range(rng.randrange(0, 6)):
        kind = rng.choice(["call", "call", "meeting", "email", "note", "visit", "action"])
        steps.append((start + timedelta(days=rng.uniform(0, 450)), kind, None))
    steps.sort(key=lambda step: step[0])
    changes, activities = [], []
    for version, (moment, kind, item) in enumerate(steps, start=1):
        if kind == "change":
            changes.append(_change(deal_id, item, version))
        else:
            activities.append(_activity(deal_id, kind, moment, version))
    connection.execute(insert(StageChange), changes)
    if activities:
        connection.execute(insert(Activity), activities)


def _change(deal_id: int, item: tuple[str | None, str, datetime], version: int) -> dict[str, Any]:
    source, target, moment = item
    return {
        "deal_id": deal_id,
        "from_stage": source,
        "to_stage": target,
        "actor": "test",
        "actor_roles": [],
        "at": moment,
        "override_reason": None,
        "playbook_version": 1,
        "deal_version": version,
        "source": "live",
    }


def _activity(deal_id: int, kind: str, moment: datetime, version: int) -> dict[str, Any]:
    return {
        "deal_id": deal_id,
        "kind": kind,
        "actor": "test",
        "at": moment,
        "note": None,
        "stage": "lead",
        "action_id": None,
        "evidence": None,
        "deal_version": version,
    }


@pytest.fixture
def generated(database: Database) -> tuple[Database, Playbook]:
    """A store with 400 generated deals of the KPI test playbook and 60 of another one."""
    generate(database, "kpi-test", 400, seed=11)
    generate(database, "other", 60, seed=12)
    return database, playbook_from_text(KPI_PLAYBOOK, "kpi-test.yaml")


@pytest.mark.parametrize(
    "period",
    [
        parse_period("2017-Q2", "Asia/Shanghai"),
        parse_period("2017", "Asia/Shanghai"),
        parse_period("2017-11", "Asia/Shanghai"),
        parse_period("2017-W40", "Asia/Shanghai"),
        period_between(date(2017, 3, 15), date(2018, 2, 1), "Asia/Shanghai"),
    ],
    ids=lambda period: period.label,
)
def test_every_metric_matches_the_reference_on_generated_data(
    generated: tuple[Database, Playbook], period: Period
) -> None:
    """Each of the 12 metrics, overall and by owner, team, manager+region and an enum field,
    equals the plain-Python figure (value and n) computed from the raw rows."""
    database, playbook = generated
    assert assert_agree(database, playbook, period, GROUPINGS) > 100


def test_a_period_without_history_gives_no_data_and_zero_counts(
    generated: tuple[Database, Playbook],
) -> None:
    """Before any history: counts and sums are 0, ratios and averages are null (no data),
    never a division error, and a note says where the history is."""
    database, playbook = generated
    report = compute_kpis(database, playbook, parse_period("2015"), now=NOW, by=())
    values = {result.kpi.id: (result.value, result.status) for result in report.results}
    assert values["win_rate"] == (None, "no_data")
    assert values["leads"] == (0, "missed")
    assert values["cycle_won"] == (None, "no_data")
    assert values["pipeline"][0] == 0
    assert any("history" in note and "runs from 2017" in note for note in report.notes)


# --- the Maven CRM data set ----------------------------------------------------------------


@pytest.fixture
def maven(database: Database, tmp_path: Path) -> tuple[Database, Playbook]:
    """The 8,800 Maven opportunities imported with the example's mapping."""
    if not (MAVEN / "sales_pipeline.csv").exists():
        pytest.skip(f"the Maven CRM data set is not at {MAVEN}")
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping
    from playbook.store.repository import DealStore

    for source in [*MAVEN.glob("*.csv"), *EXAMPLE.glob("*.yaml")]:
        (tmp_path / source.name).write_bytes(source.read_bytes())
    playbook, _ = playbook_from_file(tmp_path / "playbook.yaml")
    report = import_deals(
        DealStore(database),
        playbook,
        tmp_path / "sales_pipeline.csv",
        mapping=read_mapping(tmp_path / "mapping.yaml"),
        now=NOW,
    )
    assert report.created == 8800
    return database, playbook


def _maven_csv() -> list[dict[str, str]]:
    teams = {}
    with (MAVEN / "sales_teams.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            teams[row["sales_agent"]] = row
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        team = teams.get(row["sales_agent"], {})
        row["manager"] = team.get("manager", "")
        row["region"] = row["regional_office"] = team.get("regional_office", "")
    return rows


def _maven_reference(first: date, last: date, key: str | None) -> dict[str, Any]:
    """Win rate, cycle time to won from Engaging and won revenue, straight from the CSV files."""
    closed: dict[str | None, list[bool]] = defaultdict(list)
    cycles: dict[str | None, list[int]] = defaultdict(list)
    revenue: dict[str | None, float] = defaultdict(float)
    for row in _maven_csv():
        if row["deal_stage"] not in ("Won", "Lost") or not row["close_date"]:
            continue
        closed_on = date.fromisoformat(row["close_date"])
        if not first <= closed_on <= last:
            continue
        group = row[key] if key else None
        won = row["deal_stage"] == "Won"
        closed[group].append(won)
        if won:
            cycles[group].append((closed_on - date.fromisoformat(row["engage_date"])).days)
            revenue[group] += float(row["close_value"] or 0)
    return {
        group: {
            "win_rate": (sum(flags) / len(flags), len(flags)),
            "cycle_to_won": (sum(cycles[group]) / len(cycles[group]), len(cycles[group])),
            "won_revenue": (revenue[group], len(cycles[group])),
        }
        for group, flags in closed.items()
    }


MAVEN_CASES: tuple[tuple[date, date, str | None], ...] = (
    (date(2016, 1, 1), date(2017, 12, 31), None),
    (date(2016, 1, 1), date(2017, 12, 31), "region"),
    (date(2016, 1, 1), date(2017, 12, 31), "manager"),
    (date(2016, 1, 1), date(2017, 12, 31), "regional_office"),  # a field, as the region
    (date(2017, 4, 1), date(2017, 6, 30), None),
    (date(2017, 4, 1), date(2017, 6, 30), "manager"),
)
"""(first day, last day, grouping): one import of the data set serves every case."""


MAVEN_KPIS = ("win_rate", "cycle_to_won", "won_revenue")
"""The KPIs the Maven example's README documents; the reference computes exactly these."""


def test_maven_kpis_match_the_csv_files(maven: tuple[Database, Playbook]) -> None:
    """The example's three KPIs (win rate, cycle time to won from Engaging, won revenue),
    overall, by region and by manager, equal the figures computed from the CSV files alone."""
    database, playbook = maven
    for first, last, key in MAVEN_CASES:
        period = period_between(first, last, playbook.timezone)
        report = compute_kpis(
            database, playbook, period, now=NOW, by=(key,) if key else (), kpi_ids=MAVEN_KPIS
        )
        expected = _maven_reference(first, last, key)
        for result in report.results:
            group = result.group.get(key) if key else None
            value, n = expected[group][result.kpi.id]
            assert result.n == n, (result.kpi.id, group, first)
            assert result.value == pytest.approx(value, rel=1e-6), (result.kpi.id, group, first)
        assert len(report.results) == 3 * len(expected)


MAVEN_EXTRA = (
    Kpi(id="entries", metric="stage_entries", params={"stage": "engaging"}),
    Kpi(
        id="conversion",
        metric="conversion",
        params={"from_stage": "prospecting", "to_stage": "won"},
    ),
    Kpi(id="cycle_p90", metric="cycle_time", params={"outcome": "lost", "statistic": "p90"}),
    Kpi(
        id="engaging_median",
        metric="time_in_stage",
        params={"stage": "engaging", "statistic": "median"},
    ),
    Kpi(id="pipeline", metric="pipeline_value", params={"field": "close_value"}),
    Kpi(id="weighted", metric="weighted_pipeline", params={"field": "close_value"}),
    Kpi(id="won_deals", metric="won_deals"),
    Kpi(id="activities", metric="activity_count"),
    Kpi(
        id="mean_value",
        metric="field_aggregate",
        params={"field": "close_value", "aggregate": "mean"},
    ),
    Kpi(
        id="ratio",
        metric="field_ratio",
        params={"field": "close_value", "denominator": "close_value"},
    ),
)


def test_every_metric_matches_the_reference_on_maven(maven: tuple[Database, Playbook]) -> None:
    """All 12 metrics on the imported Maven data (by region, manager and product) equal the
    plain-Python figures from the store's raw rows."""
    database, playbook = maven
    playbook = dataclasses.replace(playbook, kpis=playbook.kpis + MAVEN_EXTRA)
    period = period_between(date(2017, 1, 1), date(2017, 9, 30), playbook.timezone)
    groupings = [(), ("region",), ("manager",), ("product",)]
    assert assert_agree(database, playbook, period, groupings) > 150
