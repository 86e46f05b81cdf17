"""``playbook actions export``: open required actions for a task board (Trello, Asana) or JSON.

Exit codes: 0 written, 2 bad input, 3 database unavailable or schema too new.
"""

from __future__ import annotations

from pathlib import Path

import click

from playbook.cli.common import (
    db_option,
    lang_option,
    now_option,
    open_store,
    parse_now,
    store_lang,
)

__all__ = ["actions"]


@click.group()
def actions() -> None:
    """Hand open required actions to other tools."""


@actions.command("export")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--board",
    type=click.Choice(["trello", "asana"]),
    help="CSV columns in the layout this board's CSV importer reads (default: plain columns).",
)
@click.option("--playbook", "playbook_id", metavar="ID", help="Only deals of this playbook.")
@click.option("--owner", help="Only deals of this owner.")
@click.option(
    "--base-url",
    envvar="PLAYBOOK_BASE_URL",
    metavar="URL",
    help="Where `playbook serve` answers (default: $PLAYBOOK_BASE_URL): each task links its deal.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
@lang_option
@db_option
@now_option("The time the due dates are judged at, ISO 8601 (default: the clock).")
def export(
    output_format: str,
    board: str | None,
    playbook_id: str | None,
    owner: str | None,
    base_url: str | None,
    output: Path | None,
    lang: str | None,
    url: str | None,
    now: str | None,
) -> int:
    """Every open required action: deal, action, role, person, due time and link."""
    from playbook.render.tasks import tasks_csv, tasks_json
    from playbook.tasks import open_tasks

    at = parse_now(now)
    with open_store(url) as store:
        language = store_lang(lang, store)
        found = open_tasks(
            store, now=at, lang=language, base_url=base_url, playbook_id=playbook_id, owner=owner
        )
    if output_format == "json":
        text = tasks_json(found) + "\n"
    else:
        text = tasks_csv(found, language, board or "plain")
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    return 0
