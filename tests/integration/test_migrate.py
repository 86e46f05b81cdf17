"""Version migration of open deals on SQLite and PostgreSQL: mapping, history, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playbook import services
from playbook.authoring.migrate import MIGRATE_SOURCE, migrate_deals, resolve_mapping
from playbook.definition.files import playbook_from_text
from playbook.errors import MigrationError
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.services import deal_state
from playbook.store.repository import DealStore
from playbook.values import Actor

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REP = Actor("wang", frozenset({"rep"}))

V1 = """\
playbook: mig
version: 1
title: Migration test
roles: {rep: {title: Rep}}
fields: {amount: {type: decimal}}
stages:
  - {id: lead, title: Lead}
  - {id: qualification, title: Qualification}
  - {id: offer, title: Offer}
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
"""

V2 = """\
playbook: mig
version: 2
title: Migration test
roles: {rep: {title: Rep}}
fields: {amount: {type: decimal}}
stages:
  - {id: lead, title: Lead}
  - {id: needs_analysis, title: Needs analysis}
  - {id: offer, title: Offer}
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
"""


def _v2(mapping: str) -> Playbook:
    return playbook_from_text(V2 + mapping, "v2.yaml")


@pytest.fixture
def stocked(store: DealStore) -> DealStore:
    """Deals of version 1: two in lead, one in qualification, one in offer, one won."""
    v1 = playbook_from_text(V1, "v1.yaml")
    store.register_playbook(v1, V1, now=NOW)
    for ref, stage in [
        ("L1", None),
        ("L2", None),
        ("Q1", "qualification"),
        ("O1", "offer"),
        ("W1", "won"),
    ]:
        deal = store.add_deal(v1, actor=REP, now=NOW, external_id=ref, fields={"amount": "10"})
        for target in _route(stage):
            services.advance(store, deal.ref, target, engine=Engine(v1), actor=REP, now=NOW)
    return store


def _route(stage: str | None) -> list[str]:
    order = ["qualification", "offer", "won"]
    return [] if stage is None else order[: order.index(stage) + 1]


def test_migration_moves_open_deals_and_records_it(stocked: DealStore) -> None:
    """Open deals get the new version and mapped stage; each history ends with the migration."""
    new = _v2("migrations: [{from: 1, stages: {qualification: needs_analysis}}]\n")
    plan = migrate_deals(stocked, new, 1, now=NOW, actor="ops")
    assert plan.by_stage() == {
        ("lead", "lead"): 2,
        ("qualification", "needs_analysis"): 1,
        ("offer", "offer"): 1,
    }
    moved = stocked.get("Q1")
    assert (moved.playbook_version, moved.stage) == (2, "needs_analysis")
    last = stocked.history("Q1")[-1]
    assert (last.kind, last.from_stage, last.stage, last.source, last.actor) == (
        "stage_change",
        "qualification",
        "needs_analysis",
        MIGRATE_SOURCE,
        "ops",
    )
    assert stocked.get("W1").playbook_version == 1  # closed deals stay pinned
    assert deal_state(moved, new).stage == "needs_analysis"  # readable under the new version


def test_dry_run_changes_nothing(stocked: DealStore) -> None:
    """A dry run returns the plan and leaves every deal as it was."""
    new = _v2("migrations: [{from: 1, stages: {qualification: needs_analysis}}]\n")
    before = [d.to_dict() for d in stocked.list_deals()]
    plan = migrate_deals(stocked, new, 1, now=NOW, dry_run=True)
    assert len(plan.moves) == 4
    assert [d.to_dict() for d in stocked.list_deals()] == before


def test_stranded_deals_stop_the_migration(stocked: DealStore) -> None:
    """Without a mapping for `qualification`, the deal in it is listed and nothing moves."""
    with pytest.raises(MigrationError) as caught:
        migrate_deals(stocked, _v2(""), 1, now=NOW)
    assert [item["deal"] for item in caught.value.details["stranded"]] == ["Q1"]
    assert "Q1 (qualification)" in caught.value.message
    assert stocked.get("L1").playbook_version == 1


@pytest.mark.parametrize(
    ("mapping", "resolved"),
    [
        ({"a": "b"}, {"a": "b"}),
        ({"a": "b", "b": "c"}, {"a": "c", "b": "c"}),
        ({"a": "a"}, {"a": "a"}),
    ],
)
def test_mappings_resolve_to_their_end(mapping: dict[str, str], resolved: dict[str, str]) -> None:
    """A chain of renames ends at the last stage named."""
    assert resolve_mapping(mapping) == resolved


@pytest.mark.parametrize("mapping", [{"a": "b", "b": "a"}, {"a": "b", "b": "c", "c": "a"}])
def test_cycles_are_refused(mapping: dict[str, str]) -> None:
    """A mapping that comes back to a stage it left is an error naming the cycle."""
    with pytest.raises(MigrationError, match="cycle"):
        resolve_mapping(mapping)


def test_versions_must_go_forward(stocked: DealStore) -> None:
    """Migrating to a version that is not newer is refused."""
    with pytest.raises(MigrationError):
        migrate_deals(stocked, _v2(""), 2, now=NOW)
