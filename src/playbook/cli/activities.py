"""``playbook activities import``: calls, meetings, visits and notes from other tools' exports.

Exit codes: 0 imported (or nothing new), 1 rows refused (nothing written),
2 bad input (file, mapping), 3 database unavailable or schema too new.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from playbook.cli.common import (
    db_option,
    format_option,
    lang_option,
    now_option,
    open_store,
    parse_now,
    print_error,
    store_lang,
)
from playbook.i18n import join, say

if TYPE_CHECKING:
    from playbook.store.activity_import import ActivityReport

__all__ = ["activities"]

_COUNTED = ("rows", "imported", "deals", "already", "repeated")
"""The report's counts the summary line shows."""


@click.group()
def activities() -> None:
    """Bring calls, meetings, visits and notes in from other tools."""


@activities.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    required=True,
    metavar="FILE|preset:NAME",
    help="Activity mapping (YAML): the deal matchers, kind, time and other columns.",
)
@click.option(
    "--dry-run", is_flag=True, help="Match and check every row, say what would be written."
)
@format_option
@lang_option
@db_option
@now_option("The time of the import, ISO 8601 (default: the clock); later rows are refused.")
def import_activities_command(
    file: Path,
    mapping: str,
    dry_run: bool,
    output_format: str,
    lang: str | None,
    url: str | None,
    now: str | None,
) -> int:
    """Import the activities of FILE onto existing deals: all rows or none, never twice."""
    from playbook.store.activity_import import import_activities
    from playbook.store.activity_mapping import read_activity_mapping

    at = parse_now(now)
    chosen = read_activity_mapping(mapping)
    with open_store(url) as store:
        language = store_lang(lang, store)
        report = import_activities(store, file, chosen, now=at, dry_run=dry_run)
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(language), ensure_ascii=False, indent=2))
    else:
        _print_report(report, language)
    refusal = report.refusal()
    if refusal is not None:
        if output_format != "json":
            print_error(refusal, language)
        return refusal.exit_code
    return 0


def _print_report(report: ActivityReport, lang: str) -> None:
    from playbook.cli.deals_import import print_row_problems

    print_row_problems(report.file, report.errors, report.unused_columns, lang)
    if report.errors:
        return
    from playbook.render.table import activity_word

    counted = sorted(report.by_kind.items())
    kinds = join([f"{activity_word(kind, lang)} {count:,}" for kind, count in counted], lang)
    key = "cli.activities.summary_dry" if report.dry_run else "cli.activities.summary"
    counts = {name: f"{getattr(report, name):,}" for name in _COUNTED}
    kinds = kinds or say("cli.none", lang)
    click.echo(
        say(key, lang, file=report.file, kinds=kinds, seconds=f"{report.seconds:.1f}", **counts)
    )
