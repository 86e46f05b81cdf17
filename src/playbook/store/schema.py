"""Creating and upgrading the store's schema with the Alembic migrations shipped in the package.

No ``alembic.ini`` is needed: the configuration is built here and points at
``playbook/store/migrations``. Alembic is imported only when a migration runs.

A database without a store gets the newest schema at once, created from the
models and stamped at the head revision in one transaction (Alembic's
"building an up-to-date database from scratch"): replaying the history would
first create the old, unprefixed tables, which may be a host application's
names. A store of the old layout (revision in ``alembic_version``) is adopted
first (see :mod:`.layout`), then upgraded revision by revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.schema import CreateSchema

from playbook.errors import SchemaVersionError
from playbook.i18n import Message
from playbook.store import layout
from playbook.store.db import HEAD_REVISION, REVISIONS, Database

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS", "current_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The folder of the Alembic environment and its ``versions``."""


def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision`` (default: the newest); return (before, after).

    Creating a new database at head creates every table from the models in one
    transaction; otherwise each revision commits on its own, so a failed
    upgrade can be run again. Raises :class:`~playbook.errors.SchemaVersionError`
    for a database written by a newer release, which this one must not touch.
    Another application's ``alembic_version`` is left as it is.
    """
    before = current_revision(database)
    if before is not None and before not in REVISIONS:
        database.check_schema()  # raises the "upgrade playbook" error
    target = HEAD_REVISION if revision == "head" else revision
    if target not in REVISIONS:
        raise SchemaVersionError(
            Message("error.schema.unknown_schema_revision", revision=revision),
            hint=Message("error.schema.known_revisions_head", names=REVISIONS),
        )
    with database.engine.connect() as connection:
        try:
            _prepare(connection, database.schema)
            if before is None and target == HEAD_REVISION:
                _create_at_head(connection, database.schema)
            else:
                _migrate(connection, database.schema, target)
            connection.commit()
        finally:
            if database.schema is not None:
                connection.invalidate()  # its search_path must not go back to the pool
    return before, current_revision(database) or target


def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None when it has no schema."""
    return database.revision()


def _prepare(connection: Connection, schema: str | None) -> None:
    """Create the store's schema if missing and adopt an old-layout store's revision.

    With a schema, the revisions' unqualified names resolve in it: the
    connection's ``search_path`` is set to it (committed, as a rolled-back SET
    is undone) and the connection is discarded afterwards.
    """
    if schema is not None:
        connection.execute(CreateSchema(schema, if_not_exists=True))
        quoted = connection.dialect.identifier_preparer.quote_schema(schema)
        connection.execute(text(f"SET search_path TO {quoted}"))
    layout.adopt_legacy(connection, schema, REVISIONS)
    connection.commit()


def _create_at_head(connection: Connection, schema: str | None) -> None:
    from alembic import command

    from playbook.store import approval_rows, escalation_models  # noqa: F401 (their tables)
    from playbook.store.models import Base

    Base.metadata.create_all(connection)
    command.stamp(_config(connection, schema), HEAD_REVISION)


def _migrate(connection: Connection, schema: str | None, target: str) -> None:
    from alembic import command

    command.upgrade(_config(connection, schema), target)


def _config(connection: Connection, schema: str | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    return config
