"""Opening the deal store by URL, and creating or upgrading its schema.

``sqlite:///playbook.db`` (a file next to where the command runs) is the
default; the ``PLAYBOOK_DB`` environment variable or an explicit URL (the
CLI's ``--db``) points elsewhere, e.g. ``postgresql://user@host/playbook``.

SQLite connections run in WAL mode with foreign keys on and a busy timeout, and
write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers
wait for each other instead of failing halfway. The schema is managed by the
Alembic migrations shipped in this package; :meth:`Database.check_schema`
refuses a database written by a newer release.

The store can share a database with a host application (see :mod:`.layout`):
its tables are named ``playbook_…``, its schema version lives in
``playbook_alembic_version``, and on PostgreSQL a schema of its own may be
chosen (``schema=``, ``?schema=`` in the URL, or ``$PLAYBOOK_DB_SCHEMA``).
:meth:`Database.from_connection` runs the store inside the caller's transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session

from playbook.errors import (
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    DiskFullError,
    ForeignHistoryError,
    SchemaVersionError,
    StoreError,
)
from playbook.i18n import Message
from playbook.store import layout

__all__ = [
    "DEFAULT_URL",
    "HEAD_REVISION",
    "REVISIONS",
    "Database",
    "classify_error",
    "database_url",
    "open_database",
]

DEFAULT_URL = "sqlite:///playbook.db"
"""Where the store lives when neither ``--db`` nor ``PLAYBOOK_DB`` says otherwise."""

REVISIONS: tuple[str, ...] = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0008",
    "0009",
    "0010",
    "0011",
    "0013",
    "0014",
)
"""The schema revisions this release knows, oldest first (the Alembic revision ids)."""

HEAD_REVISION = REVISIONS[-1]

BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for another writer's lock before giving up.

``$PLAYBOOK_BUSY_TIMEOUT_MS`` changes it (a whole number of milliseconds)."""


POOL_SIZE = 8
"""Connections each open store keeps for reuse (half as many more may open in a burst).

`playbook serve` runs at most this many requests on the database at once per process."""


def database_url(explicit: str | None = None) -> str:
    """The URL to open: ``explicit`` if given, else ``$PLAYBOOK_DB``, else :data:`DEFAULT_URL`."""
    return explicit or os.environ.get("PLAYBOOK_DB") or DEFAULT_URL


def open_database(
    url: str | None = None, *, check_schema: bool = True, schema: str | None = None
) -> Database:
    """Open the store at ``url`` (see :func:`database_url`) and check that it answers.

    ``schema`` (PostgreSQL only) puts the store's tables in that schema; without
    it, the URL's ``?schema=`` parameter or ``$PLAYBOOK_DB_SCHEMA`` may name one,
    else the tables live in the connection's default schema.
    With ``check_schema`` (the default) the schema must be at the revision this
    release expects. Raises :class:`~playbook.errors.DatabaseUnavailableError`
    when the URL is malformed or the server cannot be reached, and
    :class:`~playbook.errors.SchemaVersionError` when the schema is missing,
    older (run ``playbook db upgrade``) or newer (upgrade playbook), or
    :class:`~playbook.errors.ForeignHistoryError` when the database holds only
    another application's Alembic history (run ``playbook db init``).
    """
    engine, chosen = _engine(database_url(url), schema)
    database = Database(engine, schema=chosen)
    try:
        database.ping()
        if check_schema:
            database.check_schema()
    except BaseException:
        database.dispose()
        raise
    return database


@dataclass(frozen=True, slots=True)
class Database:
    """An open deal store: an SQLAlchemy engine and the transactions to use on it.

    ``schema`` is the PostgreSQL schema of the store's tables (None: the
    default one). ``connection``, set by :meth:`from_connection`, is a caller's
    connection whose transaction every store operation joins.
    """

    engine: Engine
    schema: str | None = None
    connection: Connection | None = None

    @classmethod
    def from_connection(cls, connection: Connection, *, schema: str | None = None) -> Database:
        """A store whose operations run inside ``connection``'s current transaction.

        Each operation runs in a SAVEPOINT of the caller's transaction: it
        never commits nor rolls back the caller's transaction (a failed
        operation rolls back only its own savepoint); the caller's commit
        keeps it, the caller's rollback undoes it. Every operation raises
        :class:`~playbook.errors.StoreError` when ``connection`` has no
        transaction open. The schema translation added to ``connection`` (to
        any it already has) only touches the store's own tables.
        """
        layout.check_schema_name(schema, connection.dialect.name)
        theirs = connection.get_execution_options().get("schema_translate_map") or {}
        connection.execution_options(
            schema_translate_map={**theirs, **layout.translate_map(schema)}
        )
        engine = connection.engine.execution_options(
            schema_translate_map=layout.translate_map(schema)
        )
        return cls(engine, schema=schema, connection=connection)

    @property
    def url(self) -> str:
        """The URL, with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def ping(self) -> None:
        """Raise :class:`~playbook.errors.DatabaseUnavailableError` unless the database answers."""
        if self.connection is not None:
            return
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as error:
            raise _unavailable(self.url, error) from error

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on success and rolled back on error.

        ``write=True`` takes SQLite's write lock at the start, so that a
        transaction that reads before it writes never fails to upgrade its lock.
        On a store made by :meth:`from_connection`, the session is a savepoint
        inside the caller's transaction instead.
        """
        if self.connection is not None:
            with _savepoint(self.connection) as session:
                yield session
            return
        with self.engine.connect() as connection:
            if write:
                connection.execution_options(playbook_write=True)
            with connection.begin():
                session = Session(bind=connection, expire_on_commit=False)
                try:
                    yield session
                    session.flush()
                finally:
                    session.close()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection to read with: the caller's (bound store) or a new one, closed after."""
        if self.connection is not None:
            yield self.connection
            return
        with self.engine.connect() as connection:
            yield connection

    def revision(self) -> str | None:
        """The store's schema revision, or None when it has no schema yet.

        A store of the old layout reports the revision it keeps in ``alembic_version``.
        """
        with self.connect() as connection:
            found = layout.stored_revision(connection, self.schema)
            return found or layout.legacy_revision(connection, REVISIONS)

    def check_schema(self) -> None:
        """Raise :class:`~playbook.errors.SchemaVersionError` unless the schema is at head."""
        current = self.revision()
        if current == HEAD_REVISION:
            return
        if current is None:
            self._refuse_foreign_history()
            raise SchemaVersionError(
                Message("error.db.database_has_no_playbook", url=self.url),
                hint=Message("error.db.run_playbook_db_init"),
                details={"revision": None, "expected": HEAD_REVISION},
            )
        if current in REVISIONS:
            raise SchemaVersionError(
                Message(
                    "error.db.database_at_schema_revision",
                    url=self.url,
                    current=current,
                    HEAD_REVISION=HEAD_REVISION,
                ),
                hint=Message("error.db.run_playbook_db_upgrade"),
                details={"revision": current, "expected": HEAD_REVISION},
            )
        raise SchemaVersionError(
            Message(
                "error.db.database_was_written_by",
                url=self.url,
                current=current,
                HEAD_REVISION=HEAD_REVISION,
            ),
            hint=Message("error.db.upgrade_playbook_pip_install"),
            details={"revision": current, "expected": HEAD_REVISION},
        )

    def _refuse_foreign_history(self) -> None:
        with self.connect() as connection:
            foreign = layout.foreign_revisions(connection, REVISIONS)
        if foreign:
            raise ForeignHistoryError(
                Message("error.db.foreign_history", url=self.url, foreign=", ".join(foreign)),
                hint=Message("error.db.foreign_history_hint"),
                details={"revision": None, "foreign": list(foreign), "expected": HEAD_REVISION},
            )

    def dispose(self) -> None:
        """Close every pooled connection (never the caller's connection of a bound store)."""
        if self.connection is None:
            self.engine.dispose()


@contextmanager
def _savepoint(connection: Connection) -> Iterator[Session]:
    """A session in a SAVEPOINT of the caller's open transaction on ``connection``."""
    if not connection.in_transaction():
        raise StoreError(
            Message("error.db.connection_without_transaction"),
            hint=Message("error.db.connection_without_transaction_hint"),
        )
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
        session.commit()  # releases the savepoint only
    except BaseException:
        session.rollback()  # back to the savepoint only
        raise
    finally:
        session.close()


def _schema_of(parsed: URL, schema: str | None) -> tuple[URL, str | None]:
    """The URL without its ``schema`` parameter, and the schema chosen (argument, URL, env)."""
    given = parsed.query.get("schema")
    chosen = schema or (given if isinstance(given, str) else None)
    chosen = chosen or os.environ.get("PLAYBOOK_DB_SCHEMA") or None
    return parsed.difference_update_query(["schema"]), chosen


def _engine(url: str, schema: str | None = None) -> tuple[Engine, str | None]:
    try:
        parsed, schema = _schema_of(make_url(url), schema)
    except ArgumentError as error:
        raise DatabaseUnavailableError(
            Message("error.db.not_database_url", url=url),
            hint=Message("error.db.use_sqlite_path_playbook"),
        ) from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    # A pool as large as a server's worker threads: a connection opened past the pool
    # is closed after one use, and opening one costs more than most requests (SQLite
    # parses the schema again, PostgreSQL starts a backend process).
    options: dict[str, Any] = {"pool_size": POOL_SIZE, "max_overflow": POOL_SIZE // 2}
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_folder(parsed.database)
        options["connect_args"] = {"timeout": _busy_timeout_ms() / 1000}
        if parsed.database in (None, "", ":memory:"):
            options = {}  # one connection per thread, no pool to size
    elif parsed.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": 10}
        options["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise DatabaseUnavailableError(
            Message(
                "error.db.cannot_use_database_url",
                render_as_string=parsed.render_as_string(hide_password=True),
                error=error,
            ),
            hint=Message("error.db.supported_sqlite_file_postgresql"),
        ) from error
    layout.check_schema_name(schema, engine.dialect.name)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    _translate_errors(engine)
    return engine.execution_options(schema_translate_map=layout.translate_map(schema)), schema


def _busy_timeout_ms() -> int:
    raw = os.environ.get("PLAYBOOK_BUSY_TIMEOUT_MS", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 3_600_000 else BUSY_TIMEOUT_MS


# SQLSTATE classes and codes of PostgreSQL, SQLite's messages: what the user can act on.
_PG_STATES: dict[str, type[StoreError]] = {
    "55P03": DatabaseLockedError,  # lock_not_available
    "40P01": DatabaseLockedError,  # deadlock_detected
    "25006": DatabaseReadOnlyError,  # read_only_sql_transaction
    "42501": DatabaseReadOnlyError,  # insufficient_privilege
    "53100": DiskFullError,  # disk_full
    "53400": DiskFullError,  # configuration_limit_exceeded (temp_file_limit)
}
_SQLITE_MESSAGES: tuple[tuple[str, type[StoreError]], ...] = (
    ("database is locked", DatabaseLockedError),
    ("database table is locked", DatabaseLockedError),
    ("readonly database", DatabaseReadOnlyError),
    ("database or disk is full", DiskFullError),
)
_HINTS: dict[type[StoreError], Message] = {
    DatabaseLockedError: Message("error.db.locked_hint"),
    DatabaseReadOnlyError: Message("error.db.read_only_hint"),
    DiskFullError: Message("error.db.disk_full_hint"),
}
_WHAT: dict[type[StoreError], Message] = {
    DatabaseLockedError: Message("error.db.locked"),
    DatabaseReadOnlyError: Message("error.db.read_only"),
    DiskFullError: Message("error.db.disk_full"),
}


def classify_error(error: BaseException) -> type[StoreError] | None:
    """The store error a driver error stands for (locked, read-only, disk full), or None."""
    original = getattr(error, "orig", None) or error
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(state, str):
        if state in _PG_STATES:
            return _PG_STATES[state]
        if state.startswith("08"):
            return DatabaseUnavailableError
        return None
    text_ = str(original).lower()
    for needle, kind in _SQLITE_MESSAGES:
        if needle in text_:
            return kind
    if "unable to open database file" in text_ or "disk i/o error" in text_:
        return DatabaseUnavailableError
    return None


def _translate_errors(engine: Engine) -> None:
    """Raise coded store errors, not driver errors, for what a user can act on."""
    url = engine.url.render_as_string(hide_password=True)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> BaseException | None:
        kind = classify_error(context.original_exception)
        if kind is None:
            return None
        if kind is DatabaseUnavailableError:
            return _unavailable(url, context.original_exception)
        reason = str(context.original_exception).strip().splitlines()
        return kind(
            Message(
                "error.db.driver_refused",
                what=_WHAT[kind],
                url=url,
                reason=reason[0] if reason else kind.__name__,
            ),
            hint=_HINTS[kind],
            details={"url": url},
        )


def _check_sqlite_folder(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).expanduser().resolve().parent
    if not folder.is_dir():
        raise DatabaseUnavailableError(
            Message("error.db.cannot_open_sqlite_database", database=database, folder=folder),
            hint=Message("error.db.create_folder_point_db"),
        )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN: pysqlite's own implicit
        # BEGIN is deferred and cannot be made IMMEDIATE for write transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_busy_timeout_ms():d}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("playbook_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _unavailable(url: str, error: Exception) -> DatabaseUnavailableError:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return DatabaseUnavailableError(
        Message("error.db.cannot_reach_database", url=url, value=reason[0] if reason else error),
        hint=Message("error.db.check_url_db_playbook"),
        details={"url": url},
    )
