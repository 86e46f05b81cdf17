"""Schema migrations on SQLite and PostgreSQL: create, upgrade, refuse newer, recover."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from playbook.errors import DatabaseUnavailableError, SchemaVersionError
from playbook.store.db import HEAD_REVISION, REVISIONS, Database, open_database
from playbook.store.schema import MIGRATIONS, upgrade


def test_known_revisions_match_the_shipped_migrations() -> None:
    """REVISIONS lists exactly the revision files in the package, in order."""
    found = sorted(
        re.search(r'^revision = "(\w+)"', path.read_text(), re.M).group(1)  # type: ignore[union-attr]
        for path in (MIGRATIONS / "versions").glob("0*.py")
    )
    assert tuple(found) == REVISIONS


def test_empty_database_upgrades_to_head(db_url: str) -> None:
    """An empty database gets every table and index; a second upgrade does nothing."""
    database = open_database(db_url, check_schema=False)
    try:
        assert upgrade(database) == (None, HEAD_REVISION)
        assert upgrade(database) == (HEAD_REVISION, HEAD_REVISION)
        database.check_schema()
        names = set(inspect(database.engine).get_table_names())
        tables = {"deals", "stage_changes", "activities", "playbooks", "people"}
        assert {f"playbook_{name}" for name in tables} <= names
        indexes = {i["name"] for i in inspect(database.engine).get_indexes("playbook_deals")}
        expected = {"ix_deals_playbook_stage", "ix_deals_owner", "ix_deals_last_activity_at"}
        assert {name.replace("ix_", "ix_playbook_") for name in expected} <= indexes
    finally:
        database.dispose()


def test_previous_revision_upgrades_cleanly(db_url: str) -> None:
    """A database created at the previous revision, with data, upgrades and keeps its data."""
    database = open_database(db_url, check_schema=False)
    try:
        upgrade(database, REVISIONS[-2])
        with pytest.raises(SchemaVersionError, match="db upgrade"):
            database.check_schema()
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    # The previous revision is 0009 or later: the tables are prefixed.
                    "INSERT INTO playbook_playbooks (id, version, source, sha256, registered_at) "
                    "VALUES ('p', 1, 'x', 'y', CURRENT_TIMESTAMP)"
                )
            )
        assert upgrade(database) == (REVISIONS[-2], HEAD_REVISION)
        with database.engine.connect() as connection:
            found = connection.execute(text("SELECT count(*) FROM playbook_playbooks"))
            assert found.scalar() == 1
    finally:
        database.dispose()


def test_failed_upgrade_can_be_run_again(db_url: str) -> None:
    """An upgrade that fails midway leaves the previous revision, and succeeds once fixed."""
    database = open_database(db_url, check_schema=False)
    try:
        upgrade(database, "0001")
        with database.engine.begin() as connection:
            connection.execute(
                text("CREATE TABLE people (name TEXT)")
            )  # in the way of 0002, which creates it
        with pytest.raises(Exception, match="people"):
            upgrade(database)
        assert database.revision() == "0001"
        with database.engine.begin() as connection:
            connection.execute(text("DROP TABLE people"))
        assert upgrade(database) == ("0001", HEAD_REVISION)
    finally:
        database.dispose()


def test_newer_schema_is_refused(db_url: str) -> None:
    """A database written by a newer release raises SchemaVersionError (exit 3), untouched."""
    database = open_database(db_url, check_schema=False)
    try:
        upgrade(database)
        with database.engine.begin() as connection:
            connection.execute(text("UPDATE playbook_alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaVersionError, match="newer playbook") as newer:
            open_database(db_url)
        assert newer.value.exit_code == 3
        with pytest.raises(SchemaVersionError):
            upgrade(database)
        assert database.revision() == "9999"
    finally:
        database.dispose()


def test_database_without_schema_says_to_init(db_url: str) -> None:
    """Opening a database that has no schema says to run `playbook db init`."""
    with pytest.raises(SchemaVersionError, match="db init"):
        open_database(db_url)


@pytest.mark.parametrize(
    "url",
    [
        "nonsense://",
        "sqlite:////no/such/folder/playbook.db",
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
    ],
)
def test_unreachable_database_is_reported(url: str) -> None:
    """A malformed URL, a missing folder or a server that does not answer: PB603, exit 3."""
    with pytest.raises(DatabaseUnavailableError) as unavailable:
        open_database(url)
    assert (unavailable.value.code, unavailable.value.exit_code) == ("PB603", 3)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    """SQLite connections use WAL, enforce foreign keys and wait for locks."""
    database = open_database(f"sqlite:///{tmp_path / 'x.db'}", check_schema=False)
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        database.dispose()


def _layout(database: Database) -> dict[str, object]:
    """Every table's columns, keys, indexes and constraints, as the database reports them."""
    found = inspect(database.engine)
    layout: dict[str, object] = {}
    for table in sorted(found.get_table_names()):
        layout[table] = {
            "columns": [
                (c["name"], type(c["type"]).__name__, c["nullable"])
                for c in found.get_columns(table)
            ],
            "primary": found.get_pk_constraint(table)["constrained_columns"],
            "foreign": sorted(
                (tuple(k["constrained_columns"]), k["referred_table"], k["options"].get("ondelete"))
                for k in found.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
        }
    return layout


def test_a_new_database_matches_one_upgraded_through_every_revision(db_url: str) -> None:
    """A database created at head from the models has the layout the revisions build."""
    migrated = open_database(db_url, check_schema=False)
    try:
        upgrade(migrated, REVISIONS[0])
        upgrade(migrated)
        stepwise = _layout(migrated)
        cascade = " CASCADE" if migrated.dialect == "postgresql" else ""
        with migrated.engine.begin() as connection:
            for table in reversed(list(stepwise)):
                connection.execute(text(f"DROP TABLE {table}{cascade}"))
        assert upgrade(migrated) == (None, HEAD_REVISION)
        assert _layout(migrated) == stepwise
    finally:
        migrated.dispose()
