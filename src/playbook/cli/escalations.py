"""``playbook sweep``, ``playbook escalations list|ack|snooze`` and ``playbook worker``.

``sweep`` fires the escalation rules of a playbook on the deal store once, at
``--now`` (default: the clock), and sends the notifications through the sinks
given with ``--sink``; ``worker`` does the same on a schedule until SIGTERM.

Exit codes: 0 done, 1 some notifications failed (they stay in the outbox and
the next sweep retries them), 2 bad input, 3 database unavailable.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook.cli.common import (
    command_lang,
    db_option,
    lang_option,
    load_playbook,
    open_store,
    options,
    playbook_option,
    store_lang,
    warn_version_drift,
)
from playbook.errors import NotificationError, PlaybookError
from playbook.i18n import Message, say
from playbook.render.escalations import render_sweep, sweep_summary

if TYPE_CHECKING:
    from playbook.escalation.sinks import Sink
    from playbook.model import Playbook
    from playbook.store.db import Database
    from playbook.values import Actor

__all__ = ["escalations", "render_sweep", "sweep", "worker"]


_common = options(
    playbook_option("The playbook whose escalation rules run.", required=True),
    db_option,
    click.option(
        "--sink",
        "sink_specs",
        multiple=True,
        metavar="SPEC",
        help="Where notifications go (repeatable): console, jsonl:PATH, webhook:URL, "
        "smtp://HOST:PORT?from=ADDR&to=ADDR; NAME=SPEC names a sink.",
    ),
    lang_option,
    click.option(
        "--delivery-lease",
        "lease_text",
        default="5m",
        show_default=True,
        metavar="INTERVAL",
        help="How long a notification being sent is reserved for this sweep.",
    ),
)
"""The options ``sweep`` and ``worker`` share."""


@click.command()
@_common
@click.option("--now", "now_text", metavar="TIME", help="Sweep as of this ISO 8601 time.")
@click.option("--dry-run", is_flag=True, help="Show what would fire; record and send nothing.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--show",
    default=50,
    show_default=True,
    metavar="N",
    help="Text format: list at most N escalations (JSON always lists all).",
)
def sweep(
    playbook_path: Path,
    url: str | None,
    sink_specs: Sequence[str],
    lang: str | None,
    lease_text: str,
    now_text: str | None,
    dry_run: bool,
    fmt: str,
    show: int,
) -> int:
    """Fire the escalations due now, once each, and send their notifications."""
    from playbook.escalation.sweep import sweep as run_sweep
    from playbook.escalation.worker import parse_interval

    playbook = _playbook(playbook_path)
    language = command_lang(lang, playbook)
    now = _now(now_text, playbook)
    sinks = _sinks(sink_specs, fmt, None if dry_run else playbook)  # a dry run sends nothing
    lease = parse_interval(lease_text, minimum=0)
    database = _open(url)
    try:
        pinned = warn_version_drift(database, playbook, language, sweeping=True)
        report = run_sweep(
            database,
            playbook,
            now=now,
            sinks=sinks,
            dry_run=dry_run,
            lang=language,
            lease=lease,
            clock=_clock,
            explain_future=now_text is not None,
            pinned=pinned,
        )
    finally:
        database.dispose()
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render_sweep(report, playbook, limit=show, lang=language))
    return NotificationError.exit_code if report.deliveries.failed else 0


@click.command()
@_common
@click.option(
    "--every",
    "every_text",
    default="5m",
    show_default=True,
    metavar="INTERVAL",
    help="Time between sweeps: 30s, 5m, 1h...",
)
@click.option("--max-sweeps", type=int, hidden=True, help="Stop after this many sweeps (tests).")
def worker(
    playbook_path: Path,
    url: str | None,
    sink_specs: Sequence[str],
    lang: str | None,
    lease_text: str,
    every_text: str,
    max_sweeps: int | None,
) -> int:
    """Run sweeps on a schedule until SIGTERM or Ctrl-C (the sweep in progress completes)."""
    from playbook.escalation.sweep import sweep as run_sweep
    from playbook.escalation.worker import parse_interval, run_worker, stop_on_signals
    from playbook.services import pinned_playbooks, version_drift
    from playbook.store.repository import DealStore

    playbook = _playbook(playbook_path)
    language = command_lang(lang, playbook)
    zone = _zone(playbook.timezone)
    every, lease = parse_interval(every_text), parse_interval(lease_text, minimum=0)
    sinks = _sinks(sink_specs, "text", playbook)
    database = _open(url)
    warn_version_drift(database, playbook, language, sweeping=True)
    sweep_now = functools.partial(
        run_sweep, database, playbook, sinks=sinks, lang=language, lease=lease, clock=_clock
    )

    def once(should_stop: Callable[[], bool]) -> None:
        # Deals migrate while the worker runs: which versions they are on is read every sweep.
        store = DealStore(database)
        pinned = pinned_playbooks(store, version_drift(store, playbook))
        report = sweep_now(now=_clock(), should_stop=should_stop, pinned=pinned)
        click.echo(sweep_summary(report, zone, language), err=False)
        for warning in report.warnings + report.deliveries.errors:
            click.echo(say("cli.warning", language, text=warning), err=True)

    def complain(error: PlaybookError) -> None:
        click.secho(say("cli.worker.carries_on", language, error=error), fg="red", err=True)

    stop = threading.Event()
    restore = stop_on_signals(stop)
    start = {"playbook": playbook.key, "url": database.url, "every": every_text}
    click.echo(say("cli.worker.start", language, **start), err=True)
    try:
        stats = run_worker(once, every=every, stop=stop, on_error=complain, max_sweeps=max_sweeps)
    finally:
        restore()
        database.dispose()
    why = say("cli.worker.by_signal" if stats.stopped else "cli.worker.done", language)
    stopped = {"why": why, "sweeps": stats.sweeps, "failures": stats.failures}
    click.echo(say("cli.worker.stopped", language, **stopped), err=True)
    return 0


@click.group()
def escalations() -> None:
    """List, acknowledge and snooze the escalations that sweeps recorded."""


@escalations.command("list")
@db_option
@click.option("--playbook", "playbook_id", metavar="ID", help="Only this playbook id.")
@click.option(
    "--status", type=click.Choice(["open", "acked", "resolved", "dropped"]), help="Only these."
)
@click.option("--deal", metavar="DEAL", help="Only this deal (external id or store id).")
@click.option("--rule", metavar="RULE", help="Only this rule id.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@lang_option
def list_command(
    url: str | None,
    playbook_id: str | None,
    status: str | None,
    deal: str | None,
    rule: str | None,
    limit: int,
    fmt: str,
    lang: str | None,
) -> int:
    """Show escalations, newest first (times on each playbook's clock)."""
    from playbook.escalation.admin import list_escalations
    from playbook.render.deals import Registered
    from playbook.render.escalations import view_line

    with open_store(url) as store:
        language = store_lang(lang, store)
        views = list_escalations(
            store.database,
            playbook_id=playbook_id,
            status=status,
            deal=deal,
            rule=rule,
            limit=limit,
        )
        registered = Registered(store)
        lines = [view_line(v, language, registered.playbook(v.playbook_id)) for v in views]
    if fmt == "json":
        click.echo(json.dumps([v.to_dict() for v in views], ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(lines) if lines else say("cli.escalations.none", language))
    return 0


_decision_options = options(
    click.option("--reason", required=True, help="Why (recorded)."),
    click.option(
        "--as",
        "roles",
        required=True,
        metavar="ROLE[,ROLE]",
        help="Your role(s): one the escalation notifies, or one that may override gates.",
    ),
    click.option("--actor", "actor_id", metavar="NAME", help="Who (default: $PLAYBOOK_ACTOR)."),
    db_option,
    click.option("--now", "now_text", metavar="TIME", help="The time to record (ISO 8601)."),
    lang_option,
)
"""The options of a decision on one escalation (ack, snooze): why, who, where, when."""


@dataclass(frozen=True, slots=True)
class _Handling:
    """A decision on one escalation as the command line states it: why, who, where, when."""

    reason: str
    roles: str
    actor_id: str | None
    url: str | None
    now: datetime
    lang: str | None

    def actor(self) -> Actor:
        """Who decides, with the roles they claim."""
        return _role_actor(self.actor_id, self.roles)


def _handling(command: Callable[..., int]) -> Callable[..., int]:
    """Hand ``command`` the :data:`_decision_options` as one :class:`_Handling`."""

    @functools.wraps(command)
    def run(
        *,
        reason: str,
        roles: str,
        actor_id: str | None,
        url: str | None,
        now_text: str | None,
        lang: str | None,
        **own: Any,
    ) -> int:
        handling = _Handling(reason, roles, actor_id, url, _now(now_text, None), lang)
        return command(handling, **own)

    return run


@escalations.command()
@click.argument("escalation_id", type=int)
@_decision_options
@_handling
def ack(handling: _Handling, escalation_id: int) -> int:
    """Take charge of an open escalation: later levels of it no longer fire.

    Allowed for the people it notifies (by role or by name) and the roles
    that may override gates; a refusal is recorded (`playbook audit`).
    """
    from playbook import services

    with open_store(handling.url) as store:
        view = services.acknowledge(
            store,
            escalation_id,
            actor=handling.actor(),
            reason=handling.reason,
            now=handling.now,
        )
        language = store_lang(handling.lang, store)
    acked = {"id": view.id, "actor": view.acked_by, "reason": view.ack_reason}
    click.echo(say("cli.escalations.acked", language, **acked))
    return 0


@escalations.command("snooze")
@click.argument("escalation_id", type=int)
@click.option(
    "--until", "until_text", required=True, metavar="TIME", help="ISO 8601 time, or 3d, 12h..."
)
@_decision_options
@_handling
def snooze_command(handling: _Handling, escalation_id: int, until_text: str) -> int:
    """Hold the escalation's rule back for its deal until a time (same rule as ack)."""
    from playbook import services
    from playbook.render.deals import Registered
    from playbook.values import shown_time

    until = _until(until_text, handling.now)
    with open_store(handling.url) as store:
        view = services.snooze(
            store,
            escalation_id,
            actor=handling.actor(),
            until=until,
            reason=handling.reason,
            now=handling.now,
        )
        registered = Registered(store)
        language = store_lang(handling.lang, store)
        shown = shown_time(view.snoozed_until, registered.zone(view.playbook_id), empty="?")
    snoozed = {"id": view.id, "actor": view.snoozed_by, "until": shown}
    click.echo(say("cli.escalations.snoozed", language, **snoozed))
    return 0


def _role_actor(actor_id: str | None, roles: str) -> Actor:
    from playbook.values import Actor

    return Actor(_actor(actor_id), frozenset(r.strip() for r in roles.split(",") if r.strip()))


# --- helpers ------------------------------------------------------------------------------


def _playbook(path: Path) -> Playbook:
    return load_playbook(path)[0]


def _open(url: str | None) -> Database:
    from playbook.store.db import open_database

    return open_database(url)


def _sinks(specs: Sequence[str], fmt: str, playbook: Playbook | None) -> list[Sink]:
    """The playbook's ``notifications`` sinks, then ``--sink`` ones (which replace by name).

    Without ``playbook`` (a dry run) only the ``--sink`` specs are read: a typo
    is still a usage error, and no environment variable is needed.
    """
    from playbook.escalation.sinks import combine_sinks, declared_sinks, parse_sink

    # In JSON mode stdout belongs to the report: console notifications go to stderr.
    stream = sys.stderr if fmt == "json" else sys.stdout
    given = [parse_sink(spec, console=stream) for spec in specs]
    notifications = playbook.notifications if playbook is not None else {}
    declared = declared_sinks(notifications, os.environ, console=stream)
    return combine_sinks(declared, given)


def _clock() -> datetime:
    return datetime.now(UTC)  # the CLI is the edge: the only place that reads the clock


def _now(text: str | None, playbook: Playbook | None) -> datetime:
    from playbook.cli.check import parse_now

    return parse_now(text, _zone(playbook.timezone if playbook else "UTC"))


def _until(text: str, now: datetime) -> datetime:
    from playbook.errors import EscalationError
    from playbook.escalation.worker import parse_interval

    try:
        return now + parse_interval(text)
    except EscalationError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise click.BadParameter(
            str(Message("cli.usage.not_time_or_interval", text=text)),
            param_hint="--until",
        ) from error
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _actor(actor_id: str | None) -> str:
    import getpass

    return actor_id or os.environ.get("PLAYBOOK_ACTOR") or getpass.getuser()


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
