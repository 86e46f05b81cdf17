"""``playbook deals ...``: import, list, show, move and annotate deals in the store.

Every move and completed action goes through the engine of the playbook
version the deal is pinned to (read from the store, or ``--playbook FILE``);
a blocked move prints the engine's reasons and exits 1. A deal changed by
someone else meanwhile exits 1 with who changed it and when, unless
``--retry`` is given: the deal is then read again and the engine decides again.

Exit codes: 0 done, 1 blocked / conflict / bad rows in an import, 2 bad
input, 3 database unavailable or schema too new.
"""

from __future__ import annotations

import csv
import functools
import getpass
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook import services
from playbook.cli import deal_lifecycle
from playbook.cli.common import (
    command_lang,
    db_option,
    format_option,
    lang_option,
    load_playbook,
    now_option,
    open_store,
    options,
    parse_now,
    playbook_option,
    store_lang,
)
from playbook.cli.deals_import import import_command
from playbook.errors import MoveBlockedError
from playbook.i18n import join, say
from playbook.render.deals import (
    LIST_COLUMNS,
    Registered,
    deal_text,
    list_row,
    render_history,
    render_table,
)
from playbook.render.table import activity_word
from playbook.safetext import neutralise_cell
from playbook.services import deal_state, registered_playbook
from playbook.store.repository import LOG_KINDS
from playbook.values import playbook_zone

if TYPE_CHECKING:
    from playbook.model import Playbook
    from playbook.runtime.engine import Engine
    from playbook.store.repository import DealStore, StoredDeal
    from playbook.values import Actor

__all__ = ["deals", "render_history", "render_table"]

RETRIES = 5
"""How many times ``--retry`` reads a deal again after a conflict."""

_MAX_ERRORS_SHOWN = 20


_now_option = now_option(
    "The time to record, ISO 8601 (default: the clock). For tests and replays."
)
_retry_option = click.option(
    "--retry", is_flag=True, help="On a conflict, read the deal again and retry."
)
_store_options = options(
    playbook_option(
        "The playbook file (default: the version the deal is pinned to, from the store)."
    ),
    db_option,
    _now_option,
    lang_option,
)
"""Where the deal's rules and the deal come from, and when: the options every write shares."""


def _actor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--actor",
        "actor_id",
        metavar="NAME",
        help="Who acts (default: $PLAYBOOK_ACTOR, else the login name).",
    )(command)
    return click.option(
        "--as", "roles", metavar="ROLE[,ROLE]", required=True, help="The actor's role(s)."
    )(command)


@click.group()
def deals() -> None:
    """Import, list, show, move and annotate deals in the deal store."""


deals.add_command(import_command)


# --- import / export ----------------------------------------------------------------------


@deals.command("export")
@click.option(
    "--format", "output_format", type=click.Choice(["csv", "json", "jsonl"]), default="csv"
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--playbook-id", help="Only deals of this playbook.")
@click.option("--stage", help="Only deals in this stage.")
@click.option("--owner", help="Only deals of this owner.")
@click.option(
    "--raw", is_flag=True, help="CSV: write cells as stored, even those a spreadsheet runs."
)
@lang_option
@db_option
def export_command(
    output_format: str,
    output: Path | None,
    playbook_id: str | None,
    stage: str | None,
    owner: str | None,
    raw: bool,
    lang: str | None,
    url: str | None,
) -> int:
    """Write deals as CSV, JSON or JSON Lines (the layout `deals import` reads back).

    CSV cells starting with = + - @ get a leading ' so that a spreadsheet shows
    them instead of running them (--raw writes them as stored); the import
    strips it again. With --output the file appears whole or not at all.
    """
    from playbook.store.exporter import export_deals

    with open_store(url) as store:
        language = store_lang(lang, store)
        names = _declared_fields(store, playbook_id)
        selected = store.list_deals(playbook_id=playbook_id, stage=stage, owner=owner)
        write = functools.partial(
            export_deals, selected, fmt=output_format, field_names=names, raw=raw
        )
        zone_of = Registered(store).of  # CSV times on each deal's playbook clock
        if output is None:
            count = write(sys.stdout, zone_of=zone_of)
        else:
            with _replacing(output) as handle:
                count = write(handle, zone_of=zone_of)
    if output is not None:
        click.echo(say("cli.deals.written", language, count=f"{count:,}", file=output), err=True)
    return 0


@contextmanager
def _replacing(path: Path) -> Iterator[io.TextIOWrapper]:
    """A temporary file beside ``path`` that replaces it only when the block succeeds."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _declared_fields(store: DealStore, playbook_id: str | None) -> list[str]:
    names: dict[str, None] = {}
    for pid, version in store.playbook_versions():
        registered = (
            registered_playbook(store, pid, version) if playbook_id in (None, pid) else None
        )
        if registered is not None:
            names.update(dict.fromkeys(registered.fields))
    return list(names)


# --- reading ------------------------------------------------------------------------------


@deals.command("list")
@click.option("--stage", help="Only deals in this stage.")
@click.option("--owner", help="Only deals of this owner.")
@click.option("--playbook-id", help="Only deals of this playbook.")
@click.option("--limit", type=click.IntRange(1), help="At most this many deals.")
@click.option(
    "--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table"
)
@lang_option
@db_option
def list_command(
    stage: str | None,
    owner: str | None,
    playbook_id: str | None,
    limit: int | None,
    output_format: str,
    lang: str | None,
    url: str | None,
) -> int:
    """List deals, optionally only those in a stage or of an owner."""
    with open_store(url) as store:
        language = store_lang(lang, store)
        found = store.list_deals(playbook_id=playbook_id, stage=stage, owner=owner, limit=limit)
        if output_format == "json":
            click.echo(json.dumps([d.to_dict() for d in found], ensure_ascii=False, indent=2))
            return 0
        zones = Registered(store)
        rows = [list_row(d, zones.of(d)) for d in found]
    if output_format == "csv":
        click.echo(_csv(rows), nl=False)
    else:
        click.echo(render_table(rows, language) if rows else say("cli.deals.none", language))
    return 0


@deals.command("show")
@click.argument("deal_id")
@format_option
@_store_options
def show(
    deal_id: str,
    output_format: str,
    lang: str | None,
    playbook_path: Path | None,
    url: str | None,
    now: str | None,
) -> int:
    """Show a deal: fields, stage, what the next stage needs, open actions and history."""
    from playbook.cli.check import render_next_steps

    with open_store(url) as store:
        deal = store.get(deal_id)
        engine = _engine(store, deal, playbook_path)
        steps = engine.next_steps(deal_state(deal, engine.playbook), now=parse_now(now))
        history = store.history(deal.id)
    language = command_lang(lang, engine.playbook)
    if output_format == "json":
        data = {
            "deal": deal.to_dict(),
            "next": steps.to_dict(language),
            "history": [entry.to_dict() for entry in history],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    click.echo(deal_text(deal, engine.playbook, language))
    click.echo(render_next_steps(steps, engine, "text", language))
    click.echo(render_history(history, playbook_zone(engine.playbook), lang=language))
    return 0


@deals.command("history")
@click.argument("deal_id")
@format_option
@lang_option
@db_option
def history(deal_id: str, output_format: str, lang: str | None, url: str | None) -> int:
    """Show every stage change, activity and refused attempt of a deal, oldest first."""
    from playbook.store.audit import list_refusals

    with open_store(url) as store:
        deal = store.get(deal_id)
        entries = store.history(deal.id)
        refused = list_refusals(store.database, deal=str(deal.id), limit=None)
        registered = Registered(store)
        language = command_lang(lang, registered.pinned(deal))
        zone = registered.of(deal)
    if output_format == "json":
        steps = [(e.at, e.to_dict()) for e in entries]
        steps += [(r.at, {"kind": "refused", **r.to_dict()}) for r in refused]
        data = [item for _, item in sorted(steps, key=lambda pair: pair[0])]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(render_history(entries, zone, refused, language))
    return 0


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Write:
    """What every write to a deal takes from the command line: who, when, where, retries, format."""

    actor: Actor
    at: datetime
    url: str | None
    playbook_path: Path | None
    retries: int
    output_format: str
    lang: str | None

    def language(self, playbook: Playbook) -> str:
        """The language the command speaks: ``--lang``, else the deal's playbook's."""
        return command_lang(self.lang, playbook)

    @contextmanager
    def engine(self, deal_id: str) -> Iterator[tuple[DealStore, Engine]]:
        """The store, and the engine of the deal's pinned version, while the block runs."""
        with open_store(self.url) as store:
            deal = store.get(deal_id)
            yield store, _engine(store, deal, self.playbook_path, self.actor, self.at)


def _write_command(command: Callable[..., int]) -> Callable[..., int]:
    """Hand the options every write shares to ``command`` as one :class:`_Write`."""

    @functools.wraps(command)
    def run(
        *,
        roles: str,
        actor_id: str | None,
        retry: bool,
        output_format: str,
        playbook_path: Path | None,
        url: str | None,
        now: str | None,
        lang: str | None,
        **own: Any,
    ) -> int:
        retries = RETRIES if retry else 0
        actor = _actor(actor_id, roles)
        at = parse_now(now)
        write = _Write(actor, at, url, playbook_path, retries, output_format, lang)
        return command(write, **own)

    return run


@deals.command("advance")
@click.argument("deal_id")
@click.option("--to", "to_stage", required=True, help="The stage to move the deal to.")
@_actor_options
@click.option("--override", metavar="REASON", help="Pass failing gates, with this reason.")
@_retry_option
@format_option
@_store_options
@_write_command
def advance(write: _Write, deal_id: str, to_stage: str, override: str | None) -> int:
    """Move a deal to another stage, if the playbook allows it (exit 1 with the reasons if not)."""
    from playbook.cli.check import render_decision
    from playbook.runtime.decisions import Decision

    with write.engine(deal_id) as (store, engine):
        language = write.language(engine.playbook)
        try:
            moved, result = services.advance(
                store,
                deal_id,
                to_stage,
                engine=engine,
                actor=write.actor,
                now=write.at,
                override=override,
                retries=write.retries,
            )
        except MoveBlockedError as blocked:
            refused = blocked.decision
            assert isinstance(refused, Decision)  # the engine raises with its own decisions
            text = render_decision(
                refused, engine.playbook, write.output_format, language, write.actor
            )
            click.echo(text, nl=False)
            return blocked.exit_code
    _print_written(moved, result.events, write.output_format, language)
    return 0


@deals.command("complete")
@click.argument("deal_id")
@click.argument("action_id")
@_actor_options
@click.option("--evidence", metavar="VALUE", help="The evidence the action asks for.")
@_retry_option
@format_option
@_store_options
@_write_command
def complete(write: _Write, deal_id: str, action_id: str, evidence: str | None) -> int:
    """Record a required action of the deal's current stage as done."""
    with write.engine(deal_id) as (store, engine):
        done, result = services.complete_action(
            store,
            deal_id,
            action_id,
            engine=engine,
            actor=write.actor,
            now=write.at,
            evidence=evidence,
            retries=write.retries,
        )
        language = write.language(engine.playbook)
    _print_written(done, result.events, write.output_format, language)
    return 0


@deals.command("log")
@click.argument("deal_id")
@click.option(
    "--kind",
    required=True,
    metavar="KIND",
    help="One of the playbook's activity_kinds (default kinds: call, meeting, email, note, visit).",
)
@click.option("--note", help="What happened.")
@click.option("--as", "roles", metavar="ROLE[,ROLE]", help="The actor's role(s) (recorded).")
@click.option("--actor", "actor_id", metavar="NAME", help="Who (default: the login name).")
@format_option
@lang_option
@db_option
@_now_option
def log(
    deal_id: str,
    kind: str,
    note: str | None,
    roles: str | None,
    actor_id: str | None,
    output_format: str,
    lang: str | None,
    url: str | None,
    now: str | None,
) -> int:
    """Log an activity on a deal: a call, a meeting, or a kind the playbook declares."""
    with open_store(url) as store:
        deal = store.get(deal_id)
        pinned = registered_playbook(store, deal.playbook_id, deal.playbook_version)
        language = command_lang(lang, pinned)
        entry = store.log_activity(
            deal.id,
            kind,
            actor=_actor_name(actor_id),
            now=parse_now(now),
            note=note,
            kinds=pinned.activity_ids if pinned is not None else LOG_KINDS,
        )
    if output_format == "json":
        click.echo(json.dumps(entry.to_dict(), ensure_ascii=False, indent=2))
    else:
        what = activity_word(kind, language, pinned)
        click.echo(
            say("cli.deals.logged", language, deal=deal_id, kind=what, version=entry.deal_version)
        )
    return 0


deals.add_command(deal_lifecycle.reassign)
deals.add_command(deal_lifecycle.delete)


@deals.command("set")
@click.argument("deal_id")
@click.argument("assignments", nargs=-1, required=True, metavar="FIELD=VALUE...")
@click.option("--reason", metavar="TEXT", help="Why the values change (kept in the history).")
@click.option(
    "--as",
    "person",
    metavar="PERSON:ROLE",
    required=True,
    help="Who sets the values, in which role of the playbook; recorded in the history.",
)
@_retry_option
@format_option
@_store_options
def set_command(
    deal_id: str,
    assignments: tuple[str, ...],
    reason: str | None,
    person: str,
    retry: bool,
    output_format: str,
    lang: str | None,
    playbook_path: Path | None,
    url: str | None,
    now: str | None,
) -> int:
    """Set field values of a deal, each read as its field's type (FIELD= clears it)."""
    pairs: dict[str, str] = {}
    for item in assignments:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(
                say("cli.usage.not_assignment", None, item=item),
                param_hint="FIELD=VALUE",
            )
        pairs[name.strip()] = value
    name, _, role = person.partition(":")
    actor = _actor(name.strip() or None, role)
    at = parse_now(now)
    with open_store(url) as store:
        deal = store.get(deal_id)
        playbook = _engine(store, deal, playbook_path, actor, at).playbook
        done = services.set_fields(
            store,
            deal_id,
            pairs,
            playbook=playbook,
            actor=actor,
            now=at,
            reason=reason,
            retries=RETRIES if retry else 0,
        )
    if output_format == "json":
        click.echo(json.dumps({"deal": done.to_dict()}, ensure_ascii=False, indent=2))
    else:
        language = command_lang(lang, playbook)
        fields = join(list(pairs), language, last=None)
        shown = {"deal": done.ref, "fields": fields, "version": done.version}
        click.echo(say("cli.fields_set", language, **shown))
    return 0


def _print_written(deal: StoredDeal, events: Sequence[Any], output_format: str, lang: str) -> None:
    if output_format == "json":
        data = {"deal": deal.to_dict(), "events": [event.to_dict() for event in events]}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    for event in events:
        data = event.to_dict()
        if "to_stage" in data:
            reason = data.get("override_reason")
            how = say("cli.deals.override", lang, reason=reason) if reason else ""
            source, target = data["from_stage"], data["to_stage"]
            moved = say("cli.deals.moved", lang, deal=deal.ref, source=source, target=target)
            click.echo(moved + how)
        else:
            action = data["action_id"]
            click.echo(say("cli.deals.action_done", lang, deal=deal.ref, action=action))
    click.echo(say("cli.deals.version", lang, deal=deal.ref, version=deal.version))


# --- helpers ------------------------------------------------------------------------------


def _engine(
    store: DealStore,
    deal: StoredDeal,
    playbook_path: Path | None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Engine:
    """The engine of the deal's pinned version; a --playbook file must be its registered text."""
    chosen = load_playbook(playbook_path) if playbook_path is not None else None
    at = now if now is not None else datetime.now(UTC)
    return services.engine_for(store, deal, chosen, actor=actor, now=at)


def _actor_name(actor_id: str | None) -> str:
    return actor_id or os.environ.get("PLAYBOOK_ACTOR") or getpass.getuser()


def _actor(actor_id: str | None, roles: str) -> Actor:
    from playbook.values import Actor

    return Actor(_actor_name(actor_id), frozenset(r.strip() for r in roles.split(",") if r.strip()))


def _csv(rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(LIST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: neutralise_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
