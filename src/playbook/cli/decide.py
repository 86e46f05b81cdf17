"""``playbook decide``: which rows of the decision tables match a deal, without a database.

Reads the deal from a JSON file (the form of ``docs/embedding.md``; ``-`` reads
standard input), runs every decision table of the playbook (or only
``--table``) and prints the matching rows and the derived fields they set.

Exit codes: 0, or 2 on bad input (a playbook that does not validate, a deal
that does not fit it, an unknown table, a ``unique`` table with two matching
rows).
"""

from __future__ import annotations

from pathlib import Path

import click

from playbook.cli.check import FORMATS, deal_option, fail, load_deal_file
from playbook.cli.common import chosen_lang, command_lang, lang_option, options, playbook_option
from playbook.errors import PlaybookError

__all__ = ["decide"]


@click.command("decide")
@options(
    playbook_option("The playbook file (YAML).", required=True),
    deal_option,
    click.option("--table", "table_id", metavar="ID", help="Only this decision table."),
    click.option(
        "--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True
    ),
    lang_option,
)
def decide(
    playbook_path: Path, deal_path: Path, table_id: str | None, output_format: str, lang: str | None
) -> int:
    """Say which rows of the decision tables match a deal, and the derived fields they set.

    Exit 0, or 2 on bad input.
    """
    from playbook.render.tables import render_table_decisions
    from playbook.runtime.tables import decide_all, table

    language = chosen_lang()
    try:
        model, state = load_deal_file(playbook_path, deal_path)
        language = command_lang(lang, model)
        decisions = decide_all(model, state.fields)
        if table_id is not None:
            wanted = table(model, table_id).id
            decisions = tuple(d for d in decisions if d.table == wanted)
    except PlaybookError as error:
        return fail(error, output_format, language)
    click.echo(
        render_table_decisions(state.id, decisions, model, output_format, language), nl=False
    )
    return 0
