"""One minimal reproducer per crash class the fuzzers found, and the nasty inputs that pass.

A crash class is an exception type with the innermost ``src/playbook`` frame
it was raised in (``tests/fuzz/targets.py:crash_class``). Every class found
so far is fixed: its case now answers with diagnostics or a PlaybookError and
stays here as a guard against a relapse (a new class is added as a strict
xfail naming it, whose mark is removed with the fix). The other cases are
nasty inputs that always answered that way.

Every case runs the whole pipeline of its fuzz target (``targets.run_loader``:
``validate_text``; ``targets.run_condition``: parse, evaluate, render and
parse back, compile to SQL for SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo

import pytest
from generators import ConditionInput
from targets import run_condition, run_loader

_PLAYBOOK = """\
playbook: p
version: 1
title: T
{extra}stages:
  - {{id: open_deal, title: Open}}
  - {{id: won, title: Won, outcome: won}}
"""


def _playbook(extra: str = "") -> str:
    return _PLAYBOOK.format(extra=extra)


def _escalation(duration: str) -> str:
    return _playbook(
        "escalations:\n"
        "  - id: stuck\n"
        f"    trigger: {{in_stage: {duration}}}\n"
        "    levels:\n"
        "      - notify: [owner]\n"
    )


def _nested(key: str, depth: int) -> object:
    node: object = {"field": "amount", "op": ">=", "value": 1}
    for _ in range(depth):
        node = {key: node} if key == "not" else {key: [node]}
    return node


LOADER_CASES = [
    # 1. ValueError: Exceeds the limit (4300 digits) for integer string conversion
    #    (definition/loader.py _Builder._plain: int(text) of a plain scalar).
    pytest.param(
        "version: " + "9" * 4301 + "\n",
        id="1-ValueError@definition.loader:_plain",
    ),
    # 2. ValueError: Exceeds the limit (4300 digits) for integer string conversion
    #    (definition/schema.py, a list comprehension formatting a schema failure: a hex
    #    scalar is an int of over 4,300 decimal digits, and str() of it fails).
    pytest.param(
        "title: 0x" + "f" * 3600 + "\n",
        id="2-ValueError@definition.schema:<listcomp>",
    ),
    # 3. IsADirectoryError: [Errno 21] Is a directory: '.../tzdata/zoneinfo/Asia'
    #    (definition/checks.py _timezone: ZoneInfo('Asia') opens the directory).
    pytest.param(
        _playbook("timezone: Asia\n"),
        id="3-IsADirectoryError@definition.checks:_timezone",
    ),
    # 4. OSError: [Errno 36] File name too long (definition/checks.py _timezone).
    pytest.param(
        _playbook("timezone: " + "A" * 300 + "\n"),
        id="4-OSError@definition.checks:_timezone",
    ),
    # 5. OverflowError: int too large to convert to float
    #    (definition/checks.py _duration: float(amount) of a 400-digit amount).
    pytest.param(
        _escalation("{days: " + "9" * 400 + "}"),
        id="5-OverflowError@definition.checks:_duration",
    ),
    # Class 6 (below) reached through validate_text: a condition inside a playbook.
    pytest.param(
        _playbook("fields:\n  amount: {type: decimal}\n").replace(
            "title: Open}", "title: Open, entry: ['amount > " + "9" * 4301 + "']}"
        ),
        id="6-ValueError@conditions.lexer:_number-via-validate_text",
    ),
    # Nasty inputs that already come back as diagnostics.
    pytest.param(_playbook().replace("title: T", "title: {en: X，zh: Y}"), id="fullwidth-comma"),
    pytest.param(
        _playbook().replace("title: Open}", "title: Open, probability：0.25}"),
        id="fullwidth-colon",
    ),
    pytest.param(_playbook().replace("title: T", "title:\u3000T"), id="ideographic-space"),
    pytest.param(_playbook("timezone: ../../etc/passwd\n"), id="zone-path-traversal"),
    pytest.param(_playbook("timezone: zone.tab\n"), id="zone-database-file"),
    pytest.param(_escalation("{days: 1.0e308}"), id="duration-1e308"),
    pytest.param(_escalation("{days: 1e999}"), id="duration-1e999-text"),
    pytest.param("version: " + "9" * 4300 + "\n", id="int-of-4300-digits"),
    pytest.param("[" * 400, id="deep-flow-sequence"),
    pytest.param("\ufeffplaybook: p\x00\n", id="bom-and-nul"),
    # 20. RecursionError in definition.lint (re.compile of a field pattern nesting
    #     1,000 groups: Python's regex parser recurses per group); found by make fuzz.
    pytest.param(
        "playbook: s\nversion: 1\ntitle: T\nfields:\n"
        "  de: {type: string, pattern: '" + "(" * 1000 + "a" + ")" * 1000 + "'}\n"
        "stages:\n  - {id: a, title: A}\n  - {id: w, title: W, outcome: won}\n",
        id="20-RecursionError@definition.lint-regex-groups",
    ),
]


@pytest.mark.parametrize("text", LOADER_CASES)
def test_loader_regressions(text: str) -> None:
    """validate_text answers with diagnostics (or a PlaybookError), never another exception."""
    run_loader(text)


CONDITION_CASES = [
    # 6. ValueError: Exceeds the limit (4300 digits) for integer string conversion
    #    (conditions/lexer.py _number: int(raw) of a 4,301-digit number).
    pytest.param(
        "amount > " + "9" * 4301,
        UTC,
        id="6-ValueError@conditions.lexer:_number",
    ),
    # 7. RecursionError: maximum recursion depth exceeded (conditions/parser.py:
    #    _or -> _and -> _not -> _primary, several frames per parenthesis).
    pytest.param(
        "(" * 300 + "has(amount)" + ")" * 300,
        UTC,
        id="7-RecursionError@conditions.parser",
    ),
    # 8. RecursionError: maximum recursion depth exceeded in __instancecheck__
    #    (conditions/render.py render -> _grouped -> render: 500 `not` parse, but do not render).
    pytest.param(
        "not " * 500 + "has(amount)",
        UTC,
        id="8-RecursionError@conditions.render",
    ),
    # 9. RecursionError: maximum recursion depth exceeded (SQLAlchemy compiling the clause
    #     that to_sql()/where() build, a NOT per `not`; the condition itself parses and
    #     renders; no playbook frame on the stack).
    pytest.param(
        _nested("not", 400),
        UTC,
        id="9-RecursionError@sqlalchemy(via _compile_sql)",
    ),
    # 10. RecursionError: maximum recursion depth exceeded (conditions/structured.py
    #     parse_source -> _mapping -> _combination, tripping in conditions/syntax.py Loc.child).
    pytest.param(
        _nested("any", 400),
        UTC,
        id="10-RecursionError@conditions.syntax",
    ),
    # 11. OverflowError: date value out of range (conditions/literals.py _datetime:
    #     astimezone(UTC) of a naive datetime read in a zone east of UTC).
    pytest.param(
        "signed_at > '0001-01-01'",
        ZoneInfo("Asia/Shanghai"),
        id="11-OverflowError@conditions.literals:_datetime",
    ),
    # 12. OverflowError: int too large to convert to float
    #     (conditions/literals.py _number: float(raw) for a `number` field).
    pytest.param(
        "score != " + "9" * 400,
        UTC,
        id="12-OverflowError@conditions.literals:_number",
    ),
    # 13-18. ValueError: Exceeds the limit (4300 digits) for integer string conversion,
    #     an int of the structured form (plain data from a program, not from YAML)
    #     shown in a message or rendered:
    # 13. conditions/structured.py parse_source: f"... not the value {source!r}".
    pytest.param(
        10**5000,
        UTC,
        id="13-ValueError@conditions.structured:parse_source",
    ),
    # 14. conditions/structured.py _op: f"unknown operator {op!r}".
    pytest.param(
        {"field": "amount", "op": 10**5000, "value": 1},
        UTC,
        id="14-ValueError@conditions.structured:_op",
    ),
    # 15. conditions/structured.py _field_name: f"a field id is text, not {name!r}".
    pytest.param(
        {"field": 10**5000, "op": "==", "value": 1},
        UTC,
        id="15-ValueError@conditions.structured:_field_name",
    ),
    # 16. conditions/literals.py _text: the hint f"quote it: '{raw}'".
    pytest.param(
        {"field": "owner_note", "op": "==", "value": 10**5000},
        UTC,
        id="16-ValueError@conditions.literals:_text",
    ),
    # 17. conditions/literals.py describe: f"the number {raw}".
    pytest.param(
        {"field": "budget_confirmed", "op": "==", "value": 10**5000},
        UTC,
        id="17-ValueError@conditions.literals:describe",
    ),
    # 18. conditions/render.py render_literal: str(value) of an integer field's literal.
    pytest.param(
        {"field": "visits", "op": "==", "value": 10**5000},
        UTC,
        id="18-ValueError@conditions.render:render_literal",
    ),
    # Nasty inputs that already come back as a PlaybookError or parse fine.
    pytest.param(
        "not " * 300 + "has(amount)",
        UTC,
        id="19-RecursionError@conditions.render-not-chain-300",
    ),
    pytest.param("(" * 100 + "has(amount)" + ")" * 100, UTC, id="parentheses-100"),
    pytest.param("amount > " + "9" * 4300, UTC, id="number-of-4300-digits"),
    pytest.param("amount > 1e999", UTC, id="exponent"),
    pytest.param("has（amount)", UTC, id="fullwidth-parenthesis"),
    pytest.param("amount\u3000> 1", UTC, id="ideographic-space"),
    pytest.param("signed_at > '9999-12-31T23:59:59+00:00'", UTC, id="datetime-max"),
    pytest.param("owner_note == '\x00\ufeff'", UTC, id="nul-and-bom-in-text"),
    pytest.param({"field": "amount", "op": "==", "value": float("nan")}, UTC, id="nan"),
    pytest.param(_nested("not", 100), UTC, id="structured-not-100"),
]


@pytest.mark.parametrize(("source", "tz"), CONDITION_CASES)
def test_condition_regressions(source: object, tz: tzinfo) -> None:
    """The condition language answers with a PlaybookError or works, never another exception."""
    run_condition(ConditionInput(source, tz, 0))
