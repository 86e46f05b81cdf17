"""The engine's view of a deal: typed fields, the JSON form, adapters and actors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from playbook.errors import (
    ActorError,
    DealError,
    DealFieldError,
    MissingClockError,
    PlaybookVersionError,
    UnknownActionError,
    UnknownStageError,
)
from playbook.model import Playbook
from playbook.runtime.deals import ActionRecord, DealState, as_deal, new_deal
from playbook.values import Actor, check_actor, coerce_fields, is_empty, require_now

PlaybookFactory = Callable[[str], Playbook]

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def model(engine_playbook: Playbook) -> Playbook:
    """The engine test playbook (timezone Asia/Shanghai)."""
    return engine_playbook


def _deal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "D-1",
        "playbook": "engine-test",
        "playbook_version": 3,
        "stage": "qualified",
        "stage_entered_at": "2026-03-02T09:00:00+08:00",
        "owner": "li",
        "team": "east",
        "fields": {"amount": "1200.50", "industry": "energy"},
        "completed_actions": ["tech_exchange"],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("field", "raw", "typed"),
    [
        pytest.param("amount", "1200.50", Decimal("1200.50"), id="decimal-from-text"),
        pytest.param("amount", 1200, Decimal(1200), id="decimal-from-int"),
        pytest.param("amount", 0.1, Decimal("0.1"), id="decimal-from-float-is-exact"),
        pytest.param("amount", Decimal("7.25"), Decimal("7.25"), id="decimal-kept"),
        pytest.param("amount", "1,200", Decimal(1200), id="decimal-with-thousands-comma"),
        pytest.param("margin", 0.2, 0.2, id="number-float"),
        pytest.param("margin", 1, 1.0, id="number-from-int"),
        pytest.param("visits", 3, 3, id="integer"),
        pytest.param("budget_confirmed", False, False, id="boolean"),
        pytest.param("signed_on", "2026-03-01", date(2026, 3, 1), id="date-from-iso"),
        pytest.param("signed_on", date(2026, 3, 1), date(2026, 3, 1), id="date-kept"),
        pytest.param("industry", "energy", "energy", id="enum"),
        pytest.param("competitors", ["abb"], ("abb",), id="list-becomes-tuple"),
        pytest.param("decision_maker", "王总", "王总", id="chinese-text"),
        pytest.param("decision_maker", "王" * 20, "王" * 20, id="max-length-counts-characters"),
        pytest.param("contract_no", "C-42", "C-42", id="pattern"),
        pytest.param("amount", None, None, id="none-stays-empty"),
    ],
)
def test_coerce_fields_converts(model: Playbook, field: str, raw: Any, typed: Any) -> None:
    """JSON-ish values become the declared Python types."""
    result = coerce_fields(model, {field: raw})
    assert result == {field: typed}
    assert type(result[field]) is type(typed)


def test_coerce_fields_keeps_undeclared_keys_only_when_not_strict(model: Playbook) -> None:
    """strict=False keeps an undeclared key untouched (gradual adoption); strict refuses it."""
    raw = {"unknown_key": {"any": "thing"}}
    assert coerce_fields(model, raw, strict=False) == {"unknown_key": {"any": "thing"}}
    with pytest.raises(DealFieldError, match="unknown_key"):
        coerce_fields(model, raw)


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        pytest.param("amount", "12x", "decimal", id="decimal-not-a-number"),
        pytest.param("amount", True, "decimal", id="decimal-not-bool"),
        pytest.param("amount", "NaN", "decimal", id="decimal-not-nan"),
        pytest.param("amount", "-1", "at least 0", id="decimal-below-min"),
        pytest.param("margin", "0.2", "a number", id="number-not-text"),
        pytest.param("margin", 1.5, "at most 1", id="number-above-max"),
        pytest.param("margin", float("inf"), "a number", id="number-not-infinite"),
        pytest.param("visits", True, "whole number", id="integer-not-bool"),
        pytest.param("visits", 2.0, "whole number", id="integer-not-float"),
        pytest.param("visits", -1, "at least 0", id="integer-below-min"),
        pytest.param("budget_confirmed", "yes", "true or false", id="boolean-not-text"),
        pytest.param("budget_confirmed", 1, "true or false", id="boolean-not-int"),
        pytest.param("signed_on", "01/03/2026", "ISO date", id="date-not-iso"),
        pytest.param("signed_on", datetime(2026, 3, 1, tzinfo=UTC), "ISO date", id="date-not-dt"),
        pytest.param("industry", "mining", "one of energy, chemicals", id="enum-unknown"),
        pytest.param("industry", "enrgy", "did you mean 'energy'", id="enum-did-you-mean"),
        pytest.param("competitors", "abb", "list", id="list-not-text"),
        pytest.param("competitors", ["abb", 3], "list", id="list-of-non-text"),
        pytest.param("competitors", ["ge"], "not one of", id="list-item-unknown"),
        pytest.param("competitors", ["abb", "siemens", "abb"], "at most 2 items", id="max-items"),
        pytest.param("decision_maker", "王" * 21, "at most 20 characters", id="too-long"),
        pytest.param("decision_maker", 42, "text", id="string-not-int"),
        pytest.param("contract_no", "X-1", "matching", id="pattern-mismatch"),
    ],
)
def test_coerce_fields_refuses(model: Playbook, field: str, raw: Any, expected: str) -> None:
    """A wrong value raises DealFieldError naming the field, the value and what was expected."""
    with pytest.raises(DealFieldError) as caught:
        coerce_fields(model, {field: raw})
    error = caught.value
    assert error.code == "PB501"
    assert field in error.message
    assert expected in error.message
    assert error.details["field"] == field
    assert error.details["value"] == repr(raw)


@pytest.mark.parametrize(
    ("raw", "instant"),
    [
        pytest.param("2026-03-02T09:30:00", datetime(2026, 3, 2, 1, 30, tzinfo=UTC), id="naive"),
        pytest.param("2026-03-02T09:30:00Z", datetime(2026, 3, 2, 9, 30, tzinfo=UTC), id="zulu"),
        pytest.param(
            "2026-03-02T09:30:00-05:00", datetime(2026, 3, 2, 14, 30, tzinfo=UTC), id="offset"
        ),
        pytest.param(
            datetime(2026, 3, 2, 9, 30), datetime(2026, 3, 2, 1, 30, tzinfo=UTC), id="naive-object"
        ),
    ],
)
def test_datetimes_are_read_in_the_playbook_timezone(
    model: Playbook, raw: Any, instant: datetime
) -> None:
    """Times without an offset are local to the playbook; all are stored as aware UTC."""
    deal = as_deal(_deal(stage_entered_at=raw, created_at=raw), model)
    assert deal.stage_entered_at == instant
    assert deal.stage_entered_at is not None
    assert deal.stage_entered_at.tzinfo is UTC
    assert deal.created_at == instant


def test_mapping_form_round_trips(model: Playbook) -> None:
    """to_dict gives the JSON form back, and reading it again gives the same state."""
    raw = _deal(
        fields={"amount": "1200.50", "signed_on": "2026-03-01", "competitors": ["abb"]},
        completed_actions={
            "tech_exchange": {"by": "zhao", "at": "2026-03-03T10:00:00+08:00", "evidence": "x"}
        },
        version=4,
    )
    deal = as_deal(raw, model)
    assert deal.fields["amount"] == Decimal("1200.50")
    assert deal.completed_actions["tech_exchange"] == ActionRecord(
        "tech_exchange", "zhao", datetime(2026, 3, 3, 2, tzinfo=UTC), "x"
    )
    data = deal.to_dict()
    assert data["fields"] == {
        "amount": "1200.50",
        "signed_on": "2026-03-01",
        "competitors": ["abb"],
    }
    assert data["stage_entered_at"] == "2026-03-02T01:00:00+00:00"
    assert data["version"] == 4
    assert as_deal(data, model) == deal


def test_completed_actions_may_be_a_list(model: Playbook) -> None:
    """A list of action ids records the actions as done, without who or when."""
    deal = as_deal(_deal(completed_actions=["tech_exchange"]), model)
    assert deal.completed_actions == {"tech_exchange": ActionRecord("tech_exchange")}


def test_deal_state_is_returned_as_is(model: Playbook) -> None:
    """A DealState of this playbook is not copied or converted again."""
    deal = as_deal(_deal(), model)
    assert as_deal(deal, model) is deal


def test_pin_may_be_left_out(model: Playbook) -> None:
    """Without playbook and version, a deal is read as a deal of the given playbook."""
    raw = _deal()
    del raw["playbook"], raw["playbook_version"]
    deal = as_deal(raw, model)
    assert (deal.playbook_id, deal.playbook_version) == ("engine-test", 3)


def test_attribute_object_with_fields(model: Playbook) -> None:
    """An object with a ``fields`` attribute (an ORM row with a JSON column) is read."""
    row = SimpleNamespace(
        id=7, stage="qualified", owner="li", fields={"amount": 5, "industry": "energy"}
    )
    deal = as_deal(row, model)
    assert deal.id == "7"
    assert deal.fields == {"amount": Decimal(5), "industry": "energy"}
    assert deal.owner == "li"


def test_attribute_object_with_one_attribute_per_field(model: Playbook) -> None:
    """Without ``fields``, the declared fields are read from attributes of the same name."""

    class Row:
        def __init__(self) -> None:
            self.id = "R-1"
            self.stage = "proposal"
            self.stage_entered_at = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)
            self.amount = Decimal("10")
            self.margin = 0.3
            self.unrelated = object()

    deal = as_deal(Row(), model)
    assert deal.fields == {"amount": Decimal("10"), "margin": 0.3}
    assert deal.stage_entered_at == datetime(2026, 3, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        pytest.param(
            {"stage": "qualifed"}, UnknownStageError, "did you mean 'qualified'", id="stage"
        ),
        pytest.param({"stage": None}, DealError, "has no stage", id="no-stage"),
        pytest.param({"stage": 3}, DealError, "not a stage id", id="stage-not-text"),
        pytest.param({"playbook_version": 2}, PlaybookVersionError, "version 2", id="version"),
        pytest.param({"playbook": "other"}, PlaybookVersionError, "'other'", id="playbook"),
        pytest.param({"id": None}, DealError, "needs an `id`", id="no-id"),
        pytest.param({"id": True}, DealError, "text or an integer", id="bool-id"),
        pytest.param({"stagee": "lead"}, DealError, "did you mean 'stage'", id="unknown-key"),
        pytest.param({"fields": [1]}, DealError, "must be an object", id="fields-not-object"),
        pytest.param({"fields": {"visits": "2"}}, DealFieldError, "visits", id="field-type"),
        pytest.param({"stage_entered_at": "soon"}, DealError, "ISO 8601", id="bad-time"),
        pytest.param({"owner": 5}, DealError, "`owner` must be text", id="owner-not-text"),
        pytest.param({"version": -1}, DealError, "`version`", id="negative-version"),
        pytest.param(
            {"completed_actions": ["tech_exchang"]},
            UnknownActionError,
            "did you mean 'tech_exchange'",
            id="unknown-action",
        ),
        pytest.param(
            {"completed_actions": ["qualify"]},
            UnknownActionError,
            "belongs to stage 'lead'",
            id="action-of-another-stage",
        ),
        pytest.param({"completed_actions": "x"}, DealError, "completed_actions", id="actions-type"),
    ],
)
def test_bad_deals_are_refused(
    model: Playbook, changes: dict[str, Any], error: type[Exception], words: str
) -> None:
    """Each problem raises its own error class, with a message or hint that helps."""
    raw = _deal(**changes)
    before = copy.deepcopy(raw)
    with pytest.raises(error) as caught:
        as_deal(raw, model)
    assert words in str(caught.value)
    assert raw == before


def test_deal_state_is_immutable(model: Playbook) -> None:
    """Neither the state nor its field mapping can be changed in place."""
    deal = as_deal(_deal(), model)
    with pytest.raises(FrozenInstanceError):
        deal.stage = "won"  # type: ignore[misc]
    with pytest.raises(TypeError):
        deal.fields["amount"] = 1  # type: ignore[index]


def test_deal_state_copies_its_mappings() -> None:
    """A DealState does not share the caller's dict: changing that dict changes nothing."""
    fields = {"amount": Decimal(1)}
    deal = DealState("D", "p", 1, "lead", fields)
    fields["amount"] = Decimal(2)
    assert deal.fields["amount"] == Decimal(1)


def test_new_deal_starts_in_the_first_stage(model: Playbook) -> None:
    """A new deal is pinned to the playbook, in its first stage, entered at ``now``."""
    now = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)
    deal = new_deal(model, "N-1", now=now, fields={"amount": "5"}, owner="li")
    assert deal.stage == "lead"
    assert (deal.playbook_id, deal.playbook_version, deal.version) == ("engine-test", 3, 0)
    assert deal.stage_entered_at == deal.created_at == datetime(2026, 3, 2, 1, tzinfo=UTC)
    assert deal.fields == {"amount": Decimal(5)}


@pytest.mark.parametrize(
    ("roles", "error", "words"),
    [
        pytest.param(frozenset(), ActorError, "has no role", id="no-role"),
        pytest.param(frozenset({"chairman"}), ActorError, "chairman", id="undeclared-role"),
        pytest.param(frozenset({"manger"}), ActorError, "did you mean 'manager'", id="typo"),
    ],
)
def test_bad_actors_are_refused(
    model: Playbook, roles: frozenset[str], error: type[Exception], words: str
) -> None:
    """An actor needs at least one role, and only roles the playbook declares."""
    with pytest.raises(error) as caught:
        check_actor(Actor("u1", roles), model)
    assert words in str(caught.value)


def test_actor_accepts_a_single_role_string(model: Playbook) -> None:
    """``Actor("u", "rep")`` means the role rep, not the roles r, e and p."""
    actor = Actor("u1", "rep")  # type: ignore[arg-type]
    assert actor.roles == frozenset({"rep"})
    assert check_actor(actor, model) is actor


@pytest.mark.parametrize(
    ("now", "words"),
    [
        pytest.param(None, "never reads the clock", id="missing"),
        pytest.param(datetime(2026, 3, 2, 9), "no timezone", id="naive"),
        pytest.param("2026-03-02T09:00:00Z", "must be a datetime", id="text"),
    ],
)
def test_require_now(now: Any, words: str) -> None:
    """The engine's clock must be given, and aware."""
    with pytest.raises(MissingClockError, match=words):
        require_now(now)


@pytest.mark.parametrize(
    ("value", "empty"),
    [(None, True), ("", True), ((), True), ([], True), (" ", False), (0, False), (False, False)],
)
def test_is_empty_matches_has(value: Any, empty: bool) -> None:
    """Empty means what ``has()`` in conditions means: None, "" and empty lists only."""
    assert is_empty(value) is empty


def test_each_playbook_converts_with_its_own_declarations(make_playbook: PlaybookFactory) -> None:
    """Two playbooks declaring the same field differently never share converters."""
    text = """
        playbook: p
        version: 1
        title: P
        fields: {{amount: {{type: {kind}}}}}
        stages:
          - {{id: open, title: Open, entry: ["amount > 0"]}}
          - {{id: won, title: Won, outcome: won}}
        """
    as_decimal = make_playbook(text.format(kind="decimal"))
    as_integer = make_playbook(text.format(kind="integer"))
    assert coerce_fields(as_decimal, {"amount": "5"}) == {"amount": Decimal(5)}
    with pytest.raises(DealFieldError, match="whole number"):
        coerce_fields(as_integer, {"amount": "5"})
    assert coerce_fields(as_integer, {"amount": 5}) == {"amount": 5}
