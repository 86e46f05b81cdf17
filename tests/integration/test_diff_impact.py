"""The impact of a playbook change on open deals, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from playbook import services
from playbook.authoring.diff import impact_on_deals
from playbook.definition.files import playbook_from_text
from playbook.runtime.engine import Engine
from playbook.store.repository import DealStore
from playbook.values import Actor

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REP = Actor("wang", frozenset({"rep"}))

OLD = """\
playbook: imp
version: 1
title: Impact test
roles: {rep: {title: Rep}}
fields:
  amount: {type: decimal}
  account: {type: string}
stages:
  - {id: lead, title: Lead, probability: 0.1}
  - id: offer
    title: Offer
    probability: 0.4
    entry: ["amount > 0"]
  - {id: won, title: Won, outcome: won, probability: 1}
  - {id: lost, title: Lost, outcome: lost, probability: 0}
kpis:
  - {id: pipe, metric: weighted_pipeline, field: amount, period: month, target: {min: 1}}
escalations:
  - id: stuck
    trigger: {in_stage: {days: 30}}
    stages: [offer]
    levels: [{notify: [owner]}]
"""

NEW = (
    OLD.replace("version: 1", "version: 2")
    .replace(
        'entry: ["amount > 0"]',
        'entry: ["amount > 0", "has(account)"]\n    actions: [{id: demo, role: rep}]',
    )
    .replace("probability: 0.4", "probability: 0.5")
    .replace("{days: 30}", "{days: 10}")
)


def test_impact_counts_deals_actions_escalations_and_pipeline(store: DealStore) -> None:
    """Only open deals count; each effect is attributed to the rule that causes it."""
    old, new = playbook_from_text(OLD, "old.yaml"), playbook_from_text(NEW, "new.yaml")
    engine = Engine(old)
    for ref, fields, stage in [
        ("A", {"amount": "100"}, "offer"),
        ("B", {"amount": "300", "account": "Acme"}, "offer"),
        ("C", {"amount": "50"}, None),
        ("D", {"amount": "70"}, "won"),
    ]:
        store.add_deal(old, actor=REP, now=NOW, external_id=ref, fields=fields)
        for target in (["offer"] if stage else []) + (["won"] if stage == "won" else []):
            services.advance(store, ref, target, engine=engine, actor=REP, now=NOW)
    later = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    impact = impact_on_deals(old, new, store, now=later)
    assert impact.open_deals == 3
    assert impact.tally("failing") == {"offer.entry[1]": 1}
    assert impact.examples("failing", "offer.entry[1]") == ["A"]
    assert impact.tally("new_actions") == {"demo": 2}
    assert impact.tally("starts") == {"stuck": 2}
    assert impact.count("stops") == 0
    assert impact.weighted_old == Decimal("5") + Decimal("160")
    assert impact.weighted_new == Decimal("5") + Decimal("200")
    assert round(impact.expected_wins_new - impact.expected_wins_old, 2) == 0.2
