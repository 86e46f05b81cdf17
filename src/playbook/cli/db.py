"""``playbook db init|upgrade|current``: create, upgrade and inspect the deal store's schema.

The database is ``--db URL``, else ``$PLAYBOOK_DB``, else ``sqlite:///playbook.db``.
Exit codes: 0 done, 2 bad usage, 3 the database cannot be reached or was
written by a newer playbook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from playbook.cli.common import command_lang, db_option, lang_option
from playbook.i18n import say

if TYPE_CHECKING:
    from playbook.store.db import Database

__all__ = ["db"]


@click.group()
def db() -> None:
    """Create and upgrade the deal store (SQLite by default, or PostgreSQL)."""


@db.command()
@db_option
@lang_option
def init(url: str | None, lang: str | None) -> int:
    """Create the store's tables (or bring an existing store up to date)."""
    return _upgrade(url, "created", lang)


@db.command()
@db_option
@lang_option
def upgrade(url: str | None, lang: str | None) -> int:
    """Apply the migrations this release has and the database has not had yet."""
    return _upgrade(url, "upgraded", lang)


@db.command()
@db_option
@lang_option
def current(url: str | None, lang: str | None) -> int:
    """Print the database's schema revision, and whether it is the one this release needs."""
    from playbook.store.db import HEAD_REVISION, open_database

    database = open_database(url, check_schema=False)
    try:
        revision = database.revision()
        language = _language(lang, database, current=revision == HEAD_REVISION)
    finally:
        database.dispose()
    if revision == HEAD_REVISION:
        state = say("cli.db.up_to_date", language)
    else:
        state = say("cli.db.needs", language, revision=HEAD_REVISION)
    shown = revision or say("cli.db.no_schema", language)
    click.echo(say("cli.db.current", language, url=database.url, revision=shown, state=state))
    return 0


def _language(lang: str | None, database: Database, *, current: bool) -> str:
    """``--lang``, else the language of the store's playbooks (a current schema only)."""
    if lang or not current:
        return command_lang(lang)
    from playbook.render.deals import Registered
    from playbook.store.repository import DealStore

    return Registered(DealStore(database)).language()


def _upgrade(url: str | None, verb: str, lang: str | None) -> int:
    from playbook.store.db import open_database
    from playbook.store.schema import upgrade as run_upgrade

    database = open_database(url, check_schema=False)
    try:
        before, after = run_upgrade(database)
        language = _language(lang, database, current=True)
    finally:
        database.dispose()
    if before == after:
        click.echo(say("cli.db.already", language, url=database.url, revision=after))
        return 0
    done = say(f"cli.db.{verb}", language)
    shown = before or say("cli.db.none", language)
    click.echo(say("cli.db.done", language, url=database.url, verb=done, before=shown, after=after))
    return 0
