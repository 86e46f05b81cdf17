"""Creating and upgrading the store's schema with the Alembic migrations shipped in the package.

No ``alembic.ini`` is needed: the configuration is built here and points at
``playbook/store/migrations``. Alembic is imported only when a migration runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from playbook.errors import SchemaVersionError
from playbook.i18n import Message
from playbook.store.db import HEAD_REVISION, REVISIONS, Database

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS", "current_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The folder of the Alembic environment and its ``versions``."""


def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision`` (default: the newest); return (before, after).

    Creating a new database is upgrading an empty one. Each revision commits on
    its own, so a failed upgrade can be run again. Raises
    :class:`~playbook.errors.SchemaVersionError` for a database written by a
    newer release, which this one must not touch.
    """
    from alembic import command

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
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, target)
        connection.commit()
    return before, current_revision(database) or target


def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None when it has no schema."""
    return database.revision()


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
