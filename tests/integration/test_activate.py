"""Activating a registered playbook version: new deals follow it, every process sees it at once.

On SQLite and PostgreSQL. The second process is a real ``playbook activate``
subprocess; the store objects opened before it ran see its row on their next
read (nothing caches the active version).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from conftest import SALES_PLAYBOOK
from playbook import refusals
from playbook.definition.files import playbook_from_text
from playbook.errors import PermissionDeniedError, VersionNotRegisteredError
from playbook.pipeline import Pipeline
from playbook.store.db import Database, open_database
from playbook.store.models import PlaybookActivation, Refusal
from playbook.store.repository import DealStore
from playbook.values import Actor

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OPS = Actor("olga", frozenset({"rep"}))


def _text(version: int) -> str:
    return SALES_PLAYBOOK.replace("version: 1\n", f"version: {version}\n", 1)


def _register(pipeline: Pipeline, *versions: int) -> None:
    for version in versions:
        text = _text(version)
        pipeline.register(playbook_from_text(text, f"v{version}.yaml"), text, now=T0)


def _activations(database: Database) -> list[tuple[str, int, str, str]]:
    with database.transaction() as session:
        rows = session.execute(
            select(
                PlaybookActivation.playbook_id,
                PlaybookActivation.version,
                PlaybookActivation.activated_by,
                PlaybookActivation.reason,
            ).order_by(PlaybookActivation.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_activating_v1_after_v2_pins_new_deals_to_v1(store: DealStore, db_url: str) -> None:
    """v1 and v2 registered (v2 active); v1 activated: new deals are pinned to v1, a second
    store object on the same database sees it, and registering v3 does not move it."""
    pipeline = Pipeline(store)
    _register(pipeline, 1, 2)
    assert store.active_version("store-test") == 2  # no activation: the highest, as before
    first = pipeline.add_deal("store-test", actor=OPS, now=T0, external_id="A-1")
    other = DealStore(open_database(db_url))
    try:
        assert other.active_version("store-test") == 2
        store.activate("store-test", 1, actor="olga", reason="v2 misfires", now=T0)
        assert other.active_version("store-test") == 1  # seen at once, nothing cached
        second = Pipeline(other).add_deal("store-test", actor=OPS, now=T0, external_id="A-2")
        third = pipeline.add_deal("store-test", actor=OPS, now=T0, external_id="A-3")
        _register(pipeline, 3)
        fourth = pipeline.add_deal("store-test", actor=OPS, now=T0, external_id="A-4")
    finally:
        other.database.dispose()
    versions = [d.playbook_version for d in (first, second, third, fourth)]
    assert versions == [2, 1, 1, 1]
    assert store.get("A-1").playbook_version == 2  # a pinned deal stays where it was
    assert _activations(store.database) == [("store-test", 1, "olga", "v2 misfires")]


def test_an_unregistered_version_is_refused_and_nothing_written(store: DealStore) -> None:
    """PB614 (404) names the registered versions; no activation row; the active one unchanged."""
    _register(Pipeline(store), 1, 2)
    with pytest.raises(VersionNotRegisteredError) as caught:
        store.activate("store-test", 5, actor="olga", reason="typo", now=T0)
    assert (caught.value.code, caught.value.http_status) == ("PB614", 404)
    assert caught.value.details["registered"] == [1, 2]
    with pytest.raises(VersionNotRegisteredError):
        store.activate("nope", 1, actor="olga", reason="typo", now=T0)
    assert _activations(store.database) == []
    assert store.active_version("store-test") == 2


def test_a_rep_is_refused_and_recorded(store: DealStore) -> None:
    """Only ops/admin may activate: a rep gets PB530, the refusal is recorded, nothing else."""
    _register(Pipeline(store), 1, 2)
    with pytest.raises(PermissionDeniedError):
        refusals.require_role(
            store, refusals.PLAYBOOK_ADMIN_ROLES, "activate", actor="rita", roles=["rep"],
            now=T0, subject="store-test@1",
        )  # fmt: skip
    with store.database.transaction() as session:
        found = session.execute(select(Refusal.actor, Refusal.action, Refusal.code)).all()
        assert session.scalar(select(func.count()).select_from(PlaybookActivation)) == 0
    assert [tuple(row) for row in found] == [("rita", "activate", "PB530")]


def test_another_process_activates_and_this_one_sees_it(store: DealStore, db_url: str) -> None:
    """`playbook activate` in a subprocess: this process's store and pipeline (engines already
    built) follow v1 on their next call; a rep in that process is refused (exit 1)."""
    pipeline = Pipeline(store)
    _register(pipeline, 1, 2)
    assert pipeline.engine("store-test").playbook.version == 2

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "playbook", "activate", *args, "--db", db_url]
        env = {**os.environ, "PLAYBOOK_LANG": "en"}
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False)

    rep = run("store-test", "1", "--reason", "x", "--as", "rita:rep")
    missing = run("store-test", "9", "--reason", "x", "--as", "olga:ops")
    done = run("store-test", "1", "--reason", "back to v1", "--as", "olga:ops")
    assert (rep.returncode, "PB530" in rep.stderr) == (1, True), rep.stderr
    assert (missing.returncode, "PB614" in missing.stderr) == (2, True), missing.stderr
    assert done.returncode == 0, done.stderr
    assert "store-test@1" in done.stdout
    assert pipeline.engine("store-test").playbook.version == 1
    deal = pipeline.add_deal("store-test", actor=OPS, now=T0, external_id="P-1")
    assert deal.playbook_version == 1
    assert _activations(store.database) == [("store-test", 1, "olga", "back to v1")]
