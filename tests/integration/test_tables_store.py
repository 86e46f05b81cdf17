"""Decision tables against the deal store: KPIs filter and group by derived fields in SQL.

Deals go into a real SQLite or PostgreSQL store (the ``store`` fixture runs on
both); the expected figures are counted here from the deals' raw fields with
the tiers of the example's table written out by hand.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from playbook.definition.validate import load_text
from playbook.escalation.sweep import sweep
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import parse_period
from playbook.store.repository import DealStore
from playbook.values import Actor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "valid" / "decision-tables.yaml"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KPIS = """
  - id: open_by_tier
    metric: pipeline_value
    field: amount
    by: [customer_tier]
  - id: open_sql_pipeline
    metric: pipeline_value
    field: amount
    where: "lead_grade == 'sql'"
roles:
  rep: {title: Rep}
"""

DEALS: dict[str, dict[str, Any]] = {
    "D-1": {"lead_score": 90, "amount": Decimal(2_000_000)},
    "D-2": {"lead_score": 90, "amount": Decimal(300_000)},
    "D-3": {"lead_score": 65, "industry": "energy", "amount": Decimal(100_000)},
    "D-4": {"lead_score": 65, "industry": "retail", "amount": Decimal(50_000)},
    "D-5": {"lead_score": 10, "amount": Decimal(7_000)},
    "D-6": {"lead_score": 85},
}


def _grade(fields: dict[str, Any]) -> str:
    score, industry = fields.get("lead_score"), fields.get("industry")
    if score is not None and score >= 80:
        return "sql"
    if score is not None and 60 <= score < 80 and industry in ("energy", "chemicals"):
        return "sql"
    return "mql" if score is not None and 40 <= score < 80 else "cold"


def _tier(fields: dict[str, Any]) -> str:
    amount = fields.get("amount")
    if amount is None:
        return "potential"
    if amount >= 1_000_000:
        return "key"
    return "normal" if _grade(fields) == "sql" else "potential"


def test_kpis_group_and_filter_by_derived_fields(store: DealStore) -> None:
    """Pipeline value by customer tier, and of SQL-graded leads, as the hand-written tiers say."""
    text = EXAMPLE.read_text(encoding="utf-8") + KPIS
    model = load_text(text, "decision-tables.yaml")
    store.register_playbook(model, text, now=NOW)
    rep = Actor("wang.li", frozenset({"rep"}))
    for ref, fields in DEALS.items():
        store.add_deal(model, actor=rep, now=NOW, external_id=ref, fields=fields)
    report = compute_kpis(
        store.database,
        model,
        parse_period("2026-Q1"),
        now=NOW + timedelta(days=1),
        kpi_ids=["open_by_tier", "open_sql_pipeline"],
    )
    by_tier: Counter[str] = Counter()
    for fields in DEALS.values():
        by_tier[_tier(fields)] += fields.get("amount") or 0
    figures = {
        r.group.get("customer_tier"): r.value for r in report.results if r.kpi.id == "open_by_tier"
    }
    assert figures == {tier: float(total) for tier, total in by_tier.items()}
    sql_total = sum(f.get("amount") or 0 for f in DEALS.values() if _grade(f) == "sql")
    (sql,) = [r.value for r in report.results if r.kpi.id == "open_sql_pipeline"]
    assert sql == float(sql_total) == 2_400_000


ESCALATIONS = """
escalations:
  - id: key_account_stalled
    trigger: {in_stage: {days: 3}}
    when: "customer_tier == 'key'"
    levels:
      - notify: [owner]
  - id: sql_lead_ready
    trigger: {condition: "lead_grade == 'sql' and fit >= 30", for: {hours: 2}}
    levels:
      - notify: [owner]
"""


def test_the_sweep_reads_derived_fields(store: DealStore) -> None:
    """Escalations on derived fields fire for exactly the deals the hand-written tables pick."""
    text = EXAMPLE.read_text(encoding="utf-8") + "roles:\n  rep: {title: Rep}\n" + ESCALATIONS
    model = load_text(text, "decision-tables.yaml")
    rep = Actor("wang.li", frozenset({"rep"}))
    deals = {
        **DEALS,
        "D-7": {"lead_score": 70, "industry": "energy"},  # sql by row 2, fit 40
        "D-8": {"lead_score": 90, "budget_confirmed": True},  # sql, fit 30
    }
    for ref, fields in deals.items():
        store.add_deal(model, actor=rep, now=NOW, external_id=ref, owner="wang.li", fields=fields)
    # The first sweep starts the hold of the condition; the second, 3 hours on, fires it.
    fired: dict[str, set[str]] = {}
    for hours in (0, 3):
        report = sweep(store.database, model, now=NOW + timedelta(days=4, hours=hours))
        for item in report.fired:
            fired.setdefault(item.rule, set()).add(item.deal)
    fit = {
        ref: (40 if f.get("industry") in ("energy", "chemicals") else 0)
        + (30 if f.get("budget_confirmed") is True else 0)
        + (30 if f.get("decision_maker_met") is True else 0)
        for ref, f in deals.items()
    }
    assert fired == {
        "key_account_stalled": {ref for ref, f in deals.items() if _tier(f) == "key"},
        "sql_lead_ready": {
            ref for ref, f in deals.items() if _grade(f) == "sql" and fit[ref] >= 30
        },
    }
    assert fired["sql_lead_ready"] == {"D-3", "D-7", "D-8"}
