"""Database fixtures: every store test runs on SQLite and on a real PostgreSQL server.

``db_url`` is parametrized over ``sqlite`` (a file in the test's temporary
folder) and ``postgres`` (a fresh database per test). The PostgreSQL server is
``$PLAYBOOK_TEST_POSTGRES_URL`` when set (a URL whose user may create
databases), else a throwaway server started from the local PostgreSQL
binaries for the whole session; without either, the postgres tests are
skipped with a message, or fail when ``PLAYBOOK_REQUIRE_POSTGRES=1`` (as in CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from playbook.definition.files import playbook_from_text
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.store.db import Database, open_database
from playbook.store.repository import DealStore
from playbook.store.schema import upgrade
from playbook.store.testing import ThrowawayPostgres, find_postgres_bin, fresh_database

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MAVEN = SHARED / "datasets" / "maven-crm"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "maven-crm"


def _postgres_missing(reason: str) -> NoReturn:
    if os.environ.get("PLAYBOOK_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (PLAYBOOK_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(autouse=True)
def _local_sinks_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' webhook and SMTP servers listen on 127.0.0.1, which sinks refuse by default.

    The operator's switch is set for every integration test (and the processes
    they start); tests/integration/test_sink_policy.py checks the refusals
    with explicit policies and with the switch removed.
    """
    monkeypatch.setenv("PLAYBOOK_ALLOW_PRIVATE_SINKS", "1")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A URL on a PostgreSQL server where test databases can be created."""
    given = os.environ.get("PLAYBOOK_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        _postgres_missing(
            "no PLAYBOOK_TEST_POSTGRES_URL and no PostgreSQL binaries (initdb, pg_ctl) found; "
            "install the postgresql package or set PLAYBOOK_TEST_POSTGRES_URL"
        )
    server = ThrowawayPostgres(bin_dir)
    try:
        server.start()
    except (RuntimeError, OSError) as error:
        server.stop()
        _postgres_missing(f"the throwaway server did not start: {error}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema yet): an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'playbook.db'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with fresh_database(admin) as url:
        yield url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """An open store with the schema at head."""
    opened = open_database(db_url, check_schema=False)
    upgrade(opened)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def store(database: Database) -> DealStore:
    """A deal store on an up-to-date database."""
    return DealStore(database)


SALES_PLAYBOOK = """\
playbook: store-test
version: 1
title: {en: Store test, zh: 存储测试}
roles:
  rep: {title: Rep}
  manager: {title: Manager}
fields:
  amount: {type: decimal, min: 0}
  signed_on: {type: date}
  met_at: {type: datetime}
  tags: {type: list}
  minutes: {type: string}
  visits: {type: integer}
stages:
  - id: lead
    title: {en: Lead, zh: 线索}
    actions:
      - {id: first_call, role: rep, evidence: minutes}
  - id: offer
    title: {en: Offer, zh: 报价}
    entry: ["amount > 0"]
  - id: won
    title: Won
    outcome: won
  - id: lost
    title: Lost
    outcome: lost
transitions:
  allow:
    - {from: offer, to: lead}
overrides:
  roles: [manager]
"""
"""A small playbook: a required action with evidence, an entry criterion, overrides."""


@pytest.fixture(scope="session")
def sales_playbook() -> Playbook:
    """The model of :data:`SALES_PLAYBOOK`."""
    return playbook_from_text(SALES_PLAYBOOK, "store-test.yaml")


@pytest.fixture(scope="session")
def sales_engine(sales_playbook: Playbook) -> Engine:
    """The engine of :data:`SALES_PLAYBOOK`."""
    return Engine(sales_playbook)
