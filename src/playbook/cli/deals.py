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
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook import services
from playbook.cli import deal_lifecycle
from playbook.cli.common import (
    db_option,
    format_option,
    load_playbook,
    now_option,
    open_store,
    options,
    parse_now,
    playbook_option,
)
from playbook.errors import MoveBlockedError
from playbook.i18n import LANGUAGES as _LANGS
from playbook.safetext import neutralise_cell, printable
from playbook.services import deal_state, registered_playbook

if TYPE_CHECKING:
    from playbook.model import Playbook
    from playbook.runtime.engine import Engine
    from playbook.store.audit import RefusalEntry
    from playbook.store.importer import ImportReport
    from playbook.store.repository import DealStore, HistoryEntry, StoredDeal
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


# --- import / export ----------------------------------------------------------------------


@deals.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@playbook_option("The playbook the deals follow.", required=True)
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Mapping file (YAML) from columns to deal fields; default: columns by name.",
)
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad.")
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@format_option
@db_option
@_now_option
def import_command(
    file: Path,
    playbook_path: Path,
    mapping: Path | None,
    strict: bool,
    batch_size: int,
    output_format: str,
    url: str | None,
    now: str | None,
) -> int:
    """Import deals from a CSV, JSON or JSON Lines FILE (re-importing updates, never duplicates)."""
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping

    playbook, source = load_playbook(playbook_path)
    at = parse_now(now)
    chosen = read_mapping(mapping) if mapping is not None else None
    with open_store(url) as store:
        store.register_playbook(playbook, source, path=str(playbook_path), now=at)
        with _progress(file) as progress:
            report = import_deals(
                store,
                playbook,
                file,
                now=at,
                mapping=chosen,
                strict=strict,
                batch_size=batch_size,
                progress=progress,
            )
    _print_import(report, output_format)
    return 1 if report.errors else 0


@contextmanager
def _progress(file: Path) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    with file.open("rb") as handle:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    with click.progressbar(length=max(total - 1, 1), label="importing", file=sys.stderr) as bar:
        done = 0

        def advance(rows: int) -> None:
            nonlocal done
            bar.update(rows - done)
            done = rows

        yield advance


def _print_import(report: ImportReport, output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    for error in report.errors[:_MAX_ERRORS_SHOWN]:
        click.secho(f"{report.file}:{error.line}: {error.code} {error.message}", err=True)
    if len(report.errors) > _MAX_ERRORS_SHOWN:
        more = len(report.errors) - _MAX_ERRORS_SHOWN
        click.secho(f"... and {more} more bad rows (--format json lists them all)", err=True)
    click.echo(
        f"{report.file}: {report.rows:,} rows: {report.created:,} created, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged, {report.failed:,} failed; "
        f"{report.stage_changes:,} stage changes recorded ({report.seconds:.1f} s)"
    )


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
@db_option
def export_command(
    output_format: str,
    output: Path | None,
    playbook_id: str | None,
    stage: str | None,
    owner: str | None,
    raw: bool,
    url: str | None,
) -> int:
    """Write deals as CSV, JSON or JSON Lines (the layout `deals import` reads back).

    CSV cells starting with = + - @ get a leading ' so that a spreadsheet shows
    them instead of running them (--raw writes them as stored); the import
    strips it again. With --output the file appears whole or not at all.
    """
    from playbook.store.exporter import export_deals

    with open_store(url) as store:
        names = _declared_fields(store, playbook_id)
        selected = store.list_deals(playbook_id=playbook_id, stage=stage, owner=owner)
        if output is None:
            count = export_deals(selected, sys.stdout, output_format, field_names=names, raw=raw)
        else:
            with _replacing(output) as handle:
                count = export_deals(selected, handle, output_format, field_names=names, raw=raw)
    if output is not None:
        click.echo(f"{count:,} deals written to {output}", err=True)
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
@db_option
def list_command(
    stage: str | None,
    owner: str | None,
    playbook_id: str | None,
    limit: int | None,
    output_format: str,
    url: str | None,
) -> int:
    """List deals, optionally only those in a stage or of an owner."""
    with open_store(url) as store:
        found = store.list_deals(playbook_id=playbook_id, stage=stage, owner=owner, limit=limit)
        if output_format == "json":
            click.echo(json.dumps([d.to_dict() for d in found], ensure_ascii=False, indent=2))
        elif output_format == "csv":
            zones = _Zones(store)
            click.echo(_csv([_list_row(d, zones.of(d)) for d in found]), nl=False)
        else:
            zones = _Zones(store)
            rows = [_list_row(d, zones.of(d)) for d in found]
            click.echo(render_table(rows) if rows else "no deals")
    return 0


_LIST_COLUMNS = ("id", "stage", "owner", "manager", "region", "stage_entered_at", "version")


def _list_row(deal: StoredDeal, zone: tzinfo) -> dict[str, str]:
    data = deal.to_dict()
    row = {column: "" if data[column] is None else str(data[column]) for column in _LIST_COLUMNS}
    row["id"] = deal.ref
    row["stage_entered_at"] = local_time(deal.stage_entered_at, zone)
    return row


@deals.command("show")
@click.argument("deal_id")
@format_option
@click.option("--lang", type=click.Choice(_LANGS), help="Language of the engine's messages.")
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
    language = lang or _lang(engine.playbook)
    if output_format == "json":
        data = {
            "deal": deal.to_dict(),
            "next": steps.to_dict(language),
            "history": [entry.to_dict() for entry in history],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    zone = zoneinfo.ZoneInfo(engine.playbook.timezone)
    click.echo(_deal_text(deal, engine.playbook, language, zone))
    click.echo(render_next_steps(steps, engine, "text", language))
    click.echo(render_history(history, zone))
    return 0


@deals.command("history")
@click.argument("deal_id")
@format_option
@db_option
def history(deal_id: str, output_format: str, url: str | None) -> int:
    """Show every stage change, activity and refused attempt of a deal, oldest first."""
    from playbook.store.audit import list_refusals

    with open_store(url) as store:
        deal = store.get(deal_id)
        entries = store.history(deal.id)
        refused = list_refusals(store.database, deal=str(deal.id), limit=None)
        zone = _Zones(store).of(deal)
    if output_format == "json":
        steps = [(e.at, e.to_dict()) for e in entries]
        steps += [(r.at, {"kind": "refused", **r.to_dict()}) for r in refused]
        data = [item for _, item in sorted(steps, key=lambda pair: pair[0])]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(render_history(entries, zone, refused))
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
        **own: Any,
    ) -> int:
        retries = RETRIES if retry else 0
        actor = _actor(actor_id, roles)
        write = _Write(actor, parse_now(now), url, playbook_path, retries, output_format)
        return command(write, **own)

    return run


@deals.command("advance")
@click.argument("deal_id")
@click.option("--to", "to_stage", required=True, help="The stage to move the deal to.")
@_actor_options
@click.option("--override", metavar="REASON", help="Pass failing gates, with this reason.")
@_retry_option
@format_option
@click.option("--lang", type=click.Choice(_LANGS), help="Language of the engine's messages.")
@_store_options
@_write_command
def advance(
    write: _Write, deal_id: str, to_stage: str, override: str | None, lang: str | None
) -> int:
    """Move a deal to another stage, if the playbook allows it (exit 1 with the reasons if not)."""
    from playbook.cli.check import render_decision
    from playbook.runtime.decisions import Decision

    with write.engine(deal_id) as (store, engine):
        language = lang or _lang(engine.playbook)
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
    _print_written(moved, result.events, write.output_format)
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
    _print_written(done, result.events, write.output_format)
    return 0


@deals.command("log")
@click.argument("deal_id")
@click.option(
    "--kind", required=True, type=click.Choice(["call", "meeting", "email", "note", "visit"])
)
@click.option("--note", help="What happened.")
@click.option("--as", "roles", metavar="ROLE[,ROLE]", help="The actor's role(s) (recorded).")
@click.option("--actor", "actor_id", metavar="NAME", help="Who (default: the login name).")
@format_option
@db_option
@_now_option
def log(
    deal_id: str,
    kind: str,
    note: str | None,
    roles: str | None,
    actor_id: str | None,
    output_format: str,
    url: str | None,
    now: str | None,
) -> int:
    """Log a call, meeting, email, note or visit on a deal."""
    with open_store(url) as store:
        entry = store.log_activity(
            deal_id, kind, actor=_actor_name(actor_id), now=parse_now(now), note=note
        )
    if output_format == "json":
        click.echo(json.dumps(entry.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{deal_id}: {kind} logged (version {entry.deal_version})")
    return 0


deals.add_command(deal_lifecycle.reassign)
deals.add_command(deal_lifecycle.delete)


def _print_written(deal: StoredDeal, events: Sequence[Any], output_format: str) -> None:
    if output_format == "json":
        data = {"deal": deal.to_dict(), "events": [event.to_dict() for event in events]}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    for event in events:
        data = event.to_dict()
        if "to_stage" in data:
            how = f" (override: {data['override_reason']})" if data.get("override_reason") else ""
            click.echo(f"{deal.ref}: {data['from_stage']} → {data['to_stage']}{how}")
        else:
            click.echo(f"{deal.ref}: {data['action_id']} done")
    click.echo(f"{deal.ref} is now at version {deal.version}")


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


def _lang(playbook: Playbook) -> str:
    return playbook.language if playbook.language in _LANGS else "en"


def _deal_text(deal: StoredDeal, playbook: Playbook, lang: str, zone: tzinfo) -> str:
    lines = [
        f"Deal {deal.ref} (store id {deal.id}, {deal.playbook_id}@{deal.playbook_version}, "
        f"version {deal.version})",
        f"  stage: {deal.stage} since {local_time(deal.stage_entered_at, zone)}",
    ]
    for role in ("owner", "team", "manager", "region"):
        value = getattr(deal, role)
        if value:
            lines.append(f"  {role}: {value}")
    for name, value in deal.fields.items():
        spec = playbook.fields.get(name)
        title = playbook.label(spec.title if spec else None, lang, name)
        lines.append(f"  {title}: {value}")
    return "\n".join(lines)


def render_history(
    entries: Sequence[HistoryEntry],
    zone: tzinfo = UTC,
    refused: Sequence[RefusalEntry] = (),
) -> str:
    """A deal's history as text, one line per version step, times in ``zone``.

    Refused attempts (``refused``) stand between the steps at their time.
    """
    if not entries and not refused:
        return "no history"
    lines = ["History:"]
    names = [entry.actor for entry in entries] + [item.actor for item in refused]
    actors = max(12, *(_width(name) for name in names))
    pending = sorted(refused, key=lambda item: item.at)
    for entry in entries:
        while pending and pending[0].at < entry.at:
            lines.append(_refusal_line(pending.pop(0), zone, actors))
        if entry.kind == "stage_change":
            move = f"{entry.from_stage} → {entry.stage}" if entry.from_stage else entry.stage
            extra = f" override: {entry.override_reason}" if entry.override_reason else ""
            what = f"{move}{' (imported)' if entry.source == 'import' else ''}{extra}"
        elif entry.kind == "action":
            what = f"action {entry.action_id} done"
        elif entry.kind == "reassign":
            what = deal_lifecycle.reassigned_text(entry.changes or {})
            what += f": {entry.note}" if entry.note else ""
        else:
            what = entry.kind + (f": {entry.note}" if entry.note else "")
        at = local_time(entry.at, zone)
        line = f"  v{entry.deal_version:<4} {at}  {_pad(entry.actor, actors)} {what}"
        lines.append(printable(line))
    lines += [_refusal_line(item, zone, actors) for item in pending]
    return "\n".join(lines)


def _refusal_line(item: RefusalEntry, zone: tzinfo, actors: int) -> str:
    what = f"REFUSED {item.action}" + (f" {item.subject}" if item.subject else "")
    at = local_time(item.at, zone)
    line = f"  {'--':<5} {at}  {_pad(item.actor, actors)} {what}: {item.code} {item.reason}"
    return printable(line)


def local_time(moment: datetime | None, zone: tzinfo) -> str:
    """``2017-03-01 08:00 +08:00``: a stored UTC time as the playbook's clock shows it."""
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.isoformat()[-6:]}"


class _Zones:
    """The timezone of each deal's pinned playbook version, read once per version.

    Times are stored in UTC; text output shows them on the playbook's clock
    (JSON keeps UTC). A version the store has no copy of shows UTC.
    """

    def __init__(self, store: DealStore) -> None:
        self._store = store
        self._known: dict[tuple[str, int], tzinfo] = {}

    def of(self, deal: StoredDeal) -> tzinfo:
        key = (deal.playbook_id, deal.playbook_version)
        if key not in self._known:
            self._known[key] = self._read(*key)
        return self._known[key]

    def _read(self, playbook_id: str, version: int) -> tzinfo:
        registered = registered_playbook(self._store, playbook_id, version)
        return UTC if registered is None else zoneinfo.ZoneInfo(registered.timezone)


def render_table(rows: Sequence[dict[str, str]]) -> str:
    """Rows as aligned columns; wide (CJK) characters count as two columns on screen.

    Control characters and terminal escape sequences in values are dropped.
    """
    rows = [{key: printable(value) for key, value in row.items()} for row in rows]
    columns = list(rows[0])
    widths = {c: max(_width(c), *(_width(row[c]) for row in rows)) for c in columns}
    lines = ["  ".join(_pad(c.upper(), widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(_pad(row[c], widths[c]) for c in columns).rstrip() for row in rows]
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _csv(rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_LIST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: neutralise_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
