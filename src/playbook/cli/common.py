"""Options and helpers that several commands share: the clock, the database, the actor.

The CLI is the edge of the system: it is the only place that reads the clock
(``--now`` defaults to it) or the environment (``PLAYBOOK_DB``,
``PLAYBOOK_ACTOR``). Heavy modules are imported inside the helpers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook.errors import InvalidPlaybookError, PlaybookError
from playbook.i18n import LANGUAGES, Message, say, spoken

if TYPE_CHECKING:
    from playbook.model import Playbook
    from playbook.store.db import Database
    from playbook.store.repository import DealStore
    from playbook.values import Actor

__all__ = [
    "EARLIEST",
    "LATEST",
    "Decorator",
    "chosen_lang",
    "command_lang",
    "db_option",
    "error_lang",
    "forget_lang",
    "format_option",
    "lang_option",
    "load_playbook",
    "now_option",
    "open_database",
    "open_store",
    "options",
    "parse_actor",
    "parse_now",
    "playbook_option",
    "print_error",
    "store_lang",
]

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""What ``click.option`` returns: it adds one option (or several) to a command."""


def options(*decorators: Decorator) -> Decorator:
    """One decorator adding ``decorators``' options in the order given (as listed above a def)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


def db_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--db URL`` (stored as ``url``)."""
    return click.option(
        "--db",
        "url",
        metavar="URL",
        help="Database URL (default: $PLAYBOOK_DB, else sqlite:///playbook.db); on "
        "PostgreSQL, ?schema=NAME (or $PLAYBOOK_DB_SCHEMA) puts the store in that schema.",
    )(command)


def format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format text|json`` (stored as ``output_format``), text by default."""
    return click.option(
        "--format", "output_format", type=click.Choice(["text", "json"]), default="text"
    )(command)


def lang_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--lang en|zh`` (stored as ``lang``), read from ``$PLAYBOOK_LANG`` when not given.

    The one language option of every command that speaks; :func:`command_lang`
    turns it (or its absence) into the language the command uses.
    """
    return click.option(
        "--lang",
        type=click.Choice(LANGUAGES),
        envvar="PLAYBOOK_LANG",
        help="Language of what the command prints (default: $PLAYBOOK_LANG, "
        "else the playbook's language, else English).",
    )(command)


def command_lang(lang: str | None, playbook: Playbook | None = None) -> str:
    """The one language a command speaks: ``--lang``/``$PLAYBOOK_LANG``, the playbook's, English.

    Every command computes it once and passes it to everything it renders,
    so that one run never mixes two languages; :func:`chosen_lang` then gives
    it to whatever reports a failure after the command (:func:`print_error`).
    """
    if lang:
        return _chosen(spoken(lang))
    return _chosen(spoken(playbook.language) if playbook is not None else "en")


_CHOSEN: ContextVar[str | None] = ContextVar("playbook_cli_lang", default=None)


def _chosen(lang: str) -> str:
    _CHOSEN.set(lang)
    return lang


def forget_lang() -> None:
    """Start a command with no language chosen (``main`` runs one command per call)."""
    _CHOSEN.set(None)


def error_lang() -> str | None:
    """The language to tell a failure in: the command's, else ``$PLAYBOOK_LANG``, else None.

    None lets :func:`print_error` tell an invalid playbook's problems in the
    language that playbook declares.
    """
    told = _CHOSEN.get() or os.environ.get("PLAYBOOK_LANG")
    return spoken(told) if told else None


def chosen_lang() -> str:
    """The language the running command chose, else ``$PLAYBOOK_LANG``, else English.

    For the error a command raises: ``main`` prints it in the command's language.
    """
    return _CHOSEN.get() or spoken(os.environ.get("PLAYBOOK_LANG"))


def store_lang(lang: str | None, store: DealStore) -> str:
    """:func:`command_lang` for a command that reads the store without one playbook.

    Without ``--lang`` it is the language of the latest version of the store's
    playbooks when they all speak the same one, else English.
    """
    if lang:
        return _chosen(spoken(lang))
    from playbook.render.deals import Registered

    return _chosen(Registered(store).language())


def playbook_option(help_text: str, *, required: bool = False) -> Decorator:
    """``--playbook FILE`` (stored as ``playbook_path``): an existing file, as a Path."""
    return click.option(
        "--playbook",
        "playbook_path",
        required=required,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=help_text,
    )


def now_option(
    help_text: str = "The time to act at, ISO 8601 (default: the clock).",
) -> Decorator:
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
            str(Message("cli.usage.not_iso_time", text=text)),
            param_hint=option,
        ) from error
    if not EARLIEST <= moment < LATEST:
        raise click.BadParameter(
            str(Message("cli.usage.outside_years", text=text)),
            param_hint=option,
        )
    return moment


def parse_actor(actor_id: str, roles: str | None) -> Actor | None:
    """``--actor`` and ``--as ROLE[,ROLE]`` as an Actor; None without ``--as``."""
    if roles is None:
        return None
    from playbook.values import Actor

    return Actor(actor_id, frozenset(r.strip() for r in roles.split(",") if r.strip()))


def load_playbook(path: Path) -> tuple[Playbook, str]:
    """The playbook in the file at ``path`` and its text: the one loader of every command.

    A file that cannot be read, or is not a valid playbook, raises a
    :class:`~playbook.errors.PlaybookError` with exit code 2 (bad input); the
    CLI prints an invalid playbook's every error with its source line.
    """
    from playbook.definition.files import playbook_from_file

    return playbook_from_file(path)


def print_error(error: PlaybookError, lang: str | None = None) -> None:
    """An error as the user reads it on stderr, in ``lang``; an invalid playbook with every error.

    Without ``lang``, an invalid playbook's problems are told in the language
    the playbook declares, everything else in English.
    """
    if isinstance(error, InvalidPlaybookError) and error.diagnostics:
        _print_invalid(error, lang or error.details.get("language"))
        return
    click.secho(say("cli.error_line", lang, error=error.text_in(lang)), fg="red", err=True)


def _print_invalid(error: InvalidPlaybookError, lang: str | None) -> None:
    """Every error of an invalid playbook, compiler-style, with its source line."""
    from playbook.render.diagnostics import format_text

    sources: dict[str, str] = {}
    for diagnostic in error.diagnostics:
        if diagnostic.file not in sources:
            try:
                sources[diagnostic.file] = Path(diagnostic.file).read_text("utf-8-sig")
            except (OSError, UnicodeDecodeError, ValueError):
                sources[diagnostic.file] = ""
    file = error.file or say("cli.the_playbook", lang)
    click.secho(say("cli.invalid_playbook", lang, file=file), fg="red", err=True)
    text = format_text(error.diagnostics, sources, color=sys.stderr.isatty(), lang=lang)
    click.echo(text, err=True)


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


def warn_version_drift(
    database: Database, playbook: Playbook, lang: str | None, *, sweeping: bool = False
) -> dict[int, Playbook]:
    """Warn on stderr when the store's deals of ``playbook``'s id are pinned to another version
    than ``playbook``'s, with the deals per version; the exit code is left alone.

    Returns the playbook of each pinned version whose text the store keeps
    (what a sweep evaluates those deals by); ``{}`` when nothing drifts.
    """
    from playbook.i18n import join, say
    from playbook.services import pinned_playbooks, version_drift
    from playbook.store.repository import DealStore

    store = DealStore(database)
    drift = version_drift(store, playbook)
    if drift is None:
        return {}
    counts = [say("cli.version_deals", lang, version=v, deals=n) for v, n in drift.deals.items()]
    lines = [
        say(
            "cli.version_drift",
            lang,
            file=playbook.source or playbook.key,
            playbook=playbook.id,
            version=playbook.version,
            counts=join(counts, lang),
        )
    ]
    pinned = pinned_playbooks(store, drift) if sweeping else {}
    if pinned:
        versions = join(map(str, pinned), lang)
        lines.append(say("cli.version_drift_pinned", lang, versions=versions))
    if sweeping and drift.unregistered:
        versions = join(map(str, drift.unregistered), lang)
        lines.append(say("cli.version_drift_unregistered", lang, versions=versions))
    if not sweeping:
        lines.append(say("cli.version_drift_measured", lang))
    click.secho("\n  ".join(lines), fg="yellow", err=True)
    return pinned
