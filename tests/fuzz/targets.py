"""What the fuzz tests and ``tests/fuzz/run.py`` feed each input through, and crash classes.

The rule: the library may answer bad input with diagnostics or with a
:class:`~playbook.errors.PlaybookError`; any other exception is a crash.
:func:`crash_class` groups crashes by exception type and innermost frame
inside ``src/playbook`` (for a RecursionError, the module only: where the
limit trips inside a recursion is arbitrary).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from generators import FIELDS, ConditionInput

import playbook
from playbook.conditions import parse_condition, render, to_python
from playbook.definition.validate import FileResult, validate_text
from playbook.errors import PlaybookError

__all__ = ["RoundTripError", "crash_class", "run_condition", "run_loader", "safe_name"]

PACKAGE = str(Path(playbook.__file__).resolve().parent)


class RoundTripError(AssertionError):
    """``render`` gave text that does not parse back to the same condition."""


def run_loader(text: str) -> None:
    """Validate ``text`` fully; raises whatever the library raises other than PlaybookError."""
    try:
        result = validate_text(text, "<fuzz>")
    except PlaybookError:
        return
    assert isinstance(result, FileResult)


def run_condition(case: ConditionInput, *, sql: bool = True) -> None:
    """Parse, evaluate, render and re-parse one condition; with ``sql``, compile it too.

    SQL is compiled twice (a plain column per field, and the store's JSON
    reader ``where``) for both SQLite and PostgreSQL. Compiling costs more
    than all the rest together, so the long runner does it for a sample.
    """
    try:
        expr = parse_condition(case.source, FIELDS, tz=case.tz)
    except PlaybookError:
        return
    test = to_python(expr)
    for deal in case.deals():
        test(deal)
    text = render(expr)
    try:
        again = parse_condition(text, FIELDS, tz=case.tz)
    except PlaybookError as exc:
        raise RoundTripError(f"render() gave {text[:200]!r}, which does not parse: {exc}") from exc
    # Compared as text: the IR's own == recurses once per nesting level.
    if render(again) != text:
        raise RoundTripError(f"render() gave {text[:200]!r}, which parses to another condition")
    if sql:
        _compile_sql(expr)


def _compile_sql(expr: Any) -> None:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql, sqlite

    from playbook.conditions.sql import to_sql
    from playbook.store.fields import where

    table = _table()
    for clause in (to_sql(expr, lambda name, _type: table.c[name]), where(expr)):
        query = sa.select(table.c.id).where(clause)
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            str(query.compile(dialect=dialect))


@cache
def _table() -> Any:
    import sqlalchemy as sa

    types: dict[str, Any] = {
        "decimal": sa.Numeric(14, 2),
        "number": sa.Float,
        "integer": sa.Integer,
        "boolean": sa.Boolean,
        "string": sa.String,
        "enum": sa.String,
        "list": sa.Text,
        "date": sa.Date,
        "datetime": sa.DateTime,
    }
    columns = [sa.Column(name, types[ftype.kind]) for name, ftype in FIELDS.items()]
    return sa.Table("deals", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), *columns)


def crash_class(exc: BaseException) -> str:
    """``Type@module:function`` of the innermost playbook frame (``Type@module`` for recursion).

    A crash with no playbook frame (SQLAlchemy compiling a clause, say) is
    ``Type@package(via harness_function)``.
    """
    frames = _frames(exc)
    ours = [(file, name) for file, name in frames if file.startswith(PACKAGE)]
    if not ours:
        return f"{type(exc).__name__}@{_outside(frames)}"
    file, name = ours[-1]
    module = Path(file).relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
    where = module if isinstance(exc, RecursionError) else f"{module}:{name}"
    return f"{type(exc).__name__}@{where}"


def _frames(exc: BaseException) -> list[tuple[str, str]]:
    """(file, function) of each frame of the traceback, outermost first.

    Read from the code objects: ``traceback.extract_tb`` would read a source
    line for each of the ~1,000 frames of a RecursionError.
    """
    out: list[tuple[str, str]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        out.append((code.co_filename, code.co_name))
        tb = tb.tb_next
    return out


def _outside(frames: list[tuple[str, str]]) -> str:
    """``package(via harness_function)`` for a crash in a library the harness called."""
    if not frames:
        return "harness"
    harness = [name for file, name in frames if file == __file__]
    inner = Path(frames[-1][0])
    package = "sqlalchemy" if "sqlalchemy" in inner.parts else inner.stem
    return f"{package}(via {harness[-1] if harness else '?'})"


def safe_name(crash: str) -> str:
    """A crash class as a directory name."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", crash.replace(":", "."))
