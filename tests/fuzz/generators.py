"""Deterministic input generators for the fuzz tests and ``tests/fuzz/run.py``.

Two families, each a pure function of an integer seed (``random.Random(seed)``
drives every choice), so that a crash found by the runner or by hypothesis is
reproduced exactly from its seed:

- :func:`playbook_text` mutates the sample playbooks (``playbooks/`` and
  ``tests/examples/valid/``): a small window of lines with the lines that
  hold it in place (its parents and the top-level header), then 1-4
  mutations drawn from line edits, nasty characters and tokens, hostile
  scalar values (huge numbers, zones, extreme dates and durations), targeted
  ``key: value`` lines and generated condition strings.
- :func:`condition_input` builds a condition, in the string form (from the
  grammar, with nasty literals, deep nesting and long ``not`` chains, then a
  few character mutations) or in the structured form (plain data as YAML
  gives it, and some it never gives: huge ints, non-text keys); with it come
  the fields to check it against, the timezone and a few typed deals.

Nothing here imports hypothesis: the runner uses these in a plain loop, the
tests call them with seeds drawn by ``st.integers()``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playbook.conditions import FieldType

__all__ = [
    "FIELDS",
    "ConditionInput",
    "condition_input",
    "condition_string",
    "deal",
    "playbook_text",
    "seed_files",
    "structured_condition",
]

ROOT = Path(__file__).resolve().parents[2]
SEED_GLOBS = ("playbooks/*.yaml", "tests/examples/valid/*.yaml")

# --- nasty material ------------------------------------------------------------------

FULL_WIDTH = "：，（）“”　【】＝＜＞！‘’｛｝［］"
NASTY_CHARS = (
    ":{}[],&*!|>'\"#%@\t-?\n "
    + FULL_WIDTH
    + "\x00\ufeff\u2028\u2029\u0085\u00a0\u200b\u202e\u0301\x7f\x1b\ufffe\uffff"
    + "\U0001f600\U00010000"
)
_HUGE_DIGITS = ("9" * 5000, "9" * 4301, "9" * 4300, "9" * 400, "9" * 309, "1" + "0" * 19)
NASTY_TOKENS: tuple[str, ...] = (
    *_HUGE_DIGITS,
    "-" + "9" * 5000,
    "9" * 400 + ".5",
    "0." + "0" * 400 + "1",
    "1e999",
    "-1e999",
    "1.0e+999",
    "0x" + "f" * 5000,
    "0o" + "7" * 5000,
    "[" * 400,
    "{" * 400,
    "[" * 60 + "]" * 60,
    "- " * 200,
    "&a",
    "*a",
    "&a [*a, *a, *a]",
    "!!python/object/apply:os.system ['true']",
    "!!binary aGk=",
    "!!timestamp",
    "!!int",
    "!!float",
    "!foo",
    "<<: *a",
    "? ",
    "%YAML 1.1\n---\n",
    "---\n",
    "\n...\n",
    "A" * 300,
    "\u3000" * 3,
    "\ufeff",
    "\x00",
)
ZONES = (
    "Asia",
    "America",
    "Asia/",
    "Asia/Shanghai/",
    "Etc",
    "../../etc/passwd",
    "/etc/localtime",
    "A" * 300,
    "Asia/" + "A" * 300,
    "Etc/GMT+99",
    "right/UTC",
    "posix/UTC",
    "zone.tab",
    "tzdata.zi",
    "__init__.py",
    "Asia/__init__.py",
    ".",
    "..",
    "UTC ",
    "Asia/Shanghai\u3000",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
)
EXTREME_DATES = (
    "0001-01-01",
    "9999-12-31",
    "0000-00-00",
    "2026-02-30",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "2026-01-01T24:00:00",
    "2026-13-01",
    "99999-01-01",
)
_HUGE_AMOUNTS = ("9" * 20, "9" * 400, "9" * 5000, "1e308", "1.0e308", "1.7976931348623157e308")
DURATIONS = tuple(
    f"{{{unit}: {amount}}}"
    for unit in ("days", "hours", "working_days", "working_hours")
    for amount in (*_HUGE_AMOUNTS, "-1", ".inf", ".nan", "0", "0.000001")
)
_SCALARS = (
    "1_000",
    "010",
    "1:30",
    "~",
    "null",
    "yes",
    "no",
    "on",
    ".inf",
    "-.inf",
    ".nan",
    '""',
    "''",
    "{en: X，zh: Y}",
    "{en: X, zh: Y}",
    "probability：0.25",
    "24:00",
    "25:61",
    "23:59:59.999999",
    "a{99999999999}",
    "(" * 400 + ")" * 400,
)
NASTY_VALUES: tuple[str, ...] = (
    *_HUGE_AMOUNTS,
    *_SCALARS,
    *ZONES,
    *EXTREME_DATES,
    *(f"'{d}'" for d in EXTREME_DATES),
    *DURATIONS,
    *NASTY_TOKENS,
)
# `key: value` lines the semantic checks read (zone database, dates, durations, numbers).
TARGETED_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("timezone", ZONES),
    ("probability", (*_HUGE_AMOUNTS, "-1", "1.5", ".nan", ".inf")),
    ("version", (*_HUGE_AMOUNTS, "0", "-1", "1.5")),
    ("target", (*_HUGE_AMOUNTS, ".nan", "-.inf")),
    ("min", (*_HUGE_AMOUNTS, *EXTREME_DATES)),
    ("max", (*_HUGE_AMOUNTS, *EXTREME_DATES)),
    ("min_length", _HUGE_AMOUNTS),
    ("max_items", _HUGE_AMOUNTS),
    ("pattern", ("a{99999999999}", "(" * 400 + ")" * 400, "[", "(?P<a>x)(?P<a>y)")),
    ("in_stage", DURATIONS),
    ("since_last_activity", DURATIONS),
    ("after", DURATIONS),
    ("for", DURATIONS),
    ("max_lateness", DURATIONS),
    ("date_passed", ("expected_close", "A" * 300)),
    ("extra_holidays", tuple(f"[{d}]" for d in EXTREME_DATES)),
    ("extra_workdays", tuple(f"[{d}]" for d in EXTREME_DATES)),
    ("holidays", ("XX", "A" * 300, "../..", "CN")),
    ("hours", ("{start: '25:00', end: '26:00'}", "{start: 09:00, end: 08:00}")),
    ("period", ("week", "A" * 300, "9" * 5000)),
    ("language", ("zh", "xx", "A" * 300)),
)
_KEY_VALUE = re.compile(r"^(\s*(?:- )?[^\s:#][^:#]*:[ ]+)(\S.*)$")
_QUOTED = re.compile(r"""(["'])(?:(?!\1).)+\1""")
_FIELD_LINE = re.compile(r"^\s+([a-z_][a-z0-9_]*):\s*\{?\s*type:\s*(\w+)", re.MULTILINE)

# --- the playbook corpus -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A sample playbook split for windowing: lines, header, block starts, parents, fields."""

    name: str
    lines: tuple[str, ...]
    header: tuple[int, ...]
    blocks: tuple[int, ...]
    parents: tuple[tuple[int, ...], ...]
    fields: dict[str, FieldType]


def seed_files() -> tuple[SeedFile, ...]:
    """The sample playbooks every mutation starts from (cached; scenario files excluded)."""
    return _seed_files()


@cache
def _seed_files() -> tuple[SeedFile, ...]:
    paths = sorted(p for pattern in SEED_GLOBS for p in ROOT.glob(pattern))
    return tuple(_split(p) for p in paths if not p.name.endswith(".test.yaml"))


def _split(path: Path) -> SeedFile:
    text = path.read_text(encoding="utf-8")
    lines = tuple(text.splitlines())
    header = tuple(
        i for i, line in enumerate(lines) if re.match(r"^[a-z_]+:\s*[^\s#]", line) is not None
    )
    fields = {
        name: FieldType(kind, ("a", "b", "能源")) if kind in ("enum", "list") else FieldType(kind)  # type: ignore[arg-type]
        for name, kind in _FIELD_LINE.findall(text)
        if kind in _KINDS
    }
    blocks = tuple(i for i, line in enumerate(lines) if re.match(r"^(\s*- |[a-z_]+:)", line))
    return SeedFile(path.name, lines, header, blocks, _parents(lines), fields or dict(FIELDS))


def _parents(lines: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """For each line, the lines with less indentation that hold it (nearest last)."""
    out: list[tuple[int, ...]] = []
    stack: list[tuple[int, int]] = []  # (indent, line index) of open content lines
    for i, line in enumerate(lines):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if not stripped or stripped.startswith("#"):
            out.append(tuple(j for _, j in stack))
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        out.append(tuple(j for _, j in stack))
        stack.append((indent, i))
    return tuple(out)


# --- playbook texts ------------------------------------------------------------------

_WINDOW_SIZES = (1, 2, 3, 5, 8, 13, 21, 34)


def playbook_text(seed: int) -> str:
    """A small mutated playbook: a window of a sample with 1-4 mutations; same seed, same text.

    One in five is a whole small sample with 1-2 value-level mutations, so
    that the text still reads and matches the schema often enough to reach the
    semantic checks (zones, dates, durations, conditions).
    """
    rng = random.Random(seed)
    if rng.random() < 0.2:
        source = rng.choice([f for f in seed_files() if len(f.lines) <= _SMALL])
        lines, mutations, count = list(source.lines), _VALUE_MUTATIONS, rng.randint(1, 2)
    else:
        source = rng.choice(seed_files())
        lines, mutations, count = _window(rng, source), _MUTATIONS, rng.randint(1, 4)
    for _ in range(count):
        lines = rng.choice(mutations)(rng, lines, source)
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


_SMALL = 50


def _window(rng: random.Random, source: SeedFile) -> list[str]:
    """A few lines with their parents (and usually the header), so that they still nest."""
    lines = source.lines
    start = rng.randrange(len(lines))
    if rng.random() < 0.7 and source.blocks:
        start = rng.choice(source.blocks)
    end = min(len(lines), start + rng.choice(_WINDOW_SIZES))
    keep = set(range(start, end)) | set(source.parents[start])
    if rng.random() < 0.85:
        keep |= set(source.header)
    return [lines[i] for i in sorted(keep)]


def _delete_lines(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    if not lines:
        return lines
    i = rng.randrange(len(lines))
    return lines[:i] + lines[i + rng.randint(1, 3) :]


def _duplicate_line(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    if not lines:
        return lines
    i = rng.randrange(len(lines))
    return [*lines[: i + 1], lines[i], *lines[i + 1 :]]


def _swap_lines(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    if len(lines) < 2:
        return lines
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


def _insert_chars(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    chars = "".join(rng.choice(NASTY_CHARS) for _ in range(rng.randint(1, 3)))
    return _at_random_place(rng, lines, chars, replace=0)


def _replace_char(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    return _at_random_place(rng, lines, rng.choice(NASTY_CHARS), replace=1)


def _insert_token(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    return _at_random_place(rng, lines, rng.choice(NASTY_TOKENS), replace=0)


def _full_width(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    """Swap an ASCII colon, comma, bracket, quote or space for its full-width twin."""
    if not lines:
        return lines
    i = rng.randrange(len(lines))
    spots = [k for k, c in enumerate(lines[i]) if c in _TO_FULL_WIDTH]
    if not spots:
        return lines
    k = rng.choice(spots)
    out = list(lines)
    out[i] = out[i][:k] + _TO_FULL_WIDTH[out[i][k]] + out[i][k + 1 :]
    return out


_TO_FULL_WIDTH = {":": "：", ",": "，", "(": "（", ")": "）", '"': "“", " ": "\u3000", "[": "【"}


def _replace_value(rng: random.Random, lines: list[str], source: SeedFile) -> list[str]:
    """Give a ``key: value`` line a hostile value, or a generated condition."""
    spots = [i for i, line in enumerate(lines) if _KEY_VALUE.match(line)]
    if not spots:
        return lines
    i = rng.choice(spots)
    match = _KEY_VALUE.match(lines[i])
    assert match is not None
    out = list(lines)
    out[i] = match.group(1) + _hostile_value(rng, source)
    return out


def _replace_quoted(rng: random.Random, lines: list[str], source: SeedFile) -> list[str]:
    """Replace a quoted scalar (most are conditions) with a generated condition string."""
    spots = [i for i, line in enumerate(lines) if _QUOTED.search(line)]
    if not spots:
        return _replace_value(rng, lines, source)
    i = rng.choice(spots)
    condition = condition_string(rng, source.fields)
    out = list(lines)
    out[i] = _QUOTED.sub(lambda _: _yaml_quoted(condition), out[i], count=1)
    return out


def _insert_entry(rng: random.Random, lines: list[str], _: SeedFile) -> list[str]:
    """Add a targeted ``key: value`` line beside a random line (same indentation)."""
    key, values = rng.choice(TARGETED_KEYS)
    value = rng.choice(values)
    if not lines or rng.random() < 0.3:
        return [f"{key}: {value}", *lines]
    i = rng.randrange(len(lines))
    stripped = lines[i].lstrip(" ")
    indent = len(lines[i]) - len(stripped) + (2 if stripped.startswith("- ") else 0)
    return [*lines[: i + 1], " " * indent + f"{key}: {value}", *lines[i + 1 :]]


def _hostile_value(rng: random.Random, source: SeedFile) -> str:
    roll = rng.random()
    if roll < 0.25:
        return _yaml_quoted(condition_string(rng, source.fields))
    if roll < 0.35:
        key, values = rng.choice(TARGETED_KEYS)
        return f"{{{key}: {rng.choice(values)}}}"
    return rng.choice(NASTY_VALUES)


def _yaml_quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _at_random_place(rng: random.Random, lines: list[str], text: str, replace: int) -> list[str]:
    if not lines:
        return [text]
    i = rng.randrange(len(lines))
    line = lines[i]
    k = rng.randint(0, len(line))
    out = list(lines)
    out[i] = line[:k] + text + line[k + replace :]
    return out


_VALUE_MUTATIONS = (_replace_value, _replace_quoted, _insert_entry, _full_width)
_MUTATIONS = (
    _delete_lines,
    _duplicate_line,
    _swap_lines,
    _insert_chars,
    _replace_char,
    _insert_token,
    _full_width,
    _replace_value,
    _replace_value,
    _replace_quoted,
    _insert_entry,
    _insert_entry,
)

# --- conditions ----------------------------------------------------------------------

_KINDS = ("string", "number", "integer", "decimal", "boolean", "date", "datetime", "enum", "list")

FIELDS: dict[str, FieldType] = {
    "amount": FieldType("decimal"),
    "collected": FieldType("decimal"),
    "score": FieldType("number"),
    "visits": FieldType("integer"),
    "budget_confirmed": FieldType("boolean"),
    "owner_note": FieldType("string"),
    "industry": FieldType("enum", ("energy", "chemicals", "能源")),
    "expected_close": FieldType("date"),
    "signed_at": FieldType("datetime"),
    "seen_at": FieldType("datetime"),
    "competitors": FieldType("list", ("abb", "siemens", "施耐德")),
    "tags": FieldType("list"),
}
"""The fields conditions are checked against: every kind, some twice (field vs field)."""

ZONES_FOR_NAIVE: tuple[tzinfo, ...] = (
    UTC,
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("Pacific/Kiritimati"),  # +14:00
    ZoneInfo("Etc/GMT+12"),  # -12:00
    timezone(timedelta(hours=23, minutes=59)),
)
_OPS = ("==", "!=", "<", "<=", ">", ">=")
_TEXT_ALPHABET = "ab '\"\\中z\u3000，（）：" + "\x00\ufeff\u202e\U0001f600"
_NUMBERS = ("0", "1", "-1", "2.5", "1000000.50", "0.07", "10", "-3")
_HOSTILE_NUMBERS = (
    *_HUGE_DIGITS,
    "-" + "9" * 5000,
    "9" * 400 + ".5",
    "0." + "0" * 400 + "1",
    "1e999",
    "1_000",
    "1,000",
)


def condition_string(rng: random.Random, fields: dict[str, FieldType] | None = None) -> str:
    """A condition in the string form: mostly grammatical, with nasty literals and depths."""
    fields = fields or FIELDS
    roll = rng.random()
    if roll < 0.005:
        depth = rng.choice((50, 200, 300, 400, 1000))
        text = "(" * depth + _atom(rng, fields) + ")" * depth
    elif roll < 0.01:
        text = "not " * rng.choice((50, 300, 400, 500, 700, 1000, 1200)) + _atom(rng, fields)
    elif roll < 0.012:
        joiner = rng.choice((" and ", " or "))
        text = joiner.join(_atom(rng, fields) for _ in range(rng.choice((100, 500))))
    elif roll < 0.015:
        text = _nested_nots(rng, fields, rng.choice((100, 300, 600)))
    else:
        text = _expression(rng, fields, rng.randint(0, 4))
    for _ in range(_mutation_count(rng)):
        text = _mutate_chars(rng, text)
    return text


def _mutation_count(rng: random.Random) -> int:
    roll = rng.random()
    return 0 if roll < 0.6 else 1 if roll < 0.85 else rng.randint(2, 4)


def _nested_nots(rng: random.Random, fields: dict[str, FieldType], depth: int) -> str:
    """``not (not (... atom ...))``: nesting by parentheses and ``not`` together."""
    return "not (" * depth + _atom(rng, fields) + ")" * depth


def _expression(rng: random.Random, fields: dict[str, FieldType], depth: int) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return _atom(rng, fields)
    roll = rng.random()
    if roll < 0.2:
        return "not " + _expression(rng, fields, depth - 1)
    if roll < 0.35:
        return "(" + _expression(rng, fields, depth - 1) + ")"
    joiner = rng.choice((" and ", " or "))
    return joiner.join(_expression(rng, fields, depth - 1) for _ in range(rng.randint(2, 4)))


def _atom(rng: random.Random, fields: dict[str, FieldType]) -> str:
    name = rng.choice(list(fields))
    kind = fields[name].kind
    roll = rng.random()
    if roll < 0.1:
        return f"has({name})"
    if roll < 0.15:
        return rng.choice(("true", "false", name, "has（" + name + ")"))
    if (roll < 0.25 and kind == "list") or roll < 0.28:
        return f"{name} contains {_literal(rng, fields[name])}"
    if roll < 0.45:
        negated = rng.choice(("in", "not in"))
        items = ", ".join(_literal(rng, fields[name]) for _ in range(rng.randint(0, 4)))
        return f"{_operand(rng, name, kind)} {negated} [{items}{rng.choice(('', ','))}]"
    right = _field_of(rng, fields, kind) if rng.random() < 0.15 else _literal(rng, fields[name])
    left = _operand(rng, name, kind)
    if rng.random() < 0.1:
        left, right = right, left
    return f"{left} {rng.choice(_OPS)} {right}"


def _operand(rng: random.Random, name: str, kind: str) -> str:
    if (kind in ("string", "list") and rng.random() < 0.4) or rng.random() < 0.05:
        return f"len({name})"
    return name


def _field_of(rng: random.Random, fields: dict[str, FieldType], kind: str) -> str:
    same = [n for n, t in fields.items() if t.kind == kind]
    return rng.choice(same or list(fields))


def _literal(rng: random.Random, ftype: FieldType) -> str:
    """A literal, usually of the field's kind, sometimes hostile or of another kind."""
    kind = ftype.kind if rng.random() < 0.7 else rng.choice(_KINDS)
    if kind in ("number", "integer", "decimal"):
        return rng.choice(_HOSTILE_NUMBERS if rng.random() < 0.1 else _NUMBERS)
    if kind == "boolean":
        return rng.choice(("true", "false", "null", "True"))
    if kind in ("date", "datetime"):
        return _quoted(rng.choice((*EXTREME_DATES, "2026-12-31", "2026-03-01T09:30:00+08:00")))
    if kind in ("enum", "list") and ftype.values and rng.random() < 0.6:
        return _quoted(rng.choice(ftype.values))
    return _quoted(_random_text(rng))


def _random_text(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return "x" * rng.choice((300, 5000))
    return "".join(rng.choice(_TEXT_ALPHABET) for _ in range(rng.randint(0, 6)))


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _mutate_chars(rng: random.Random, text: str) -> str:
    k = rng.randint(0, len(text))
    roll = rng.random()
    if roll < 0.4:
        return text[:k] + rng.choice(NASTY_CHARS) + text[k:]
    if roll < 0.7:
        return text[:k] + text[k + 1 :]
    if roll < 0.85:
        return text[:k] + rng.choice(NASTY_TOKENS[:12]) + text[k:]
    return text.replace(rng.choice(("(", ")", ",", "'", " ", "[")), rng.choice(FULL_WIDTH), 1)


# --- the structured form -------------------------------------------------------------


def structured_condition(rng: random.Random, depth: int = 3) -> object:
    """A condition in the structured form, as plain data: often valid, sometimes hostile."""
    roll = rng.random()
    if roll < 0.005:
        return _deep(rng, rng.choice(("not", "all", "any")), rng.choice((150, 300, 400, 1200)))
    if depth <= 0 or roll < 0.35:
        return _structured_atom(rng)
    if roll < 0.45:
        return {"not": structured_condition(rng, depth - 1)}
    if roll < 0.5:
        return condition_string(rng)
    key = rng.choice(("all", "any"))
    items = [structured_condition(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {key: items if rng.random() < 0.95 else _hostile_plain(rng)}


def _deep(rng: random.Random, key: str, depth: int) -> object:
    node: object = _structured_atom(rng)
    for _ in range(depth):
        node = {key: node} if key == "not" else {key: [node]}
    return node


def _structured_atom(rng: random.Random) -> object:
    name = rng.choice(list(FIELDS))
    roll = rng.random()
    if roll < 0.1:
        return {"required": rng.choice(([name], name, [name, 1], _hostile_plain(rng)))}
    if roll < 0.15:
        return _hostile_plain(rng)
    subject = "len" if rng.random() < 0.15 else "field"
    op = rng.choice((*_OPS, "in", "not_in", "not in", "contains", "=>", " == "))
    if rng.random() < 0.05:
        op = _hostile_plain(rng)  # type: ignore[assignment]
    atom: dict[object, object] = {subject: name, "op": op, "value": _structured_value(rng, op)}
    if rng.random() < 0.05:
        atom[rng.choice(("extra", 1, "len", None))] = _hostile_plain(rng)
    if rng.random() < 0.03:
        del atom[rng.choice(("op", "value"))]
    return atom


def _structured_value(rng: random.Random, op: object) -> object:
    if op in ("in", "not_in", "not in") and rng.random() < 0.9:
        return [_plain_literal(rng) for _ in range(rng.randint(0, 4))]
    if rng.random() < 0.1:
        return {rng.choice(("field", "len")): rng.choice([*FIELDS, 7, "nope"])}
    return _plain_literal(rng)


def _plain_literal(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.2:
        return rng.choice(_PLAIN_INTS)
    if roll < 0.35:
        return rng.choice((0.1, 2.5, 1e308, -1e308, 5e-324, float("inf"), float("nan"), 1e16))
    if roll < 0.45:
        return rng.choice((True, False, None))
    if roll < 0.65:
        return rng.choice((*EXTREME_DATES, "2026-12-31", "2026-03-01T09:30:00+08:00"))
    if roll < 0.8:
        return rng.choice(("energy", "abb", "能源", "施耐德", "siemens"))
    if roll < 0.9:
        return _random_text(rng)
    return _hostile_plain(rng)


def _hostile_plain(rng: random.Random) -> object:
    return rng.choice(_HOSTILE_PLAIN)


_HOSTILE_PLAIN: tuple[object, ...] = (
    None,
    [],
    {},
    [[[]]],
    {"field": None},
    {1: 2},
    10**5000,
    -(10**400),
    float("nan"),
    Decimal("1E+999999"),
    Decimal("NaN"),
    "x" * 300,
    "\x00",
    ("tuple",),
    b"bytes",
    date(9999, 12, 31),
)
_PLAIN_INTS = (0, 1, -1, 5, 2.5, 10**19, 10**400, -(10**400), 10**5000)


# --- deals and the whole condition input ---------------------------------------------


def deal(rng: random.Random, fields: dict[str, FieldType] | None = None) -> dict[str, Any]:
    """A deal as the engine holds it: each field missing, None, or a typed (extreme) value."""
    out: dict[str, Any] = {}
    for name, ftype in (fields or FIELDS).items():
        roll = rng.random()
        if roll < 0.2:
            continue
        out[name] = None if roll < 0.3 else _typed_value(rng, ftype)
    return out


def _typed_value(rng: random.Random, ftype: FieldType) -> Any:
    kind = ftype.kind
    if kind == "list":
        items = ftype.values or ("a", "", "中")
        return tuple(rng.choice(items) for _ in range(rng.randint(0, 3)))
    if kind == "enum":
        return rng.choice(ftype.values or ("x",))
    return rng.choice(_TYPED[kind])


_TYPED: dict[str, tuple[Any, ...]] = {
    "decimal": (Decimal(0), Decimal("0.07"), Decimal("1E+400"), Decimal(-(10**30))),
    "number": (0.0, 2.5, 1e308, -1e308, 5e-324),
    "integer": (0, 3, -1, 10**400),
    "boolean": (True, False),
    "date": (date.min, date.max, date(2026, 12, 31)),
    "datetime": (
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    ),
    "string": ("", "王经理", "x" * 300, "\x00", "'"),
}


@dataclass(frozen=True, slots=True)
class ConditionInput:
    """One condition to fuzz, with what it is checked against and evaluated on."""

    source: object
    tz: tzinfo
    seed: int

    def deals(self) -> list[dict[str, Any]]:
        """Three deals to evaluate the condition on (made only for a condition that parses)."""
        rng = random.Random(self.seed ^ 0x5EED)
        return [deal(rng) for _ in range(3)]

    def size(self) -> int:
        """How big the input is, to pick the smallest reproducer of a crash class."""
        if isinstance(self.source, str):
            return len(self.source)
        text = self.describe()
        return len(text) if not text.startswith("<structured data") else 10**9

    def describe(self) -> str:
        """The source as a reproducer shows it: the string itself, or the data's repr."""
        if isinstance(self.source, str):
            return self.source
        try:
            return repr(self.source)
        except ValueError:  # an int past the str->int digit limit
            return "<structured data with an int of more than 4300 digits>"
        except RecursionError:
            return "<structured data nested too deeply to repr>"


def condition_input(seed: int) -> ConditionInput:
    """The condition, timezone and deals for ``seed``; always the same for the same seed."""
    rng = random.Random(seed)
    source = condition_string(rng) if rng.random() < 0.7 else structured_condition(rng)
    return ConditionInput(source, rng.choice(ZONES_FOR_NAIVE), seed)
