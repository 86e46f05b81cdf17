"""Property: no text makes full validation raise anything but a PlaybookError.

The texts are mutated windows of the sample playbooks (``generators.playbook_text``),
drawn from integer seeds: a failing seed is replayed with
``python tests/fuzz/run.py --target loader --replay SEED``. The long run is
``make fuzz``; this is its short, deterministic slice for every ``pytest``.
"""

from __future__ import annotations

from generators import playbook_text
from hypothesis import given, settings
from hypothesis import strategies as st
from targets import run_loader

SEEDS = st.integers(min_value=0, max_value=2**63 - 1)


@settings(
    max_examples=1200,
    deadline=None,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
)
@given(SEEDS)
def test_no_playbook_text_crashes_validation(seed: int) -> None:
    """validate_text returns diagnostics, or raises PlaybookError, for any mutated playbook."""
    run_loader(playbook_text(seed))
