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

from playbook.cli.common import open_database, parse_now
from playbook.errors import PeriodError
from playbook.i18n import LANGUAGES as _LANGS

if TYPE_CHECKING:
    from playbook.kpi.metrics import Period
    from playbook.model import Playbook
    from playbook.store.db import Database

__all__ = ["kpi", "review"]


def _common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--playbook",
            "playbook_path",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="The playbook file (default: the only playbook registered in the store).",
        ),
        click.option(
            "--db",
            "url",
            metavar="URL",
            help="Database URL (default: $PLAYBOOK_DB, else sqlite:///playbook.db).",
        ),
        click.option(
            "--lang",
            type=click.Choice(_LANGS),
            help="Language of titles and labels (default: the playbook's language).",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="Write to this file instead of standard output.",
        ),
        click.option(
            "--now",
            metavar="TIME",
            help="The time to measure at, ISO 8601 (default: the clock). For tests and replays.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


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
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
)
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
    from playbook.kpi.metrics import compute_kpis

    at = parse_now(now)
    by = _groupings(groupings)
    with open_database(url) as database:
        playbook = _playbook(database, playbook_path)
        chosen = _period(playbook, period, first_day, last_day, at)
        report = compute_kpis(database, playbook, chosen, now=at, by=by, kpi_ids=kpi_ids)
        if output_format == "html":
            from playbook.kpi.review import dashboard
            from playbook.render.html import render_html

            text = render_html(
                dashboard(database, playbook, chosen, now=at, report=report), lang=lang
            )
        else:
            text = _render(report, output_format, lang, color=output is None and _terminal())
    _write(text, output)
    if output_format != "table":
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
    failing = [r for r in report.results if r.status in ("missed", "at_risk")]
    return 1 if check and failing else 0


@click.command("review")
@_common_options
@click.option("--owner", metavar="NAME", help="The rep whose deals are reviewed.")
@click.option("--team", metavar="NAME", help="Review a whole team instead.")
@click.option("--week", metavar="WEEK", help="The ISO week, e.g. 2017-W52 (default: this week).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
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
    from playbook.kpi.metrics import current_period, parse_period
    from playbook.kpi.review import weekly_review
    from playbook.render.kpi_json import review_json
    from playbook.render.table import render_review

    if (owner is None) == (team is None):
        raise click.UsageError("give exactly one of --owner NAME and --team NAME")
    at = parse_now(now)
    with open_database(url) as database:
        playbook = _playbook(database, playbook_path)
        chosen = (
            parse_period(week, playbook.timezone)
            if week
            else current_period("week", at, playbook.timezone)
        )
        if chosen.kind != "week":
            raise PeriodError(
                f"--week {week!r} is not an ISO week",
                hint="write it like 2017-W52",
                details={"week": week},
            )
        found = weekly_review(database, playbook, chosen, now=at, owner=owner, team=team, lang=lang)
    text = (
        review_json(found)
        if output_format == "json"
        else render_review(found, lang=lang, color=output is None and _terminal())
    )
    _write(text, output)
    return 0


def _render(report: Any, output_format: str, lang: str | None, *, color: bool) -> str:
    if output_format == "json":
        from playbook.render.kpi_json import kpi_json

        return kpi_json(report, lang=lang)
    if output_format == "csv":
        from playbook.render.kpi_json import kpi_csv

        return kpi_csv(report, lang=lang)
    from playbook.render.table import render_kpi_table

    return render_kpi_table(report, lang=lang, color=color)


def _groupings(values: Sequence[str]) -> tuple[str, ...] | None:
    """None (each KPI's own grouping) when no --by; () for ``--by all``."""
    if not values:
        return None
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return tuple(name for name in names if name not in ("all", "none"))


def _period(
    playbook: Playbook, period: str | None, first: str | None, last: str | None, now: datetime
) -> Period:
    from playbook.kpi.metrics import current_period, parse_period, period_between

    if period is not None and (first is not None or last is not None):
        raise click.UsageError("give either --period or --from/--to, not both")
    if period is not None:
        return parse_period(period, playbook.timezone)
    if first is not None and last is not None:
        return period_between(first, last, playbook.timezone)
    if first is not None or last is not None:
        raise click.UsageError("--from and --to go together: give both dates")
    return current_period("quarter", now, playbook.timezone)


def _playbook(database: Database, path: Path | None) -> Playbook:
    from playbook.store.playbooks import playbook_from_file, playbook_from_text
    from playbook.store.repository import DealStore

    if path is not None:
        return playbook_from_file(path)[0]
    store = DealStore(database)
    versions = store.playbook_versions()
    ids = sorted({playbook_id for playbook_id, _ in versions})
    if len(ids) != 1:
        known = ", ".join(ids) or "none"
        raise click.UsageError(
            f"give --playbook FILE: the store holds {len(ids)} playbooks ({known})"
        )
    latest = max(version for playbook_id, version in versions if playbook_id == ids[0])
    source = store.playbook_source(ids[0], latest)
    assert source is not None
    return playbook_from_text(source, f"{ids[0]}@{latest}")


def _terminal() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)
