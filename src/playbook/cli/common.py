"""Options and helpers that several commands share: the clock, the database, the actor.

The CLI is the edge of the system: it is the only place that reads the clock
(``--now`` defaults to it) or the environment (``PLAYBOOK_DB``,
``PLAYBOOK_ACTOR``). Heavy modules are imported inside the helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from playbook.store.db import Database
    from playbook.store.repository import DealStore
    from playbook.values import Actor

__all__ = [
    "EARLIEST",
    "LATEST",
    "db_option",
    "now_option",
    "open_database",
    "open_store",
    "parse_actor",
    "parse_now",
]


def db_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--db URL`` (stored as ``url``)."""
    return click.option(
        "--db",
        "url",
        metavar="URL",
        help="Database URL (default: $PLAYBOOK_DB, else sqlite:///playbook.db).",
    )(command)


def now_option(
    help_text: str = "The time to act at, ISO 8601 (default: the clock).",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--now TIME`` (stored as ``now``), with a command-specific help text."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        return click.option("--now", metavar="TIME", help=help_text)(command)

    return decorate


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""Times on the command line lie in [EARLIEST, LATEST): every due time computed from them fits."""


def parse_now(text: str | None, tz: tzinfo = UTC, *, option: str = "--now") -> datetime:
    """``--now`` as an aware UTC time: ISO 8601, read in ``tz`` when it has no offset.

    Without ``--now`` it is the current time: the CLI is the only place that
    reads the clock. Times before 1900 or from the year 3000 on are refused
    (as a bad parameter, exit 2): due times computed from them would not fit.
    """
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-03-02T09:30:00+08:00",
            param_hint=option,
        ) from error
    if not EARLIEST <= moment < LATEST:
        raise click.BadParameter(
            f"{text!r} is outside the years 1900 to 2999 that playbook works with",
            param_hint=option,
        )
    return moment


def parse_actor(actor_id: str, roles: str | None) -> Actor | None:
    """``--actor`` and ``--as ROLE[,ROLE]`` as an Actor; None without ``--as``."""
    if roles is None:
        return None
    from playbook.values import Actor

    return Actor(actor_id, frozenset(r.strip() for r in roles.split(",") if r.strip()))


@contextmanager
def open_database(url: str | None) -> Iterator[Database]:
    """The database at ``url`` (or the default), disposed of when the block ends."""
    from playbook.store.db import open_database as _open

    database = _open(url)
    try:
        yield database
    finally:
        database.dispose()


@contextmanager
def open_store(url: str | None) -> Iterator[DealStore]:
    """A deal store on the database at ``url``, disposed of when the block ends."""
    from playbook.store.repository import DealStore

    with open_database(url) as database:
        yield DealStore(database)
