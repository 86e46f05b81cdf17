"""The engine: decisions with reasons, moves, overrides, actions, next steps and hooks.

Most cases use the engine test playbook (``tests/golden/check/engine-test/playbook.yaml``):
lead → qualified → proposal → contract → won, and lost; see its header comment.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from playbook.errors import (
    ActorError,
    DealFieldError,
    EvidenceMissingError,
    MissingClockError,
    MoveBlockedError,
    OverrideError,
    PermissionDeniedError,
    PlaybookError,
    PlaybookVersionError,
    UnknownActionError,
    UnknownStageError,
)
from playbook.model import Playbook
from playbook.runtime.deals import DealState, as_deal
from playbook.runtime.decisions import REASON_CODES, ActionCompleted, Decision, StageChanged
from playbook.runtime.engine import Engine
from playbook.values import Actor

PlaybookFactory = Callable[[str], Playbook]

SHANGHAI = ZoneInfo("Asia/Shanghai")
ENTERED = "2026-03-02T09:00:00+08:00"  # a Monday
NOW = datetime(2026, 3, 4, 10, tzinfo=SHANGHAI)
PLAYBOOK_FILE = (
    Path(__file__).resolve().parents[1] / "golden" / "check" / "engine-test" / "playbook.yaml"
)

REP = Actor("li", frozenset({"rep"}))
PRESALES = Actor("zhao", frozenset({"presales"}))
MANAGER = Actor("wang", frozenset({"manager"}))


@pytest.fixture
def engine(engine_playbook: Playbook) -> Engine:
    """A fresh engine (hooks are per engine) for the engine test playbook."""
    return Engine(engine_playbook)


def deal(
    stage: str = "qualified", done: tuple[str, ...] = ("tech_exchange",), **fields: Any
) -> dict[str, Any]:
    """A deal in the JSON form: a ready qualified deal unless told otherwise.

    A field given as None is left out.
    """
    values: dict[str, Any] = {
        "amount": "200000",
        "decision_maker": "Wang",
        "industry": "energy",
        "budget_confirmed": True,
        "minutes": "notes",
    }
    values.update(fields)
    return {
        "id": "D-1",
        "playbook": "engine-test",
        "playbook_version": 3,
        "stage": stage,
        "stage_entered_at": ENTERED,
        "owner": "li",
        "fields": {key: value for key, value in values.items() if value is not None},
        "completed_actions": list(done),
        "version": 7,
    }


def _line_of(text: str) -> int:
    """The 1-based line of the first line of the engine test playbook containing ``text``."""
    lines = PLAYBOOK_FILE.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


# --- check: deals x moves -> reason codes --------------------------------------------------

MOVES = [
    pytest.param(deal(), "proposal", REP, (), id="ready"),
    pytest.param(deal(done=()), "proposal", REP, ("PB545",), id="action-open"),
    pytest.param(deal(budget_confirmed=False), "proposal", REP, ("PB546",), id="exit-false"),
    pytest.param(deal(budget_confirmed=None), "proposal", REP, ("PB546",), id="exit-null"),
    pytest.param(deal(), "proposal", PRESALES, ("PB542",), id="stage-roles"),
    pytest.param(deal(), "proposal", None, (), id="no-actor-skips-roles"),
    pytest.param(
        deal(), "proposal", Actor("x", frozenset({"presales", "rep"})), (), id="one-role-fits"
    ),
    pytest.param(deal(amount="600000"), "proposal", REP, ("PB544",), id="entry-fails"),
    pytest.param(deal(amount="600000", visits=1), "proposal", REP, (), id="entry-any-holds"),
    pytest.param(
        deal(amount="1200000", visits=2), "proposal", REP, ("PB545",), id="conditional-action"
    ),
    pytest.param(deal(competitors=["abb"]), "proposal", REP, (), id="optional-never-blocks"),
    pytest.param(
        deal(done=()), "contract", REP, ("PB541", "PB544", "PB545"), id="not-in-graph-all-reasons"
    ),
    pytest.param(deal(done=()), "qualified", REP, ("PB547",), id="already-there"),
    pytest.param(
        deal(done=(), budget_confirmed=False), "lost", REP, ("PB544",), id="lost-needs-reason"
    ),
    pytest.param(
        deal(done=(), budget_confirmed=False, lost_reason="price"),
        "lost",
        REP,
        (),
        id="lost-skips-actions-and-exit",
    ),
    pytest.param(
        deal("proposal", done=()), "qualified", REP, ("PB542", "PB543"), id="back-role-and-guard"
    ),
    pytest.param(
        deal("proposal", done=(), budget_confirmed=False),
        "qualified",
        MANAGER,
        (),
        id="back-by-manager",
    ),
    pytest.param(
        deal("proposal", done=(), amount="1200000", visits=1, margin=0.2),
        "contract",
        REP,
        ("PB542",),
        id="rule-when-holds",
    ),
    pytest.param(
        deal("proposal", done=(), margin=0.2), "contract", REP, (), id="rule-when-does-not-hold"
    ),
    pytest.param(
        deal("proposal", done=(), amount="1200000", visits=1, margin=0.1),
        "contract",
        MANAGER,
        ("PB544",),
        id="rule-passed-entry-fails",
    ),
    pytest.param(
        deal("lead", done=()), "proposal", REP, ("PB542", "PB545"), id="skip-for-managers"
    ),
    pytest.param(deal("lead", done=("qualify",)), "proposal", MANAGER, (), id="skip-by-manager"),
    pytest.param(
        deal("contract", done=(), margin=0.2),
        "won",
        REP,
        ("PB544", "PB545", "PB546"),
        id="won-needs-everything",
    ),
    pytest.param(
        deal("won", done=(), signed_on="2026-03-01"),
        "lost",
        MANAGER,
        ("PB541", "PB544"),
        id="closed-stays-closed",
    ),
]


@pytest.mark.parametrize(("raw", "to", "actor", "codes"), MOVES)
def test_check_reason_codes(
    engine: Engine, raw: dict[str, Any], to: str, actor: Actor | None, codes: tuple[str, ...]
) -> None:
    """Every reason a move is blocked is reported, in a stable order, and nothing else."""
    decision = engine.check(raw, to, actor=actor, now=NOW)
    assert decision.codes == codes
    assert decision.allowed is (not codes)
    assert (decision.deal_id, decision.to_stage) == ("D-1", to)
    assert all(REASON_CODES[r.code][1] == r.kind for r in decision.reasons)


@pytest.mark.parametrize(
    ("raw", "to", "actor", "overridable"),
    [
        pytest.param(deal(done=()), "proposal", REP, True, id="open-action"),
        pytest.param(deal(amount="600000"), "proposal", REP, True, id="entry"),
        pytest.param(deal(), "proposal", PRESALES, False, id="role"),
        pytest.param(deal(done=()), "contract", REP, False, id="graph"),
        pytest.param(deal(), "qualified", REP, False, id="same-stage"),
        pytest.param(deal(), "proposal", REP, False, id="allowed"),
    ],
)
def test_decision_overridable(
    engine: Engine, raw: dict[str, Any], to: str, actor: Actor, overridable: bool
) -> None:
    """Only failing criteria, guards and open actions can be overridden."""
    assert engine.check(raw, to, actor=actor, now=NOW).overridable is overridable


def test_entry_reason_explains_itself(engine: Engine) -> None:
    """A failing named criterion names its rule, line, failing comparisons and values."""
    decision = engine.check(deal(amount="600000"), "proposal", actor=REP, now=NOW)
    (reason,) = decision.reasons
    assert reason.code == "PB544"
    assert reason.rule == "stages[proposal].entry.site_visit"
    assert reason.line == _line_of("- id: site_visit")
    assert reason.values == {"amount": Decimal(600000), "visits": None}
    assert reason.failed == ("amount < 500000", "visits >= 1")
    assert reason.message == "cannot enter Proposal: Visit the site before the proposal."
    assert reason.messages["zh"] == "无法进入「方案」：请先完成现场勘查再出方案。"
    assert reason.overridable


@pytest.mark.parametrize(
    ("raw", "rule", "en", "zh"),
    [
        pytest.param(
            deal("lead", done=("qualify",), decision_maker=None, industry=None),
            "stages[qualified].entry[0]",
            "cannot enter Qualified: fill in Decision maker and Industry",
            "无法进入「已确认」：请填写关键决策人、行业",
            id="required-fields",
        ),
        pytest.param(
            deal("lead", done=("qualify",), amount="0"),
            "stages[qualified].entry[1]",
            "cannot enter Qualified: amount > 0 does not hold",
            "无法进入「已确认」：条件 amount > 0 不成立",
            id="plain-condition",
        ),
    ],
)
def test_unnamed_criteria_messages(
    engine: Engine, raw: dict[str, Any], rule: str, en: str, zh: str
) -> None:
    """Unnamed criteria get the id entry[N] and a message built from the condition."""
    (reason,) = engine.check(raw, "qualified", actor=REP, now=NOW).reasons
    assert (reason.rule, reason.message, reason.messages["zh"]) == (rule, en, zh)


@pytest.mark.parametrize(
    ("raw", "now", "due", "overdue", "en_end"),
    [
        pytest.param(
            deal(done=()),
            NOW,
            datetime(2026, 3, 5, 9, tzinfo=SHANGHAI),
            False,
            "; due 2026-03-05 09:00 +08:00",
            id="three-working-days",
        ),
        pytest.param(
            deal(done=()),
            datetime(2026, 3, 5, 9, 1, tzinfo=SHANGHAI),
            datetime(2026, 3, 5, 9, tzinfo=SHANGHAI),
            True,
            "; overdue since 2026-03-05 09:00 +08:00",
            id="overdue",
        ),
        pytest.param(
            {**deal(done=()), "stage_entered_at": "2026-03-05T09:00:00+08:00"},
            NOW,
            datetime(2026, 3, 11, 9, tzinfo=SHANGHAI),
            False,
            "; due 2026-03-11 09:00 +08:00",
            id="weekend-and-extra-holiday-skipped",
        ),
    ],
)
def test_open_action_reason_says_who_and_by_when(
    engine: Engine,
    raw: dict[str, Any],
    now: datetime,
    due: datetime,
    overdue: bool,
    en_end: str,
) -> None:
    """PB545 names the responsible role and the due time on the working-day calendar."""
    (reason,) = engine.check(raw, "proposal", actor=REP, now=now).reasons
    assert reason.code == "PB545"
    assert reason.roles == ("presales",)
    assert reason.role == "presales"
    assert reason.due == due
    assert reason.overdue is overdue
    assert reason.message.startswith("required action Technical exchange (Presales engineer)")
    assert reason.message.endswith(en_end)
    assert "「技术交流」（售前工程师）" in reason.messages["zh"]


def test_graph_reason_lists_the_allowed_moves(engine: Engine) -> None:
    """PB541 says where the deal can go instead, in both languages."""
    reason = engine.check(deal(), "won", actor=REP, now=NOW).reasons[0]
    assert reason.code == "PB541"
    assert reason.rule == "transitions[qualified->won]"
    assert reason.message.endswith("from Qualified a deal can go to Proposal or Lost")
    assert reason.messages["zh"].endswith("「已确认」可以推进到：方案或输单")


def test_rule_reason_carries_the_values_of_its_condition(engine: Engine) -> None:
    """A role rule that applies because of a condition shows the values that made it apply."""
    raw = deal("proposal", done=(), amount="1200000", visits=1, margin=0.2)
    (reason,) = engine.check(raw, "contract", actor=REP, now=NOW).reasons
    assert reason.rule == "transitions.rules[0]"
    assert reason.roles == ("manager",)
    assert reason.values == {"amount": Decimal(1200000)}
    assert (
        reason.message == "only Sales manager may move a deal into Contract when amount >= 1000000"
    )


def test_check_json_form(engine: Engine) -> None:
    """A decision serialises to JSON with every reason's code, message, rule, line and values."""
    decision = engine.check(deal(amount="600000", done=()), "proposal", actor=REP, now=NOW)
    data = json.loads(json.dumps(decision.to_dict("zh")))
    assert data["allowed"] is False
    assert [r["code"] for r in data["reasons"]] == ["PB544", "PB545"]
    first = data["reasons"][0]
    assert first["values"] == {"amount": "600000", "visits": None}
    assert first["message"] == first["messages"]["zh"]
    assert data["reasons"][1]["due"] == "2026-03-05T01:00:00+00:00"


def test_check_accepts_deal_states_and_objects(engine: Engine) -> None:
    """check reads a DealState or an attribute object the same as the JSON form."""
    state = as_deal(deal(done=()), engine.playbook)

    class Row:
        id = "D-1"
        stage = "qualified"
        stage_entered_at = datetime(2026, 3, 2, 1, tzinfo=UTC)
        fields = state.fields
        completed_actions: tuple[str, ...] = ()

    from_state = engine.check(state, "proposal", actor=REP, now=NOW)
    from_row = engine.check(Row(), "proposal", actor=REP, now=NOW)
    assert from_state == from_row
    assert from_state.codes == ("PB545",)


# --- advance ------------------------------------------------------------------------------


def test_advance_returns_a_new_state_and_an_event(engine: Engine) -> None:
    """The new state is in the target stage, entered now, with no actions and version + 1."""
    raw = deal()
    before = copy.deepcopy(raw)
    result = engine.advance(raw, "proposal", actor=REP, now=NOW)
    moved = result.deal
    assert moved.stage == "proposal"
    assert moved.stage_entered_at == NOW.astimezone(UTC)
    assert moved.completed_actions == {}
    assert moved.version == 8
    assert moved.fields == as_deal(raw, engine.playbook).fields
    (event,) = result.events
    assert event == StageChanged(
        "D-1", "engine-test", 3, "qualified", "proposal", "li", ("rep",), NOW.astimezone(UTC)
    )
    assert event.to_dict()["type"] == "stage_changed"
    assert result.decision is not None
    assert result.decision.allowed
    assert raw == before


def test_advance_blocked_raises_with_the_decision(engine: Engine) -> None:
    """A blocked move raises MoveBlockedError carrying every reason, and changes nothing."""
    state = as_deal(deal(done=(), budget_confirmed=False), engine.playbook)
    snapshot = state.to_dict()
    with pytest.raises(MoveBlockedError) as caught:
        engine.advance(state, "proposal", actor=REP, now=NOW)
    error = caught.value
    assert error.decision.codes == ("PB545", "PB546")
    assert error.exit_code == 1
    assert "manager may override" in (error.hint or "")
    assert state.to_dict() == snapshot


def test_override_passes_gates_and_is_recorded(engine: Engine) -> None:
    """A manager passes failing gates with a reason; the event records reason and codes."""
    raw = deal(done=(), budget_confirmed=False)
    result = engine.advance(
        raw, "proposal", actor=MANAGER, now=NOW, override="  customer signed a letter of intent "
    )
    (event,) = result.events
    assert isinstance(event, StageChanged)
    assert event.override_reason == "customer signed a letter of intent"
    assert event.overridden == ("PB545", "PB546")
    assert result.decision is not None
    assert not result.decision.allowed
    assert result.deal.stage == "proposal"


def test_override_on_an_allowed_move_records_nothing(engine: Engine) -> None:
    """When nothing fails, an override reason is not recorded as an override."""
    result = engine.advance(deal(), "proposal", actor=MANAGER, now=NOW, override="just in case")
    (event,) = result.events
    assert isinstance(event, StageChanged)
    assert (event.override_reason, event.overridden) == (None, ())


@pytest.mark.parametrize(
    ("raw", "to", "code"),
    [
        pytest.param(deal(done=()), "contract", "PB541", id="graph"),
        pytest.param(deal(), "qualified", "PB547", id="same-stage"),
    ],
)
def test_override_never_passes_graph_or_same_stage(
    engine: Engine, raw: dict[str, Any], to: str, code: str
) -> None:
    """PB541 and PB547 stay blocking whatever the override reason."""
    with pytest.raises(MoveBlockedError) as caught:
        engine.advance(raw, to, actor=MANAGER, now=NOW, override="because")
    assert code in caught.value.decision.codes
    assert "an override passes failing criteria, guards and open actions" in (
        caught.value.hint or ""
    )


def test_override_never_passes_a_role_restriction(make_playbook: PlaybookFactory) -> None:
    """Even an override role cannot move a deal into a stage reserved for other roles."""
    model = make_playbook(
        """
        playbook: roles
        version: 1
        title: Roles
        roles: {rep: {}, boss: {}}
        stages:
          - {id: open, title: Open}
          - {id: signed, title: Signed, roles: [rep], entry: ["true"]}
          - {id: won, title: Won, outcome: won}
        overrides: {roles: [boss]}
        """
    )
    boss = Actor("b", frozenset({"boss"}))
    raw = {"id": "R", "stage": "open"}
    decision = Engine(model).check(raw, "signed", actor=boss, now=NOW)
    assert (decision.codes, decision.overridable) == (("PB542",), False)
    with pytest.raises(MoveBlockedError):
        Engine(model).advance(raw, "signed", actor=boss, now=NOW, override="I am the boss")


def test_override_passes_a_failing_guard(engine: Engine) -> None:
    """A guard (PB543) blocks the manager's backward move until overridden with a reason."""
    raw = deal("proposal", done=())
    with pytest.raises(MoveBlockedError) as caught:
        engine.advance(raw, "qualified", actor=MANAGER, now=NOW)
    assert caught.value.decision.codes == ("PB543",)
    moved = engine.advance(raw, "qualified", actor=MANAGER, now=NOW, override="rework the scope")
    assert moved.deal.stage == "qualified"
    assert moved.events[0] == StageChanged(
        "D-1",
        "engine-test",
        3,
        "proposal",
        "qualified",
        "wang",
        ("manager",),
        NOW.astimezone(UTC),
        "rework the scope",
        ("PB543",),
    )


# --- complete_action ----------------------------------------------------------------------


def test_complete_action_records_evidence(engine: Engine) -> None:
    """Evidence is converted to the field's type, stored on the deal and in the record."""
    raw = deal(done=(), minutes=None)
    before = copy.deepcopy(raw)
    result = engine.complete_action(
        raw, "tech_exchange", actor=PRESALES, now=NOW, evidence="Minutes of 3 March"
    )
    updated = result.deal
    assert updated.fields["minutes"] == "Minutes of 3 March"
    record = updated.completed_actions["tech_exchange"]
    assert (record.by, record.at, record.evidence) == (
        "zhao",
        NOW.astimezone(UTC),
        "Minutes of 3 March",
    )
    assert updated.version == 8
    assert updated.stage == "qualified"
    assert result.events == (
        ActionCompleted(
            "D-1", "qualified", "tech_exchange", "zhao", NOW.astimezone(UTC), "Minutes of 3 March"
        ),
    )
    assert raw == before
    assert engine.check(updated, "proposal", actor=REP, now=NOW).allowed


def test_complete_action_uses_evidence_already_on_the_deal(engine: Engine) -> None:
    """An evidence field already filled is enough."""
    result = engine.complete_action(deal(done=()), "tech_exchange", actor=PRESALES, now=NOW)
    assert result.deal.completed_actions["tech_exchange"].evidence == "notes"


def test_complete_action_without_evidence_field(engine: Engine) -> None:
    """An action without an evidence field keeps whatever evidence is given in its record."""
    raw = deal("lead", done=())
    result = engine.complete_action(raw, "qualify", actor=REP, now=NOW, evidence={"call": 1})
    assert result.deal.completed_actions["qualify"].evidence == {"call": 1}
    assert result.deal.fields == as_deal(raw, engine.playbook).fields


@pytest.mark.parametrize("change", ["advance", "complete_action"])
def test_changes_keep_what_they_do_not_touch(engine: Engine, change: str) -> None:
    """The id, playbook pin, owner, team and times other than the stage entry carry over."""
    raw = {
        **deal(done=() if change == "complete_action" else ("tech_exchange",)),
        "team": "east",
        "created_at": "2026-02-01T09:00:00+08:00",
        "last_activity_at": "2026-03-03T11:00:00+08:00",
    }
    state = as_deal(raw, engine.playbook)
    if change == "advance":
        after = engine.advance(state, "proposal", actor=REP, now=NOW).deal
    else:
        after = engine.complete_action(state, "tech_exchange", actor=PRESALES, now=NOW).deal
    kept = ("id", "playbook_id", "playbook_version", "owner", "team", "created_at")
    assert [getattr(after, name) for name in kept] == [getattr(state, name) for name in kept]
    assert after.last_activity_at == state.last_activity_at
    assert after.version == state.version + 1


# --- errors: each raises its class, and nothing is half-applied -------------------------------

ERRORS = [
    pytest.param(
        "check", deal(amount="lots"), {"to_stage": "proposal"}, DealFieldError, id="field-type"
    ),
    pytest.param("check", deal(), {"to_stage": "propsal"}, UnknownStageError, id="unknown-target"),
    pytest.param(
        "check", deal("qualifyed"), {"to_stage": "proposal"}, UnknownStageError, id="stage"
    ),
    pytest.param(
        "check",
        {**deal(), "playbook_version": 2},
        {"to_stage": "proposal"},
        PlaybookVersionError,
        id="other-version",
    ),
    pytest.param(
        "check", deal(), {"to_stage": "proposal", "now": None}, MissingClockError, id="no-now"
    ),
    pytest.param(
        "check",
        deal(),
        {"to_stage": "proposal", "now": datetime(2026, 3, 4, 10)},
        MissingClockError,
        id="naive-now",
    ),
    pytest.param(
        "advance",
        deal(),
        {"to_stage": "proposal", "actor": Actor("x", frozenset({"cfo"}))},
        ActorError,
        id="undeclared-role",
    ),
    pytest.param(
        "advance", deal(), {"to_stage": "proposal", "actor": None}, ActorError, id="no-actor"
    ),
    pytest.param(
        "complete_action",
        deal(done=()),
        {"action_id": "tech_exchang", "actor": PRESALES},
        UnknownActionError,
        id="unknown-action",
    ),
    pytest.param(
        "complete_action",
        deal(done=(), minutes=None),
        {"action_id": "tech_exchange", "actor": PRESALES},
        EvidenceMissingError,
        id="evidence-missing",
    ),
    pytest.param(
        "complete_action",
        deal(done=(), minutes=None),
        {"action_id": "tech_exchange", "actor": PRESALES, "evidence": ""},
        EvidenceMissingError,
        id="evidence-empty",
    ),
    pytest.param(
        "complete_action",
        deal("contract", done=()),
        {"action_id": "sign", "actor": REP, "evidence": "X-1"},
        DealFieldError,
        id="evidence-wrong-type",
    ),
    pytest.param(
        "complete_action",
        deal(done=()),
        {"action_id": "tech_exchange", "actor": REP},
        PermissionDeniedError,
        id="wrong-role-for-action",
    ),
    pytest.param(
        "advance",
        deal(done=()),
        {"to_stage": "proposal", "actor": MANAGER, "override": "  "},
        OverrideError,
        id="override-without-reason",
    ),
    pytest.param(
        "advance",
        deal(done=()),
        {"to_stage": "proposal", "actor": REP, "override": "please"},
        OverrideError,
        id="override-by-wrong-role",
    ),
    pytest.param(
        "advance",
        deal(done=()),
        {"to_stage": "proposal", "actor": REP},
        MoveBlockedError,
        id="blocked",
    ),
]


@pytest.mark.parametrize(("method", "raw", "arguments", "error"), ERRORS)
def test_errors_leave_the_deal_unchanged(
    engine: Engine,
    method: str,
    raw: dict[str, Any],
    arguments: dict[str, Any],
    error: type[PlaybookError],
) -> None:
    """Bad input raises its own PlaybookError subclass and the input deal is untouched."""
    before = copy.deepcopy(raw)
    call: dict[str, Any] = {"actor": REP, "now": NOW, **arguments}
    with pytest.raises(error) as caught:
        getattr(engine, method)(raw, **call)
    assert isinstance(caught.value, PlaybookError)
    assert caught.value.code.startswith("PB5")
    assert raw == before


def test_errors_on_a_deal_state_leave_it_unchanged(engine: Engine) -> None:
    """The same holds for a DealState: a failed call leaves it equal to its snapshot."""
    state = as_deal(deal(done=(), minutes=None), engine.playbook)
    snapshot = state.to_dict()
    with pytest.raises(EvidenceMissingError):
        engine.complete_action(state, "tech_exchange", actor=PRESALES, now=NOW)
    with pytest.raises(OverrideError):
        engine.advance(state, "proposal", actor=REP, now=NOW, override="x")
    assert state.to_dict() == snapshot


def test_unknown_action_hints(engine: Engine) -> None:
    """An action of another stage is named as such; a typo gets a did-you-mean."""
    with pytest.raises(UnknownActionError, match="belongs to stage 'lead'"):
        engine.complete_action(deal(), "qualify", actor=REP, now=NOW)
    with pytest.raises(UnknownActionError, match="did you mean 'tech_exchange'"):
        engine.complete_action(deal(), "tech_exchang", actor=PRESALES, now=NOW)


# --- next steps ---------------------------------------------------------------------------


def test_next_steps(engine: Engine) -> None:
    """Open actions with due times, what the next stage misses, and the moves available."""
    raw = deal(done=(), amount="1200000")
    steps = engine.next_steps(raw, now=datetime(2026, 3, 6, 10, tzinfo=SHANGHAI))
    assert steps.stage == "qualified"
    open_actions = {a.action.id: (a.due, a.overdue) for a in steps.open_actions}
    assert open_actions == {
        "tech_exchange": (datetime(2026, 3, 5, 9, tzinfo=SHANGHAI), True),
        "big_deal_review": (datetime(2026, 3, 7, 9, tzinfo=SHANGHAI), False),
    }
    (missing,) = steps.missing_for_next
    assert missing.stage == "proposal"
    assert missing.fields == ("visits",)
    assert [r.code for r in missing.failing] == ["PB544"]
    available = {m.target: (m.allowed, [r.code for r in m.reasons]) for m in steps.available}
    assert available == {
        "proposal": (False, ["PB544", "PB545", "PB545"]),
        "lost": (False, ["PB544"]),
    }
    data = json.loads(json.dumps(steps.to_dict("zh")))
    assert data["open_actions"][0]["title"] == "技术交流"


def test_next_steps_checks_roles_only_with_an_actor(engine: Engine) -> None:
    """With an actor, the available moves also say who may not make them."""
    raw = deal("proposal", done=(), budget_confirmed=False, margin=0.2)
    anyone = {m.target: m.allowed for m in engine.next_steps(raw, now=NOW).available}
    presales = engine.next_steps(raw, now=NOW, actor=PRESALES)
    assert anyone == {"qualified": True, "contract": True, "lost": False}
    assert {m.target: m.allowed for m in presales.available} == {
        "qualified": False,
        "contract": False,
        "lost": False,
    }


def test_next_steps_in_a_final_stage(engine: Engine) -> None:
    """A won deal has nothing to do and nowhere to go."""
    steps = engine.next_steps(deal("won", done=(), signed_on="2026-03-01"), now=NOW)
    assert (steps.open_actions, steps.missing_for_next, steps.available) == ((), (), ())


# --- hooks --------------------------------------------------------------------------------


def test_hooks_run_on_advance_in_order(engine: Engine) -> None:
    """Exit callbacks of the old stage run before enter callbacks of the new one."""
    calls: list[tuple[str, str, str]] = []
    engine.on_exit(
        "qualified", lambda change, d: calls.append(("exit", change.from_stage, d.stage))
    )
    engine.on_enter("proposal", lambda change, d: calls.append(("enter", change.to_stage, d.stage)))
    engine.on_enter("lost", lambda change, d: calls.append(("enter", "lost", d.stage)))
    engine.advance(deal(), "proposal", actor=REP, now=NOW)
    assert calls == [("exit", "qualified", "proposal"), ("enter", "proposal", "proposal")]


def test_check_runs_no_hook(engine: Engine) -> None:
    """check is pure: no callback runs, not even for a blocked move."""
    calls: list[str] = []
    engine.on_enter("proposal", lambda change, d: calls.append("enter"))
    engine.on_blocked(lambda decision, d: calls.append("blocked"))
    engine.check(deal(), "proposal", actor=REP, now=NOW)
    engine.check(deal(done=()), "proposal", actor=REP, now=NOW)
    assert calls == []


def test_blocked_hook_sees_the_decision(engine: Engine) -> None:
    """on_blocked callbacks get the decision and the unchanged deal before the error."""
    seen: list[tuple[Decision, DealState]] = []
    engine.on_blocked(lambda decision, d: seen.append((decision, d)))
    with pytest.raises(MoveBlockedError):
        engine.advance(deal(done=()), "proposal", actor=REP, now=NOW)
    ((decision, state),) = seen
    assert decision.codes == ("PB545",)
    assert state.stage == "qualified"


def test_hooks_need_a_known_stage(engine: Engine) -> None:
    """A hook on a stage the playbook does not have is refused at registration."""
    with pytest.raises(UnknownStageError, match="did you mean 'proposal'"):
        engine.on_enter("proposl", lambda change, d: None)


def test_one_machine_serves_every_deal(engine: Engine) -> None:
    """Advancing many deals binds no model to the engine's state machine (O(1) per deal)."""
    machine = engine._machine
    for number in range(200):
        engine.advance({**deal(), "id": f"D-{number}"}, "proposal", actor=REP, now=NOW)
    assert machine.models == []
    assert engine._machine is machine
