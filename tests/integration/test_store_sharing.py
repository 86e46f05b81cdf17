"""A store in a database it shares with a host application, on SQLite and PostgreSQL.

The host has its own ``deals``, ``people``, ``activities`` and ``playbooks``
tables and its own Alembic history in ``alembic_version``; the store's tables
are named ``playbook_…`` (and, on PostgreSQL, may live in a schema of their
own). Also: the old layout upgrades, a foreign history gets PB613, the store
runs inside a caller's transaction, and reassignments and deletions are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from playbook.definition.files import playbook_from_text
from playbook.errors import DealNotFoundError, ForeignHistoryError, StoreError
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import parse_period
from playbook.model import Playbook
from playbook.store.db import HEAD_REVISION, Database, open_database
from playbook.store.repository import DealStore
from playbook.store.schema import _config, upgrade
from playbook.values import Actor

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REP = Actor("wang", frozenset({"rep"}))
BOSS = Actor("boss", frozenset({"manager"}))
HOST_REVISION = "a1b2c3d4e5f6"  # what a host application's own Alembic history looks like

PLAYBOOK = """\
playbook: shared
version: 1
title: {en: Shared, zh: 共享}
roles:
  rep: {title: Rep}
  manager: {title: Manager}
fields:
  amount: {type: decimal}
stages:
  - {id: lead, title: Lead}
  - {id: won, title: Won, outcome: won}
kpis:
  - {id: leads, metric: stage_entries, stage: lead, period: month}
"""

HOST_TABLES = ("deals", "people", "activities", "playbooks")


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    """A two-stage playbook with one KPI (entries into ``lead``)."""
    return playbook_from_text(PLAYBOOK, "shared.yaml")


@pytest.fixture
def host(db_url: str) -> Iterator[Engine]:
    """The host application's engine, its four tables (one row each) and its Alembic history."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        for name in HOST_TABLES:
            connection.execute(text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, label TEXT)"))
            connection.execute(text(f"INSERT INTO {name} VALUES (1, 'host {name}')"))
        connection.execute(
            text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        )
        connection.execute(text(f"INSERT INTO alembic_version VALUES ('{HOST_REVISION}')"))
    try:
        yield engine
    finally:
        engine.dispose()


def _schemas(db_url: str) -> list[str | None]:
    return [None, "crm"] if db_url.startswith("postgresql") else [None]


def _host_rows(engine: Engine) -> dict[str, list[tuple[int, str]]]:
    with engine.connect() as connection:
        rows = {
            name: [tuple(row) for row in connection.execute(text(f"SELECT id, label FROM {name}"))]
            for name in HOST_TABLES
        }
        versions = connection.execute(text("SELECT version_num FROM alembic_version"))
        rows["alembic_version"] = [(0, str(row[0])) for row in versions]
    return rows  # type: ignore[return-value]


def test_a_host_database_is_shared_and_both_work(
    db_url: str, host: Engine, playbook: Playbook
) -> None:
    """PB613 before init; after init the store and the host's tables and history both work."""
    before = _host_rows(host)
    for schema in _schemas(db_url):
        with pytest.raises(ForeignHistoryError, match="db init") as foreign:
            open_database(db_url, schema=schema)
        assert foreign.value.code == "PB613"
        assert HOST_REVISION in str(foreign.value)
        database = open_database(db_url, check_schema=False, schema=schema)
        try:
            assert upgrade(database) == (None, HEAD_REVISION)
            database.check_schema()
            store = DealStore(database)
            store.register_playbook(playbook, PLAYBOOK, now=NOW)
            deal = store.add_deal(playbook, actor=REP, now=NOW, external_id="D-1", owner="wang")
            assert [d.external_id for d in store.list_deals()] == ["D-1"]
            store.log_activity(deal.id, "call", actor=REP, now=NOW, note="hello")
            assert [e.kind for e in store.history(deal.id)] == ["stage_change", "call"]
            # A running month is reported as of `now`: an entry made at NOW counts just after.
            later = NOW + timedelta(hours=1)
            report = compute_kpis(database, playbook, parse_period("2026-03"), now=later)
            assert [r.value for r in report.for_kpi("leads")] == [1]
        finally:
            database.dispose()
        where = inspect(host).get_table_names(schema=schema)
        assert {"playbook_deals", "playbook_alembic_version"} <= set(where)
    assert _host_rows(host) == before  # the host's rows and history, untouched
    with host.begin() as connection:  # and the host still writes its own tables
        connection.execute(text("INSERT INTO deals VALUES (2, 'host again')"))
        connection.execute(
            text(f"UPDATE alembic_version SET version_num = '{HOST_REVISION[::-1]}'")
        )
    reopened = open_database(db_url)
    try:
        assert reopened.revision() == HEAD_REVISION
    finally:
        reopened.dispose()


def _old_layout(db_url: str, revision: str) -> None:
    """A store as releases before 0009 wrote it: unprefixed tables, ``alembic_version``."""
    database = open_database(db_url, check_schema=False)
    try:
        with database.engine.connect() as connection:
            config = _config(connection, None)
            config.attributes["version_table"] = "alembic_version"
            command.upgrade(config, revision)
            connection.commit()
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO playbooks (id, version, source, sha256, registered_at) "
                    "VALUES ('shared', 1, :source, 'x', :at)"
                ),
                {"source": PLAYBOOK, "at": NOW.replace(tzinfo=None)},
            )
            connection.execute(
                text(
                    "INSERT INTO deals (external_id, playbook_id, playbook_version, stage, owner, "
                    "fields, actions, created_at, updated_at, updated_by, stage_entered_at, "
                    "version) VALUES ('OLD-1', 'shared', 1, 'lead', 'li', '{}', '{}', :at, :at, "
                    "'li', :at, 1)"
                ),
                {"at": NOW.replace(tzinfo=None)},
            )
    finally:
        database.dispose()


@pytest.mark.parametrize("others", [(), (HOST_REVISION,)])
def test_an_old_layout_store_upgrades(
    db_url: str, playbook: Playbook, others: tuple[str, ...]
) -> None:
    """The store's revision moves to its own table; another application's row stays."""
    _old_layout(db_url, "0005")
    database = open_database(db_url, check_schema=False)
    try:
        with database.engine.begin() as connection:
            for revision in others:
                connection.execute(text(f"INSERT INTO alembic_version VALUES ('{revision}')"))
        assert database.revision() == "0005"
        with pytest.raises(StoreError, match="db upgrade"):
            database.check_schema()
        assert upgrade(database) == ("0005", HEAD_REVISION)
        database.check_schema()
        names = set(inspect(database.engine).get_table_names())
        assert not names & {"deals", "stage_changes", "people", "playbooks"}
        if others:
            with database.engine.connect() as connection:
                rows = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert [row[0] for row in rows] == list(others)
        else:
            assert "alembic_version" not in names
        store = DealStore(database)
        old = store.get("OLD-1")
        assert (old.owner, old.stage) == ("li", "lead")
        new = store.add_deal(playbook, actor=REP, now=NOW, external_id="NEW-1")
        assert new.id > old.id  # the renamed id sequence carries on
    finally:
        database.dispose()


def _bound(db_url: str, schema: str | None) -> tuple[Engine, Database]:
    database = open_database(db_url, check_schema=False, schema=schema)
    upgrade(database)
    database.dispose()
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE deals (id INTEGER PRIMARY KEY, label TEXT)"))
    return engine, database


def _count(engine: Engine, schema: str | None) -> tuple[int, int]:
    reader = open_database(str(engine.url.render_as_string(hide_password=False)), schema=schema)
    try:
        with engine.connect() as connection:
            host = connection.execute(text("SELECT count(*) FROM deals")).scalar()
        return int(host or 0), DealStore(reader).count()
    finally:
        reader.dispose()


def _work(connection: Connection, playbook: Playbook, schema: str | None, ref: str) -> None:
    """The host's write and the store's writes, in the host's transaction."""
    connection.execute(
        text("INSERT INTO deals VALUES (:id, :label)"), {"id": len(ref), "label": ref}
    )
    store = DealStore(Database.from_connection(connection, schema=schema))
    store.register_playbook(playbook, PLAYBOOK, now=NOW)
    deal = store.add_deal(playbook, actor=REP, now=NOW, external_id=ref)
    store.reassign(deal.id, owner="zhao", actor=BOSS, now=NOW, reason="cover")
    with pytest.raises(DealNotFoundError):  # a failed store operation undoes only itself
        store.log_activity("nope", "call", actor=REP, now=NOW)
    assert store.get(ref).owner == "zhao"


def test_the_store_joins_the_callers_transaction(db_url: str, playbook: Playbook) -> None:
    """Rolled back with the caller's transaction, committed with it; never on its own."""
    for schema in _schemas(db_url):
        engine, _ = _bound(db_url, schema)
        try:
            with engine.connect() as connection:
                transaction = connection.begin()
                _work(connection, playbook, schema, "ROLLED-BACK")
                transaction.rollback()
            assert _count(engine, schema) == (0, 0)
            with engine.begin() as connection:
                _work(connection, playbook, schema, "KEPT")
            assert _count(engine, schema) == (1, 1)
            with engine.connect() as connection:
                store = DealStore(Database.from_connection(connection, schema=schema))
                connection.commit()  # nothing open now
                with pytest.raises(StoreError, match="no transaction open"):
                    store.get("KEPT")
        finally:
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE deals"))
            engine.dispose()


def test_reassign_and_delete_are_recorded(database: Database, playbook: Playbook) -> None:
    """History keeps the reassignment; a deleted deal leaves lists and KPIs, its record stays."""
    store = DealStore(database)
    store.register_playbook(playbook, PLAYBOOK, now=NOW)
    kept = store.add_deal(playbook, actor=REP, now=NOW, external_id="K", owner="wang", team="n")
    gone = store.add_deal(playbook, actor=REP, now=NOW, external_id="G", owner="wang")
    store.log_activity("G", "call", actor=REP, now=NOW)
    later = NOW + timedelta(hours=2)
    moved = store.reassign("K", owner="zhao", team="e", reason="wang left", actor=BOSS, now=later)
    assert (moved.from_owner, moved.to_owner, moved.from_team, moved.to_team) == (
        "wang",
        "zhao",
        "n",
        "e",
    )
    entry = store.history("K")[-1]
    assert (entry.kind, entry.actor, entry.at, entry.note) == (
        "reassign",
        "boss",
        later,
        "wang left",
    )
    assert entry.deal_version == kept.version + 1 == store.get("K").version
    period = parse_period("2026-03")
    before = compute_kpis(database, playbook, period, now=later).for_kpi("leads")[0]
    assert (before.value, before.n) == (2, 2)
    record = store.delete("G", reason="duplicate", actor=BOSS, now=later)
    assert (record.deal_id, record.actor, record.at, record.reason) == (
        gone.id,
        "boss",
        later,
        "duplicate",
    )
    assert [d.external_id for d in store.list_deals()] == ["K"]
    assert store.count() == 1
    after = compute_kpis(database, playbook, period, now=later).for_kpi("leads")[0]
    assert after.value == 1
    with pytest.raises(DealNotFoundError, match="deleted by boss"):
        store.get("G")
    with pytest.raises(DealNotFoundError, match="deleted by boss"):
        store.get(gone.id)
    assert [d.to_dict() for d in store.deletions()] == [record.to_dict()]
    with database.engine.connect() as connection:
        for table in ("playbook_stage_changes", "playbook_activities"):
            left = connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE deal_id = :id"), {"id": gone.id}
            )
            assert left.scalar() == 0


def test_the_cli_takes_the_schema_from_the_url_or_the_environment(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL: ``?schema=`` and PLAYBOOK_DB_SCHEMA choose it; SQLite refuses one (PB603)."""
    from playbook.cli import main

    joined = f"{db_url}{'&' if '?' in db_url else '?'}schema=sales"
    if not db_url.startswith("postgresql"):
        assert main(["db", "init", "--db", joined]) == 3
        assert "PB603" in capsys.readouterr().err
        return
    assert main(["db", "init", "--db", joined]) == 0
    monkeypatch.setenv("PLAYBOOK_DB_SCHEMA", "sales")
    assert main(["db", "current", "--db", db_url]) == 0
    assert f"{HEAD_REVISION} (up to date)" in capsys.readouterr().out
    monkeypatch.delenv("PLAYBOOK_DB_SCHEMA")
    assert main(["db", "current", "--db", db_url]) == 0
    assert "no schema" in capsys.readouterr().out  # the default schema has no store
    engine = create_engine(db_url)
    try:
        assert "playbook_deals" in inspect(engine).get_table_names(schema="sales")
        assert "playbook_deals" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
