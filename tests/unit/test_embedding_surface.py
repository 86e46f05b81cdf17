"""The embedding surface (issue #13): strict deals, a typed and portable API, the fast path.

Each test reproduces one defect a backend developer met with their own
dataclass, attrs and Pydantic deals under ``mypy --strict``.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import pytest

import playbook
from playbook import errors
from playbook.conditions import FieldType, parse_condition, to_python
from playbook.diagnostics import Diagnostic
from playbook.errors import ActorError, DealFieldError, MoveBlockedError, PlaybookError
from playbook.model import Playbook
from playbook.runtime.deals import as_deal
from playbook.runtime.decisions import Decision
from playbook.runtime.engine import Engine
from playbook.store.repository import StoredDeal
from playbook.values import Actor, FrozenMap

NOW = datetime(2026, 3, 4, 2, tzinfo=UTC)
ENTERED = datetime(2026, 3, 2, 1, tzinfo=UTC)
REP = Actor("li", "rep")
MANAGER = Actor("wang", "manager")


@pytest.fixture
def engine(engine_playbook: Playbook) -> Engine:
    """An engine for the engine test playbook (tests/golden/check/engine-test)."""
    return Engine(engine_playbook)


def _stored(**changes: Any) -> StoredDeal:
    values: dict[str, Any] = {
        "id": 7,
        "external_id": "D-7",
        "playbook_id": "engine-test",
        "playbook_version": 3,
        "stage": "qualified",
        "owner": "li",
        "team": None,
        "manager": None,
        "region": None,
        "fields": {
            "amount": "200000",
            "decision_maker": "Wang",
            "industry": "energy",
            "budget_confirmed": True,
            "minutes": "notes",
        },
        "actions": {"tech_exchange": {"by": "zhao", "at": ENTERED.isoformat(), "evidence": "x"}},
        "created_at": ENTERED,
        "updated_at": ENTERED,
        "updated_by": "li",
        "stage_entered_at": ENTERED,
        "last_activity_at": None,
        "closed_at": None,
        "version": 3,
    }
    values.update(changes)
    return StoredDeal(**values)


# --- strict deals ------------------------------------------------------------------------


def test_a_stored_deal_is_read_with_its_ref_and_its_completed_actions(engine: Engine) -> None:
    """StoredDeal.id is the store's integer: the engine reads the ref and the done actions."""
    decision = engine.check(_stored(), "proposal", actor=REP, now=NOW)
    assert decision.allowed, decision.codes
    assert decision.deal_id == "D-7"
    moved = engine.advance(_stored(), "proposal", actor=REP, now=NOW)
    assert (moved.deal.id, moved.deal.version, moved.deal.stage) == ("D-7", 4, "proposal")


@dataclass
class _Deal:
    id: str
    stage: str
    amount: Decimal | None = None
    budget_confirmd: bool | None = None  # the typo of the issue


@attrs.define
class _AttrsDeal:
    id: str
    stage: str
    industri: str | None = None


class _PydanticShaped:
    """What a Pydantic v2 model shows the engine: its class's ``model_fields``."""

    model_fields: ClassVar[dict[str, object]] = {"id": None, "stage": None, "decison_maker": None}

    def __init__(self) -> None:
        self.id, self.stage, self.decison_maker = "D-3", "qualified", "Wang"


@pytest.mark.parametrize(
    ("deal", "wrong", "meant"),
    [
        pytest.param(
            _Deal("D-1", "qualified", budget_confirmd=True),
            "budget_confirmd",
            "budget_confirmed",
            id="dataclass",
        ),
        pytest.param(_AttrsDeal("D-2", "qualified", "energy"), "industri", "industry", id="attrs"),
        pytest.param(_PydanticShaped(), "decison_maker", "decision_maker", id="pydantic"),
        pytest.param(
            {"id": "D-4", "stage": "qualified", "fields": {"budget_confirmd": True}},
            "budget_confirmd",
            "budget_confirmed",
            id="fields-mapping",
        ),
    ],
)
def test_an_undeclared_field_is_refused_with_a_did_you_mean(
    engine: Engine, engine_playbook: Playbook, deal: object, wrong: str, meant: str
) -> None:
    """A misspelt field in any deal shape is an error naming it, never silently ignored."""
    for call in (
        lambda: engine.check(deal, "proposal", actor=REP, now=NOW),  # type: ignore[arg-type]
        lambda: engine.next_steps(deal, now=NOW),  # type: ignore[arg-type]
        lambda: as_deal(deal, engine_playbook),  # type: ignore[arg-type]
    ):
        with pytest.raises(DealFieldError, match=wrong) as caught:
            call()
        assert meant in (caught.value.hint or "")
    lenient = Engine(engine_playbook, strict=False)
    assert lenient.check(deal, "proposal", actor=REP, now=NOW).from_stage == "qualified"  # type: ignore[arg-type]


def test_a_declared_dataclass_is_read_through_the_protocol(engine: Engine) -> None:
    """The developer's own dataclass: field values from attributes, like the JSON form."""

    @dataclass
    class Mine:
        id: str
        stage: str
        amount: Decimal
        decision_maker: str
        industry: str

    mine = Mine("D-9", "lead", Decimal(5), "Wang", "energy")
    json_form = {
        "id": "D-9",
        "stage": "lead",
        "fields": {"amount": "5", "decision_maker": "Wang", "industry": "energy"},
    }
    assert engine.check(mine, "qualified", actor=None, now=NOW) == engine.check(
        json_form, "qualified", actor=None, now=NOW
    )


@pytest.mark.parametrize("bad_id", [None, "", "   ", 7])
def test_an_actor_id_is_non_empty_text(bad_id: Any) -> None:
    """Actor(None) used to be accepted (and leaked IntegrityError from the store)."""
    with pytest.raises(ActorError, match="non-empty text"):
        Actor(bad_id, "rep")


@pytest.mark.parametrize(
    "roles", ["rep", ["rep", "manager"], ("rep",), {"rep"}, frozenset({"rep"}), iter(["rep"])]
)
def test_roles_are_a_string_or_any_iterable(roles: Any) -> None:
    """Actor("x", "sales_rep") as documented, and any iterable of role ids."""
    assert "rep" in Actor("x", roles).roles


@pytest.mark.parametrize("roles", [[], "", [""], [None], 5])
def test_roles_must_be_role_ids(roles: Any) -> None:
    """No role, an empty role or a non-text role is refused."""
    with pytest.raises(ActorError):
        Actor("x", roles)


# --- a portable surface ----------------------------------------------------------------


def _results(engine: Engine) -> list[object]:
    blocked = {
        "id": "D-1",
        "stage": "qualified",
        "stage_entered_at": ENTERED.isoformat(),
        "fields": {"amount": "2000000"},
    }
    decision = engine.check(blocked, "proposal", actor=REP, now=NOW)
    assert {"PB544", "PB545", "PB546"} <= set(decision.codes)  # deadlines included
    ready = as_deal(_stored().deal_form(), engine.playbook)
    moved = engine.advance(ready, "proposal", actor=REP, now=NOW)
    presales = Actor("zhao", "presales")
    done = engine.complete_action(ready, "tech_exchange", actor=presales, now=NOW, evidence="v2")
    steps = engine.next_steps(blocked, now=NOW, actor=REP)
    allowed = engine.check(ready, "proposal", actor=REP, now=NOW)
    return [
        decision,
        allowed,
        *decision.reasons,
        moved,
        *moved.events,
        done,
        *done.events,
        steps,
        *steps.open_actions,
        *steps.missing_for_next,
        *steps.available,
        ready,
        REP,
        FrozenMap({"a": 1}),
        Decision(False, "D-1", "lead", "won"),
    ]


def test_every_result_pickles_and_deep_copies(engine: Engine) -> None:
    """Results cross processes and copy (no mappingproxy inside), and stay equal."""
    for result in _results(engine):
        for copied in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result)):
            assert type(copied) is type(result)
            assert copied == result, type(result).__name__
            if hasattr(result, "to_dict"):
                assert copied.to_dict() == result.to_dict()


def _every_error() -> list[PlaybookError]:
    made = []
    for name in errors.__all__:
        cls = getattr(errors, name)
        if name == "MoveBlockedError":
            made.append(cls("blocked", Decision(False, "D-1", "a", "b"), hint="h"))
        elif name == "HookFailedError":
            failures = [ValueError("the hook failed")]
            made.append(cls("stored, a hook raised", deal="D-1", result=None, failures=failures))
        elif name == "InvalidPlaybookError":
            found = Diagnostic("p.yaml", 4, 1, "error", "PB301", "unknown stage")
            made.append(cls("p.yaml is not valid", [found], file="p.yaml"))
        else:
            made.append(cls(f"{name} happened", hint="do this", line=3, details={"k": [1]}))
    return made


@pytest.mark.parametrize("error", _every_error(), ids=lambda e: type(e).__name__)
def test_every_error_pickles_and_deep_copies(error: PlaybookError) -> None:
    """An error keeps its code, message, hint, position and details across pickle and copy."""
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is type(error)
        assert (str(copied), copied.to_dict()) == (str(error), error.to_dict())
        if isinstance(error, MoveBlockedError):
            assert copied.decision == error.decision  # type: ignore[attr-defined]
        if isinstance(error, errors.InvalidPlaybookError):
            assert copied.diagnostics == error.diagnostics  # type: ignore[attr-defined]


def test_a_blocked_move_error_from_the_engine_pickles(engine: Engine) -> None:
    """MoveBlockedError carries the engine's decision: it pickles with its reasons."""
    with pytest.raises(MoveBlockedError) as caught:
        engine.advance({"id": "D-1", "stage": "qualified"}, "proposal", actor=REP, now=NOW)
    copied = pickle.loads(pickle.dumps(caught.value))
    assert copied.decision == caught.value.decision
    assert copied.decision.codes == caught.value.decision.codes


def test_no_error_is_a_key_error() -> None:
    """KeyError quotes its message and invites `except KeyError` mistakes; LookupError it is."""
    subclasses = [name for name in errors.__all__ if issubclass(getattr(errors, name), KeyError)]
    assert subclasses == []
    assert issubclass(errors.UnknownStageError, LookupError)


DOCUMENTED = [
    "as_deal",
    "new_deal",
    "StoredDeal",
    "AvailableMove",
    "OpenAction",
    "Deadline",
    "REASON_CODES",
    "MissingForStage",
    "DealState",
    "Decision",
    "Reason",
    "DealLike",
    "Engine",
    "Actor",
    "Advance",
    "NextSteps",
    "StageChanged",
    "ActionCompleted",
]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_names_are_exported(name: str) -> None:
    """The names docs/embedding.md uses come from `playbook` itself."""
    assert name in playbook.__all__
    assert getattr(playbook, name) is not None


# --- the fast path ---------------------------------------------------------------------


def test_an_allowed_decision_builds_no_reasons(engine: Engine) -> None:
    """An allowed decision holds the one shared empty tuple: nothing is built per deal."""
    ready = as_deal(_stored().deal_form(), engine.playbook)
    first = engine.check(ready, "proposal", actor=REP, now=NOW)
    second = engine.check(ready, "proposal", actor=REP, now=NOW)
    assert first.allowed
    assert first.reasons is second.reasons == ()


def test_reasons_are_the_same_whenever_they_are_read(engine: Engine) -> None:
    """Reasons worked out later equal those of a decision read at once."""
    deal = {"id": "D-1", "stage": "qualified", "fields": {"amount": "2000000"}}
    late = engine.check(deal, "proposal", actor=REP, now=NOW)
    early = engine.check(deal, "proposal", actor=REP, now=NOW)
    codes = early.codes
    assert late.reasons == early.reasons
    assert late.codes == codes


def test_generated_code_holds_no_text_from_the_playbook() -> None:
    """Field names and literals are bound variables: code-like text stays a plain value."""
    fields = {"note": FieldType("string")}
    sneaky = "x') or True or ('"
    condition = parse_condition(f"note == {sneaky!r}", fields)
    predicate = to_python(condition.expr if hasattr(condition, "expr") else condition)
    assert predicate({"note": sneaky}) is True
    assert predicate({"note": "x"}) is False
    code = predicate.__code__  # type: ignore[attr-defined]
    assert sneaky not in code.co_consts
    assert "note" not in code.co_consts
    assert all(name.startswith("_") or name == "get" for name in code.co_names)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"amount": "2000000"},
        {"amount": "200000", "decision_maker": "Wang", "industry": "energy"},
        {"amount": "200000", "budget_confirmed": True, "visits": 2, "competitors": ["abb"]},
        {"amount": "0", "budget_confirmed": False, "industry": "chemicals", "margin": 0.5},
    ],
)
@pytest.mark.parametrize("actor", [None, REP, MANAGER])
def test_allowed_exactly_when_no_reason(
    engine: Engine, engine_playbook: Playbook, fields: dict[str, Any], actor: Actor | None
) -> None:
    """The fast answer (one generated function per gate) and the reasons always agree."""
    stages = [stage.id for stage in engine_playbook.stages]
    for source in stages:
        for done in ((), ("tech_exchange",) if source == "qualified" else ()):
            deal = {
                "id": "D-1",
                "stage": source,
                "stage_entered_at": ENTERED.isoformat(),
                "fields": fields,
                "completed_actions": list(done),
            }
            for target in stages:
                decision = engine.check(deal, target, actor=actor, now=NOW)
                fresh = engine.check(deal, target, actor=actor, now=NOW)
                assert decision.allowed == (fresh.reasons == ()), (source, target)
                assert decision.overridable == fresh.overridable


def test_generated_source_holds_only_generated_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text given to ``compile`` has no quote, no field name and no value of the playbook."""
    from playbook.conditions import codegen

    sources: list[str] = []
    compiled = codegen._code.__wrapped__

    def spy(source: str, function: str) -> Any:
        sources.append(source)
        return compiled(source, function)

    monkeypatch.setattr(codegen, "_code", spy)
    fields = {"note_x": FieldType("string"), "size_y": FieldType("number")}
    sneaky = "x') or __import__('os') or ('"
    texts = [
        f"note_x == {sneaky!r}",
        f"note_x in [{sneaky!r}, 'b'] and size_y >= 3.5",
        "not has(note_x) or size_y < -2",
    ]
    for text in texts:
        codegen.compile_predicate(parse_condition(text, fields))
    codegen.compile_failing([parse_condition(text, fields) for text in texts])
    # A decision table's rows: each field read once into a local, in a closure.
    codegen.compile_first([parse_condition(text, fields) for text in texts])
    codegen.compile_matching([parse_condition(text, fields) for text in texts])
    assert len(sources) == len(texts) + 3
    for source in sources:
        assert not set("'\"\\") & set(source), source
        assert all(text not in source for text in ("note_x", "size_y", "3.5")), source
