"""The JSON Schema of the playbook format and the diagnostics made from its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from playbook.definition import schema
from playbook.definition.loader import Document, iter_paths, read_document, read_text
from playbook.definition.schema import PATTERN_WORDS, load_schema, schema_text, validate_schema
from playbook.definition.validate import find_playbooks

REPO = Path(__file__).resolve().parents[2]
VALID_FILES = sorted(
    Path(p) for p in find_playbooks([REPO / "playbooks", REPO / "tests/examples/valid"])
)

BASE = """\
playbook: demo
version: 1
title: {en: Demo, zh: 演示}
stages:
  - id: lead
    title: Lead
  - id: won
    title: 赢单
    outcome: won
"""


def _diagnostics(text: str) -> list[Any]:
    loaded = read_text(text, "t.yaml")
    assert loaded.document is not None, loaded.diagnostics
    return validate_schema(loaded.document)


def _stage(extra: str) -> str:
    """BASE with ``extra`` (YAML lines at stage-key indentation) added to the first stage."""
    return BASE.replace("    title: Lead\n", "    title: Lead\n" + extra)


def _escalation(trigger: str) -> str:
    """BASE with one escalation whose trigger is ``trigger`` (flow YAML) on line 12."""
    return (
        BASE
        + f"escalations:\n  - id: e\n    trigger: {trigger}\n    levels: [{{notify: [owner]}}]\n"
    )


# --- the schema file --------------------------------------------------------------------


def test_packaged_schema_is_the_repository_schema() -> None:
    """The copy inside the package is byte for byte schemas/playbook.schema.json."""
    shipped = (REPO / "schemas" / "playbook.schema.json").read_bytes()
    assert schema_text().encode("utf-8") == shipped


def test_schema_is_a_valid_2020_12_schema() -> None:
    """The schema itself passes the 2020-12 meta-schema and has the published $id."""
    document = load_schema()
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == schema.SCHEMA_ID


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object with its JSON pointer, skipping if/then/else (they only narrow)."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key not in ("if", "then", "else"):
                yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def test_every_property_has_a_description() -> None:
    """Editors show these descriptions: no key of the format is left without one."""
    missing = [
        f"{where}/properties/{name}"
        for where, node in _walk(load_schema())
        for name, spec in node.get("properties", {}).items()
        if "description" not in spec
    ]
    assert missing == []


def test_every_description_quoted_as_a_hint_has_chinese_words() -> None:
    """A missing required key quotes its description: each such one has a zh text too."""
    untranslated = [
        f"{where}/properties/{name}"
        for where, node in _walk(load_schema())
        if isinstance(node.get("required"), list)
        for name in node["required"]
        if "description" in node.get("properties", {}).get(name, {})
        and not _is_chinese(node["properties"][name].get("x-description-zh", ""))
    ]
    assert untranslated == []


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


@pytest.mark.parametrize(
    ("key_schema", "zh"),
    [
        ({"description": "The id.", "x-description-zh": "编号。"}, "编号。"),
        ({"description": "The id."}, "请加上键 'id'；它的含义见剧本格式说明文档。"),
    ],
)
def test_a_missing_key_hint_is_chinese_even_without_a_translation(
    key_schema: dict[str, str], zh: str
) -> None:
    """The zh hint is the schema's zh text, else a generic Chinese one; en keeps the description."""
    hint = schema._key_about("id", key_schema)
    assert hint is not None
    assert (hint.render("en"), hint.render("zh")) == ("The id.", zh)


def test_a_missing_key_is_explained_in_chinese() -> None:
    """The hint of PB203 in a zh run is the schema's Chinese description, no English."""
    found = _diagnostics(BASE.replace("playbook: demo\n", ""))
    assert [d.code for d in found] == ["PB203"]
    assert found[0].hint_in("zh") == "剧本的 id：小写字母、数字、- 和 _，以字母开头。"
    assert (found[0].hint or "").startswith("The playbook's id:")


def test_every_object_refuses_unknown_keys() -> None:
    """Each object schema closes its keys, so that a misspelt key is always caught."""
    open_objects = [
        where
        for where, node in _walk(load_schema())
        if "properties" in node and "additionalProperties" not in node
    ]
    assert open_objects == []


def test_every_pattern_has_words_for_messages() -> None:
    """A pattern error is explained in words, never as a bare regular expression."""
    patterns = {
        node["pattern"] for _, node in _walk(load_schema()) if isinstance(node.get("pattern"), str)
    } | {
        str(node["propertyNames"]["pattern"])
        for _, node in _walk(load_schema())
        if "pattern" in node.get("propertyNames", {})
    }
    assert patterns <= set(PATTERN_WORDS)


@pytest.mark.parametrize(
    ("definition", "good", "bad"),
    [
        ("Id", ["lead", "needs_analysis", "a1"], ["Lead", "1a", "needs-analysis", "_a", "需求"]),
        ("Text", ["Lead", {"en": "Lead", "zh-TW": "線索"}], ["", {}, {"EN": "x"}, {"en": ""}, 3]),
        (
            "Duration",
            [{"days": 0.5}, {"working_days": 3}],
            [{}, {"days": 1, "hours": 1}, {"days": -1}],
        ),
        ("StageSelector", ["*", "lead", ["lead", "won"]], ["", [], "**", ["*"]]),
        ("Condition", ["a > 1", True, {"required": ["a"]}], ["", 3, [], {"all": []}]),
    ],
)
def test_definitions_accept_and_refuse(definition: str, good: list[Any], bad: list[Any]) -> None:
    """The building blocks of the format, case by case."""
    document = load_schema()
    validator = Draft202012Validator(
        {
            "$schema": document["$schema"],
            "$defs": document["$defs"],
            "$ref": f"#/$defs/{definition}",
        }
    )
    assert [validator.is_valid(value) for value in good] == [True] * len(good)
    assert [validator.is_valid(value) for value in bad] == [False] * len(bad)


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_valid_playbooks_have_no_schema_error(path: Path) -> None:
    """The sample playbooks and the valid examples match the schema."""
    loaded = read_document(path)
    assert loaded.document is not None
    assert validate_schema(loaded.document) == []


# --- errors as diagnostics ----------------------------------------------------------------

CASES = [
    # (case, text, code, line, column, path, words in message or hint)
    ("unknown top key", BASE + "stagse: []\n", "PB202", 10, 1, "stagse", "did you mean 'stages'"),
    (
        "missing title",
        BASE.replace("title: {en: Demo, zh: 演示}\n", ""),
        "PB203",
        1,
        1,
        "title",
        "needs the key 'title'",
    ),
    (
        "missing stage title",
        BASE.replace("    title: 赢单\n", ""),
        "PB203",
        7,
        5,
        "stages[1].title",
        "'title'",
    ),
    (
        "version zero",
        BASE.replace("version: 1", "version: 0"),
        "PB204",
        2,
        10,
        "version",
        "at least 1",
    ),
    (
        "version past the store's column",
        BASE.replace("version: 1", "version: 2147483648"),
        "PB204",
        2,
        10,
        "version",
        "2147483647",
    ),
    (
        "duration past 100 years",
        BASE + "escalations:\n  - id: e\n    trigger: {in_stage: {days: 36526}}\n"
        "    levels: [{notify: [owner]}]\n",
        "PB204",
        12,
        32,
        "escalations[0].trigger.in_stage.days",
        "36525",
    ),
    (
        "version text",
        BASE.replace("version: 1", "version: one"),
        "PB201",
        2,
        10,
        "version",
        "whole number",
    ),
    ("stage id", BASE.replace("id: lead", "id: Lead"), "PB204", 5, 9, "stages[0].id", "lowercase"),
    (
        "outcome",
        BASE.replace("outcome: won", "outcome: wonn"),
        "PB204",
        9,
        14,
        "stages[1].outcome",
        "did you mean 'won'",
    ),
    (
        "probability",
        _stage("    probability: 1.5\n"),
        "PB204",
        7,
        18,
        "stages[0].probability",
        "at most 1",
    ),
    ("empty value", _stage("    goal:\n"), "PB201", 7, 10, "stages[0].goal", "value is missing"),
    (
        "text in a list",
        _stage("    goal: [a]\n"),
        "PB201",
        7,
        11,
        "stages[0].goal",
        "text or a mapping",
    ),
    (
        "comma in a flow text",
        _stage("    goal: {en: Win, go, zh: 赢}\n"),
        "PB201",
        7,
        23,
        "stages[0].goal.go",
        "comma",
    ),
    (
        "comma, not a language",
        _stage("    goal: {en: Win, go now, zh: 赢}\n"),
        "PB204",
        7,
        21,
        "stages[0].goal.go now",
        "comma",
    ),
    (
        "language code",
        BASE.replace("{en: Demo, zh: 演示}", "{中文: 演示}"),
        "PB204",
        3,
        9,
        "title.中文",
        "language code",
    ),
    (
        "number for text",
        _stage("    goal: 42\n"),
        "PB201",
        7,
        11,
        "stages[0].goal",
        'quotes to make it text: "42"',
    ),
    (
        "criterion type",
        _stage("    entry: [5]\n"),
        "PB201",
        7,
        13,
        "stages[0].entry[0]",
        "not the number 5",
    ),
    (
        "operator",
        _stage("    entry:\n      - {field: amount, op: '=>', value: 5}\n"),
        "PB204",
        8,
        29,
        "stages[0].entry[0].op",
        "did you mean '>='",
    ),
    (
        "combinator typo",
        _stage("    entry:\n      - {al: [a > 1]}\n"),
        "PB202",
        8,
        10,
        "stages[0].entry[0].al",
        "did you mean 'all'",
    ),
    (
        "two combinators",
        _stage("    entry:\n      - {all: [a > 1], any: [b > 1]}\n"),
        "PB204",
        8,
        9,
        "stages[0].entry[0]",
        "one key, not 'all' and 'any'",
    ),
    (
        "field and len",
        _stage("    entry:\n      - {field: a, len: b, op: '>', value: 1}\n"),
        "PB205",
        8,
        9,
        "stages[0].entry[0]",
        "both 'field' and 'len'",
    ),
    (
        "comparison without value",
        _stage("    entry:\n      - {field: a, op: '>'}\n"),
        "PB203",
        8,
        9,
        "stages[0].entry[0].value",
        "needs the key 'value'",
    ),
    (
        "empty condition",
        _stage("    entry:\n      - {}\n"),
        "PB203",
        8,
        9,
        "stages[0].entry[0]",
        "needs one of the keys: all, any",
    ),
    (
        "named criterion typo",
        _stage("    entry:\n      - {id: x, conditon: a > 1}\n"),
        "PB202",
        8,
        17,
        "stages[0].entry[0].conditon",
        "did you mean 'condition'",
    ),
    (
        "field key for another type",
        BASE + "fields:\n  name: {type: string, min: 3}\n",
        "PB202",
        11,
        24,
        "fields.name.min",
        "a field of type string",
    ),
    (
        "field type",
        BASE + "fields:\n  name: {type: strng}\n",
        "PB204",
        11,
        16,
        "fields.name.type",
        "did you mean 'string'",
    ),
    (
        "field id",
        BASE + "fields:\n  Name: {type: string}\n",
        "PB204",
        11,
        3,
        "fields.Name",
        "lowercase",
    ),
    (
        "Chinese field id",
        BASE + "fields:\n  金额: {type: decimal}\n",
        "PB204",
        11,
        3,
        "fields.金额",
        "an id",
    ),
    (
        "duration with two units",
        _stage("    actions:\n      - {id: a, due: {days: 1, hours: 2}}\n"),
        "PB204",
        8,
        22,
        "stages[0].actions[0].due",
        "keep one of them",
    ),
    (
        "duration unit",
        _stage("    actions:\n      - {id: a, due: {weeks: 1}}\n"),
        "PB202",
        8,
        23,
        "stages[0].actions[0].due.weeks",
        "allowed here: days, working_days",
    ),
    (
        "trigger with two kinds",
        _escalation("{in_stage: {days: 1}, since_last_activity: {days: 2}}"),
        "PB202",
        12,
        36,
        "escalations[0].trigger.since_last_activity",
        "together with 'in_stage'",
    ),
    (
        "trigger of no kind",
        _escalation("{for: {days: 1}}"),
        "PB203",
        12,
        5,
        "escalations[0].trigger",
        "in_stage, since_last_activity, condition, date_passed",
    ),
    (
        "condition trigger without for",
        _escalation("{condition: a > 1}"),
        "PB203",
        12,
        5,
        "escalations[0].trigger.for",
        "needs the key 'for'",
    ),
    (
        "KPI parameter for another metric",
        BASE + "kpis:\n  - id: k\n    metric: win_rate\n    stage: lead\n",
        "PB202",
        13,
        5,
        "kpis[0].stage",
        "a KPI with metric win_rate",
    ),
    (
        "KPI metric",
        BASE + "kpis:\n  - id: k\n    metric: winrate\n",
        "PB204",
        12,
        13,
        "kpis[0].metric",
        "did you mean 'win_rate'",
    ),
    (
        "working hours",
        BASE + "calendar:\n  hours: {start: '9:00', end: '18:00'}\n",
        "PB204",
        11,
        18,
        "calendar.hours.start",
        "HH:MM",
    ),
    (
        "weekday",
        BASE + "calendar:\n  weekdays: [mon, tues]\n",
        "PB204",
        11,
        19,
        "calendar.weekdays[1]",
        "did you mean 'tue'",
    ),
    (
        "repeated role",
        _stage("    roles: [rep, rep]\n"),
        "PB204",
        7,
        12,
        "stages[0].roles",
        "'rep' more than once",
    ),
    (
        "no stages",
        BASE.split("stages:")[0] + "stages: []\n",
        "PB204",
        4,
        9,
        "stages",
        "at least 1 item",
    ),
    ("currency", BASE + "currency: cny\n", "PB204", 10, 11, "currency", "ISO 4217"),
    ("top-level list", "- a\n- b\n", "PB201", 1, 1, "", "the playbook should be a mapping"),
    ("top-level text", "hello\n", "PB201", 1, 1, "", "not the text 'hello'"),
]


@pytest.mark.parametrize(
    ("text", "code", "line", "column", "path", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_schema_errors_become_positioned_diagnostics(
    text: str, code: str, line: int, column: int, path: str, words: str
) -> None:
    """Each kind of mistake gives one diagnostic: its code, position, path and a useful text."""
    found = _diagnostics(text)
    assert [(d.code, d.line, d.column, d.path) for d in found] == [(code, line, column, path)]
    assert words in f"{found[0].message} {found[0].hint}"
    assert found[0].file == "t.yaml"
    assert found[0].severity == "error"


def test_every_error_is_reported_once_and_in_order() -> None:
    """Several mistakes give several diagnostics, one per path, sorted by position."""
    text = BASE.replace("version: 1", "version: 0").replace("outcome: won", "outcome: wonn")
    found = _diagnostics(text + "colour: red\nstagse: []\n")
    assert [(d.line, d.code) for d in found] == [
        (2, "PB204"),
        (9, "PB204"),
        (10, "PB202"),
        (11, "PB202"),
    ]
    assert len({d.path for d in found}) == len(found)


def test_a_misspelt_key_is_not_also_reported_missing() -> None:
    """`conditon` is reported as unknown (did you mean...), not also `condition` as missing."""
    found = _diagnostics(_stage("    entry:\n      - {id: x, conditon: a > 1}\n"))
    assert [d.code for d in found] == ["PB202"]


def test_nothing_is_reported_inside_a_malformed_key() -> None:
    """A key that is itself wrong hides the problems of its value (they are its consequence)."""
    found = _diagnostics(_stage("    goal: {en: Win, go now, zh: 赢}\n"))
    assert [d.path for d in found] == ["stages[0].goal.go now"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(data=_JSON)
def test_any_data_gives_schema_diagnostics_and_never_raises(data: Any) -> None:
    """Whatever the data, the result is a list of PB2xx diagnostics, each path once."""
    found = validate_schema(Document("x.yaml", "", data))
    assert {d.code[:3] for d in found} <= {"PB2"}
    assert len({d.path for d in found}) == len(found)


# --- the fast path ----------------------------------------------------------------------


def _mutations() -> st.SearchStrategy[Any]:
    """A valid playbook with one value replaced, one key dropped, or one key added."""
    base = read_text(BASE + "fields:\n  amount: {type: decimal, min: 0}\n").document
    assert base is not None
    paths = [p for p in iter_paths(base.data) if p]

    def mutate(draw: Any) -> Any:
        data = json.loads(json.dumps(base.data))
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(_JSON)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(_JSON)
        return data

    return st.composite(lambda draw: mutate(draw))()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutations())
def test_fast_validator_agrees_with_jsonschema(data: Any) -> None:
    """The Rust validator (when installed) never calls valid what jsonschema refuses.

    With finite numbers the two agree exactly; the Rust one refuses infinity,
    which only sends such a document to jsonschema for the verdict.
    """
    fast = schema._fast_check()
    if fast is None:
        pytest.skip("jsonschema_rs is not installed: only jsonschema is used")
    slow = Draft202012Validator(load_schema()).is_valid(data)
    assert slow or not fast(data)
    if "Infinity" not in json.dumps(data):
        assert fast(data) == slow


def test_infinity_is_judged_by_jsonschema() -> None:
    """A target of .inf is valid: the fast check declines, jsonschema decides."""
    text = BASE + "kpis:\n  - {id: k, metric: win_rate, target: {max: .inf}}\n"
    assert _diagnostics(text) == []


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return done.stdout.strip()


def test_importing_the_module_does_not_import_jsonschema() -> None:
    """jsonschema (~0.1 s to import) is loaded only when a document is validated."""
    assert (
        _run("import sys, playbook.definition.schema; print('jsonschema' in sys.modules)")
        == "False"
    )


def test_clean_documents_skip_jsonschema_when_the_fast_validator_is_there() -> None:
    """With jsonschema_rs installed, a valid playbook never imports jsonschema."""
    if schema._fast_check() is None:
        pytest.skip("jsonschema_rs is not installed: jsonschema validates every document")
    code = (
        "import sys\n"
        "from playbook.definition.loader import read_document\n"
        "from playbook.definition.schema import validate_schema\n"
        "doc = read_document('tests/examples/valid/minimal.yaml').document\n"
        "print(validate_schema(doc), 'jsonschema' in sys.modules)"
    )
    assert _run(code) == "[] False"
