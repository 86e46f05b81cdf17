"""``playbook db init|upgrade|current``: create, upgrade and inspect the deal store's schema.

The database is ``--db URL``, else ``$PLAYBOOK_DB``, else ``sqlite:///playbook.db``.
Exit codes: 0 done, 2 bad usage, 3 the database cannot be reached or was
written by a newer playbook.
"""

from __future__ import annotations

import click

from playbook.cli.common import db_option

__all__ = ["db"]


@click.group()
def db() -> None:
    """Create and upgrade the deal store (SQLite by default, or PostgreSQL)."""


@db.command()
@db_option
def init(url: str | None) -> int:
    """Create the store's tables (or bring an existing store up to date)."""
    return _upgrade(url, "created")


@db.command()
@db_option
def upgrade(url: str | None) -> int:
    """Apply the migrations this release has and the database has not had yet."""
    return _upgrade(url, "upgraded")


@db.command()
@db_option
def current(url: str | None) -> int:
    """Print the database's schema revision, and whether it is the one this release needs."""
    from playbook.store.db import HEAD_REVISION, open_database

    database = open_database(url, check_schema=False)
    try:
        revision = database.revision()
    finally:
        database.dispose()
    state = "up to date" if revision == HEAD_REVISION else f"this release needs {HEAD_REVISION}"
    click.echo(f"{database.url}: {revision or 'no schema'} ({state})")
    return 0


def _upgrade(url: str | None, verb: str) -> int:
    from playbook.store.db import open_database
    from playbook.store.schema import upgrade as run_upgrade

    database = open_database(url, check_schema=False)
    try:
        before, after = run_upgrade(database)
    finally:
        database.dispose()
    if before == after:
        click.echo(f"{database.url}: already at schema revision {after}")
    else:
        click.echo(f"{database.url}: {verb}, schema revision {before or 'none'} → {after}")
    return 0
