"""Property: no condition makes the condition language raise anything but a PlaybookError.

Each seed gives a condition (the string form from the grammar, with nasty
literals, deep nesting and long ``not`` chains, or the structured form as
plain data), a timezone and deals (``generators.condition_input``). Whatever
parses is evaluated (``to_python``), rendered and parsed back (the text must
read back the same), and compiled to SQL for SQLite and PostgreSQL (a column
per field, and the store's ``where``). A failing seed is replayed with
``python tests/fuzz/run.py --target conditions --replay SEED``.
"""

from __future__ import annotations

from generators import condition_input
from hypothesis import given, settings
from hypothesis import strategies as st
from targets import run_condition

SEEDS = st.integers(min_value=0, max_value=2**63 - 1)


@settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
)
@given(SEEDS)
def test_no_condition_crashes_the_condition_language(seed: int) -> None:
    """Parsing, evaluating, rendering and compiling never raise but PlaybookError."""
    run_condition(condition_input(seed))
