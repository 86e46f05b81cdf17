"""``playbook kpi`` and ``playbook review``: KPI figures against targets, and the weekly review.

``kpi`` measures the playbook's KPIs over a period (``--period 2017-Q4``,
``2017-12``, ``2017-W52``, ``2017``, or ``--from/--to`` dates; default: the
current quarter) and prints them as a table (status coloured on terminals),
JSON, CSV or one self-contained HTML page. ``review`` lists one rep's (or
team's) deals for a week: stage, days in stage, this week's activity, what is
missing for the next stage and open escalations.

Exit codes: 0 done (with ``--check``: every KPI met or without target), 1 a
KPI missed or at risk under ``--check``, 2 bad input (period, grouping, KPI
id), 3 database unavailable or schema not current.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook.cli.common import (
    command_lang,
    db_option,
    lang_option,
    load_playbook,
    now_option,
    open_database,
    options,
    parse_now,
    playbook_option,
    warn_version_drift,
)
from playbook.i18n import Message, say
from playbook.render.kpi_formats import (
    KPI_FORMATS,
    REVIEW_FORMATS,
    render_kpis,
    render_weekly_review,
)

if TYPE_CHECKING:
    from playbook.kpi.periods import Period
    from playbook.model import Playbook
    from playbook.store.db import Database

__all__ = ["kpi", "review"]


_common_options = options(
    playbook_option("The playbook file (default: the only playbook registered in the store)."),
    db_option,
    lang_option,
    click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write to this file instead of standard output.",
    ),
    now_option("The time to measure at, ISO 8601 (default: the clock). For tests and replays."),
)
"""The options ``kpi`` and ``review`` share."""


def _format_option(
    choices: Sequence[str], default: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--format", "output_format", type=click.Choice(choices), default=default, show_default=True
    )


@click.command("kpi")
@_common_options
@click.option("--period", metavar="PERIOD", help="2017, 2017-Q4, 2017-12 or 2017-W52.")
@click.option("--from", "first_day", metavar="DATE", help="First day (ISO date), with --to.")
@click.option("--to", "last_day", metavar="DATE", help="Last day, included (ISO date).")
@click.option(
    "--by",
    "groupings",
    multiple=True,
    metavar="GROUP[,GROUP]",
    help="Group by owner, team, manager, region or an enum field; `all` for overall figures "
    "(default: each KPI's own `by`).",
)
@click.option("--kpi", "kpi_ids", multiple=True, metavar="ID", help="Only this KPI (repeatable).")
@_format_option(KPI_FORMATS, "table")
@click.option("--check", is_flag=True, help="Exit 1 when a KPI is missed or at risk.")
def kpi(
    playbook_path: Path | None,
    url: str | None,
    lang: str | None,
    output: Path | None,
    now: str | None,
    period: str | None,
    first_day: str | None,
    last_day: str | None,
    groupings: Sequence[str],
    kpi_ids: Sequence[str],
    output_format: str,
    check: bool,
) -> int:
    """Measure the playbook's KPIs in the deal store, each against its target."""
    from playbook.kpi.charts import dashboard
    from playbook.kpi.metrics import compute_kpis

    at = parse_now(now)
    by = _groupings(groupings)
    with open_database(url) as database:
        playbook = _playbook(database, playbook_path)
        language = command_lang(lang, playbook)
        warn_version_drift(database, playbook, language)
        chosen = _period(playbook, period, first_day, last_day, at)
        # Only the table shows team subtotals under a by-owner KPI's owners.
        subtotals = output_format == "table"
        report = compute_kpis(
            database, playbook, chosen, now=at, by=by, kpi_ids=kpi_ids, team_subtotals=subtotals
        )
        # Only the HTML page draws the funnel, the cycle times and the stuck deals.
        charts = dashboard(database, report) if output_format == "html" else None
    color = output is None and _terminal()
    text = render_kpis(report, output_format, lang=language, color=color, dashboard=charts)
    _write(text, output, language)
    if output_format != "table":
        for note in report.notes:
            click.echo(say("cli.note", language, text=note), err=True)
    return 1 if check and report.failing() else 0


@click.command("review")
@_common_options
@click.option("--owner", metavar="NAME", help="The rep whose deals are reviewed.")
@click.option("--team", metavar="NAME", help="Review a whole team instead.")
@click.option("--week", metavar="WEEK", help="The ISO week, e.g. 2017-W52 (default: this week).")
@_format_option(REVIEW_FORMATS, "text")
def review(
    playbook_path: Path | None,
    url: str | None,
    lang: str | None,
    output: Path | None,
    now: str | None,
    owner: str | None,
    team: str | None,
    week: str | None,
    output_format: str,
) -> int:
    """The weekly funnel review of one rep (--owner) or team (--team)."""
    from playbook.kpi.periods import parse_week
    from playbook.kpi.review import weekly_review

    if (owner is None) == (team is None):
        raise click.UsageError(str(Message("cli.usage.owner_or_team")))
    at = parse_now(now)
    with open_database(url) as database:
        playbook = _playbook(database, playbook_path)
        language = command_lang(lang, playbook)
        warn_version_drift(database, playbook, language)
        chosen = parse_week(week, at, playbook.timezone)
        found = weekly_review(
            database, playbook, chosen, now=at, owner=owner, team=team, lang=language
        )
    color = output is None and _terminal()
    _write(render_weekly_review(found, output_format, lang=language, color=color), output, language)
    return 0


def _groupings(values: Sequence[str]) -> tuple[str, ...] | None:
    """None (each KPI's own grouping) when no --by; () for ``--by all``."""
    if not values:
        return None
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return tuple(name for name in names if name not in ("all", "none"))


def _period(
    playbook: Playbook, period: str | None, first: str | None, last: str | None, now: datetime
) -> Period:
    from playbook.kpi.periods import current_period, parse_period, period_between

    if period is not None and (first is not None or last is not None):
        raise click.UsageError(str(Message("cli.usage.period_or_range")))
    if period is not None:
        return parse_period(period, playbook.timezone)
    if first is not None and last is not None:
        return period_between(first, last, playbook.timezone)
    if first is not None or last is not None:
        raise click.UsageError(str(Message("cli.usage.from_and_to")))
    return current_period("quarter", now, playbook.timezone)


def _playbook(database: Database, path: Path | None) -> Playbook:
    from playbook.services import registered_playbook
    from playbook.store.repository import DealStore

    if path is not None:
        return load_playbook(path)[0]
    store = DealStore(database)
    versions = store.playbook_versions()
    ids = sorted({playbook_id for playbook_id, _ in versions})
    if len(ids) != 1:
        known: list[object] = [*ids] or [Message("cli.usage.none")]
        raise click.UsageError(str(Message("cli.usage.give_playbook", count=len(ids), known=known)))
    latest = max(version for playbook_id, version in versions if playbook_id == ids[0])
    registered = registered_playbook(store, ids[0], latest)
    assert registered is not None
    return registered


def _terminal() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _write(text: str, output: Path | None, lang: str) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(say("cli.wrote", lang, file=output), err=True)
