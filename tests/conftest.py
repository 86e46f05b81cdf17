"""Shared fixtures: playbook models built from YAML written in tests or kept beside them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from playbook.definition.validate import validate_text
from playbook.model import Playbook

PlaybookFactory = Callable[[str], Playbook]

ENGINE_PLAYBOOK = (
    Path(__file__).resolve().parent / "golden" / "check" / "engine-test" / "playbook.yaml"
)
"""A playbook that uses every rule the engine enforces (see its header comment)."""


def build_playbook(yaml_text: str, file: str = "<test>") -> Playbook:
    """The model of ``yaml_text`` (dedented), which must be a valid playbook.

    Fails the test with every error diagnostic when it is not: a test playbook
    that does not validate is a bug in the test.
    """
    result = validate_text(textwrap.dedent(yaml_text), file)
    errors = [f"{d.line}:{d.column} {d.code} {d.message}" for d in result.diagnostics]
    assert result.playbook is not None, "\n".join(errors)
    return result.playbook


@pytest.fixture
def make_playbook() -> PlaybookFactory:
    """A factory: ``make_playbook(yaml_text) -> Playbook`` for a playbook written in the test."""
    return build_playbook


@pytest.fixture(scope="session")
def engine_playbook() -> Playbook:
    """The engine test playbook, ``tests/golden/check/engine-test/playbook.yaml``."""
    return build_playbook(ENGINE_PLAYBOOK.read_text(encoding="utf-8"), str(ENGINE_PLAYBOOK))
