"""Scenario files: strict reading with positions, running steps, escalations due at a time."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from playbook.authoring.scenario_files import read_scenarios
from playbook.authoring.scenarios import due_escalations, rule_paths, run_scenario
from playbook.definition.validate import load
from playbook.errors import ScenarioError
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import as_deal
from playbook.runtime.engine import Engine

REPO = Path(__file__).resolve().parents[2]
B2B = REPO / "playbooks" / "b2b-project-sales.yaml"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "case.test.yaml"
    header = f"playbook: {B2B}\nscenarios:\n"
    path.write_text(header + textwrap.indent(textwrap.dedent(body), "  "), encoding="utf-8")
    return path


GOOD_HEAD = """\
- name: probe
  now: "2026-03-02T10:00:00+08:00"
"""


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        (
            GOOD_HEAD + "  steps:\n    - check: solutoin\n      expect: {allowed: false}\n",
            6,
            "unknown stage 'solutoin'",
        ),
        (
            GOOD_HEAD + "  deal: {fields: {amout: 1}}\n  steps:\n    - log: call\n",
            5,
            "unknown field 'amout'",
        ),
        (
            GOOD_HEAD + "  steps:\n    - complete: sign_contrakt\n      as: sales_rep\n",
            6,
            "unknown action 'sign_contrakt'",
        ),
        (
            GOOD_HEAD + "  steps:\n    - advance: initial_contact\n      as: chairman\n",
            7,
            "unknown role 'chairman'",
        ),
        (
            GOOD_HEAD
            + "  steps:\n    - check: lost\n"
            + "      expect: {allowed: false, rules: [no_such_rule]}\n",
            7,
            "unknown rule 'no_such_rule'",
        ),
        (
            GOOD_HEAD + '  steps:\n    - sweep: "2026-04-01T10:00:00+08:00"\n'
            "      expect: {fire: [follow_up_16]}\n",
            7,
            "unknown escalation rule 'follow_up_16'",
        ),
        (GOOD_HEAD + "  steps:\n    - check: lost\n", 6, "needs `expect`"),
        (GOOD_HEAD + "  steps:\n    - jump: lost\n", 6, "unknown key 'jump'"),
        ("- name: no time\n  steps:\n    - log: call\n", 3, "needs `now`"),
        (GOOD_HEAD + "  deal: {fields: {amount: lots}}\n  steps:\n    - log: call\n", 5, "amount"),
    ],
)
def test_bad_scenarios_name_the_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    """Anything the playbook does not define is a ScenarioError at its line in the file."""
    path = _write(tmp_path, body)
    with pytest.raises(ScenarioError) as caught:
        read_scenarios(path)
    assert caught.value.line == line, caught.value
    assert words in caught.value.message
    assert caught.value.file == str(path)


def test_a_failing_step_reports_expected_and_actual(tmp_path: Path) -> None:
    """A step whose expectation does not hold fails with its line, expected and actual."""
    path = _write(
        tmp_path,
        GOOD_HEAD + "  steps:\n    - log: call\n    - check: initial_contact\n"
        "      expect: {allowed: true}\n",
    )
    scenarios = read_scenarios(path)
    result = run_scenario(scenarios.scenarios[0], Engine(scenarios.playbook))
    assert not result.passed
    assert result.failed_line == 7
    assert result.expected == "allowed"
    assert result.actual is not None
    assert "PB544" in result.actual


@pytest.mark.parametrize(
    ("step", "passes"),
    [
        ("- advance: lost\n      as: sales_rep\n      expect: {error: PB540}", True),
        ("- advance: lost\n      as: sales_rep", False),
        ("- complete: first_visit\n      as: sales_rep\n      expect: {error: PB520}", True),
        ("- complete: first_visit\n      as: sales_rep", False),
        ("- complete: grade_customer\n      as: presales\n      expect: {error: PB530}", True),
        ("- complete: grade_customer\n      as: sales_rep\n      expect: {error: PB521}", True),
    ],
)
def test_expected_errors(tmp_path: Path, step: str, passes: bool) -> None:
    """``expect.error`` passes only when the step raises exactly that code."""
    path = _write(tmp_path, GOOD_HEAD + "  steps:\n    " + step + "\n")
    scenarios = read_scenarios(path)
    result = run_scenario(scenarios.scenarios[0], Engine(scenarios.playbook))
    assert result.passed is passes, result.failure


def test_rule_paths_match_the_engine_reasons() -> None:
    """Every rule a blocked decision names is one of the playbook's rule paths."""
    playbook = load(B2B)
    known = rule_paths(playbook)
    deal = as_deal({"id": "d", "stage": "contract"}, playbook)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    decision = Engine(playbook).check(deal, "delivery", actor=None, now=now)
    assert decision.reasons
    assert {reason.rule for reason in decision.reasons} <= set(known)


@pytest.mark.parametrize(
    ("stage", "fields", "activity", "now", "fired"),
    [
        (
            "needs_analysis",
            {"amount": "5"},
            "2026-03-01T09:00:00+08:00",
            "2026-03-17T10:00:00+08:00",
            {"follow_up_15": 1},
        ),
        (
            "needs_analysis",
            {"amount": "5"},
            "2026-03-10T09:00:00+08:00",
            "2026-03-17T10:00:00+08:00",
            {},
        ),
        (
            "contract",
            {"amount": "5"},
            "2026-03-30T09:00:00+08:00",
            "2026-04-01T10:00:00+08:00",
            {"judge_intent_30": 1},
        ),
        (
            "solution",
            {"amount": "2000000"},
            "2026-04-08T09:00:00+08:00",
            "2026-04-09T10:00:00+08:00",
            {"judge_intent_30_large": 2},
        ),
        (
            "lost",
            {"lost_reason": "price"},
            "2026-01-01T09:00:00+08:00",
            "2026-06-01T10:00:00+08:00",
            {},
        ),
        (
            "quote_negotiation",
            {"expected_close": "2026-03-31"},
            "2026-03-30T09:00:00+08:00",
            "2026-04-01T10:00:00+08:00",
            {"close_date_passed": 1},
        ),
    ],
)
def test_escalations_due(
    stage: str, fields: dict[str, str], activity: str, now: str, fired: dict[str, int]
) -> None:
    """Rules fire by stage, ``when``, anchor and level delays on the working calendar."""
    playbook = load(B2B)
    deal = as_deal(
        {
            "id": "d",
            "stage": stage,
            "fields": fields,
            "stage_entered_at": "2026-03-02T09:00:00+08:00",
            "last_activity_at": activity,
        },
        playbook,
    )
    calendar = WorkingCalendar.from_playbook(playbook)
    due = due_escalations(playbook, calendar, deal, datetime.fromisoformat(now))
    assert {item.escalation.id: item.levels for item in due} == fired


def _with_kinds(tmp_path: Path, step: str) -> Path:
    """A copy of the b2b sample that declares its own activity kinds, and one scenario."""
    text = B2B.read_text(encoding="utf-8").replace(
        "\nstages:",
        "\nactivity_kinds: {wechat: {title: 微信}, site_visit: {title: 现场拜访}}\nstages:",
        1,
    )
    (tmp_path / "kinds.yaml").write_text(text, encoding="utf-8")
    path = tmp_path / "kinds.test.yaml"
    path.write_text(f"playbook: kinds.yaml\nscenarios:\n{textwrap.indent(GOOD_HEAD, '  ')}"
                    f"    steps:\n      - log: {step}\n", encoding="utf-8")  # fmt: skip
    return path


def test_log_steps_take_the_playbook_activity_kinds(tmp_path: Path) -> None:
    """``log:`` accepts a kind the playbook declares, as ``deals log`` does, and runs."""
    scenarios = read_scenarios(_with_kinds(tmp_path, "wechat"))
    assert scenarios.playbook.activity_ids == ("wechat", "site_visit")
    assert run_scenario(scenarios.scenarios[0], Engine(scenarios.playbook)).passed


def test_log_steps_refuse_a_built_in_kind_the_playbook_does_not_declare(tmp_path: Path) -> None:
    """A playbook with its own kinds has no ``call``: the hint lists the kinds it declares."""
    with pytest.raises(ScenarioError) as caught:
        read_scenarios(_with_kinds(tmp_path, "call"))
    assert "unknown activity 'call'" in caught.value.message
    assert caught.value.hint == "log one of: wechat, site_visit"
