"""``playbook deals import``: deals from a CSV, JSON or JSON Lines file, or what it would do.

Exit codes: 0 imported, 1 bad rows (the good ones are imported), 2 bad input,
3 database unavailable or schema too new.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from playbook.cli.common import (
    command_lang,
    db_option,
    format_option,
    lang_option,
    load_playbook,
    now_option,
    open_store,
    parse_now,
    playbook_option,
)
from playbook.i18n import join, say

if TYPE_CHECKING:
    from playbook.errors import ImportRowError
    from playbook.store.importer import DealPlan, ImportReport

__all__ = ["import_command", "print_row_problems"]

_MAX_SHOWN = 20
"""How many bad rows (and, in a dry run, deal plans) the text output shows."""


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@playbook_option("The playbook the deals follow.", required=True)
@click.option(
    "--mapping",
    metavar="FILE|preset:NAME",
    help="Mapping file (YAML) from columns to deal fields, or a shipped preset "
    "(preset:zoho, preset:fxiaoke, preset:salesforce, preset:hubspot); default: columns by name.",
)
@click.option("--preset", metavar="NAME", help="The same as --mapping preset:NAME.")
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would be created, updated and cleared, and write nothing.",
)
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@format_option
@lang_option
@db_option
@now_option("The time to record, ISO 8601 (default: the clock). For tests and replays.")
def import_command(
    file: Path,
    playbook_path: Path,
    mapping: str | None,
    preset: str | None,
    strict: bool,
    dry_run: bool,
    batch_size: int,
    output_format: str,
    lang: str | None,
    url: str | None,
    now: str | None,
) -> int:
    """Import deals from a CSV, JSON or JSON Lines FILE (re-importing updates, never duplicates)."""
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping

    playbook, source = load_playbook(playbook_path)
    language = command_lang(lang, playbook)
    at = parse_now(now)
    if preset is not None:
        mapping = f"preset:{preset}"
    chosen = read_mapping(mapping) if mapping is not None else None
    with open_store(url) as store:
        if not dry_run:
            store.register_playbook(playbook, source, path=str(playbook_path), now=at)
        with _progress(file, language) as progress:
            report = import_deals(
                store,
                playbook,
                file,
                now=at,
                mapping=chosen,
                strict=strict,
                batch_size=batch_size,
                progress=progress,
                dry_run=dry_run,
            )
    _print_import(report, output_format, language)
    return 1 if report.errors else 0


@contextmanager
def _progress(file: Path, lang: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    with file.open("rb") as handle:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    with click.progressbar(
        length=max(total - 1, 1), label=say("cli.deals.importing", lang), file=sys.stderr
    ) as bar:
        done = 0

        def advance(rows: int) -> None:
            nonlocal done
            bar.update(rows - done)
            done = rows

        yield advance


def _print_import(report: ImportReport, output_format: str, lang: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    print_row_problems(report.file, report.errors, report.unused_columns, lang)
    if report.dry_run:
        click.echo(say("cli.import_dry_run", lang))
        _print_plans(report.plans or [], lang)
    key = "cli.import_summary_dry" if report.dry_run else "cli.import_summary"
    click.echo(
        say(
            key,
            lang,
            file=report.file,
            rows=f"{report.rows:,}",
            created=f"{report.created:,}",
            updated=f"{report.updated:,}",
            unchanged=f"{report.unchanged:,}",
            failed=f"{report.failed:,}",
            cleared=f"{report.cleared:,}",
            kept=f"{report.kept:,}",
            changes=f"{report.stage_changes:,}",
            activities=f"{report.activities:,}",
            seconds=f"{report.seconds:.1f}",
        )
    )


def print_row_problems(
    file: str, errors: Sequence[ImportRowError], unused: Sequence[str], lang: str
) -> None:
    """On stderr: the file's columns no mapping reads, then its bad rows (the first 20)."""
    if unused:
        columns = join(unused, lang, last=None)
        click.secho(say("cli.import_unused_columns", lang, columns=columns), err=True)
    for error in errors[:_MAX_SHOWN]:
        click.secho(f"{file}:{error.line}: {error.code} {error.message_in(lang)}", err=True)
    if len(errors) > _MAX_SHOWN:
        more = len(errors) - _MAX_SHOWN
        click.secho(say("cli.import_more_errors", lang, count=f"{more:,}"), err=True)


def _print_plans(plans: Sequence[DealPlan], lang: str) -> None:
    def listed(items: Sequence[str]) -> str:
        return join(items, lang, last=None) if items else say("cli.none", lang)

    for plan in plans[:_MAX_SHOWN]:
        if plan.action == "create":
            text = say(
                "cli.import_would_create",
                lang,
                deal=plan.external_id,
                line=plan.line,
                stages=" → ".join(plan.stages),
                fields=listed(plan.set),
            )
        else:
            text = say(
                "cli.import_would_update",
                lang,
                deal=plan.external_id,
                line=plan.line,
                stages=listed(plan.stages),
                set=listed(plan.set),
                cleared=listed(plan.cleared),
                kept=listed(plan.kept),
            )
        click.echo("  " + text)
    if len(plans) > _MAX_SHOWN:
        click.echo("  " + say("cli.import_more_plans", lang, count=f"{len(plans) - _MAX_SHOWN:,}"))
