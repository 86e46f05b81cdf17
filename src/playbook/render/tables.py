"""Decision tables' decisions for people: which rows matched, and what they set.

Text lists each table with its hit policy, the matching rows (number, line
and condition) and the derived values; JSON is the decisions' own form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from playbook.i18n import say
from playbook.model import DecisionTable, Playbook
from playbook.runtime.tables import TableDecision

__all__ = ["render_table_decisions"]


def render_table_decisions(
    deal_id: str,
    decisions: Sequence[TableDecision],
    model: Playbook,
    output_format: str,
    lang: str,
) -> str:
    """The decisions of ``model``'s tables for one deal, as JSON or as text in ``lang``."""
    if output_format == "json":
        data = {
            "deal": deal_id,
            "playbook": model.key,
            "decisions": [decision.to_dict() for decision in decisions],
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    tables = {table.id: table for table in model.tables}
    lines = [f"{deal_id} ({model.key})"]
    for decision in decisions:
        lines.extend(_table_lines(decision, tables[decision.table], model, lang))
    return "\n".join(lines) + "\n"


def _table_lines(
    decision: TableDecision, table: DecisionTable, model: Playbook, lang: str
) -> list[str]:
    policy = table.hit if table.aggregate is None else f"{table.hit} {table.aggregate}"
    title = model.label(table.title, lang, table.id)
    named = table.id if title == table.id else f"{table.id} ({title})"
    lines = [f"  {say('cli.tables.policy', lang, table=named, policy=policy)}"]
    if not decision.matched:
        lines.append(f"    {say('cli.tables.no_row', lang)}")
    for index in decision.matched:
        row = table.rows[index]
        text = row.condition.text
        lines.append(
            f"    ✓ {say('cli.tables.row', lang, row=index + 1, line=row.line, condition=text)}"
        )
    for name, value in decision.outputs.items():
        lines.append(f"    → {name} = {_shown(value, lang)}")
    return lines


def _shown(value: Any, lang: str) -> str:
    return say("cli.tables.empty", lang) if value is None else str(value)
