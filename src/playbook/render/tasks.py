"""Open required actions as CSV (plain, or in a task board's import layout) and JSON.

Layouts (the header row is the columns' names, which each board's CSV
importer offers to map; docs/activities.md lists them):

========  ===================================================================
plain     deal, playbook, stage, action, title, role, person, email, due,
          overdue, link (``due`` on the playbook's clock, with its offset)
trello    Card Name, Card Description, List Name, Labels, Members, Due Date
          (one card per action; the list is the stage, the label the role,
          the member the person's email, else name; the due date ISO 8601)
asana     Name, Description, Assignee, Due Date, Section/Column (the assignee
          is the person's email: Asana assigns by email; the due date
          MM/DD/YYYY on the playbook's clock, the time in the description)
========  ===================================================================

Every cell is neutralised against spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence

from playbook.i18n import say
from playbook.safetext import neutralise_cell
from playbook.tasks import OpenTask
from playbook.values import zone

__all__ = ["BOARDS", "tasks_csv", "tasks_json"]

_PLAIN = (
    "deal",
    "playbook",
    "stage",
    "action",
    "title",
    "role",
    "person",
    "email",
    "due",
    "overdue",
    "link",
)
_TRELLO = ("Card Name", "Card Description", "List Name", "Labels", "Members", "Due Date")
_ASANA = ("Name", "Description", "Assignee", "Due Date", "Section/Column")


def _plain(task: OpenTask, lang: str) -> tuple[str, ...]:
    del lang  # the plain layout holds ids and times, no words
    return (
        task.deal,
        task.playbook,
        task.stage,
        task.action,
        task.title,
        task.role,
        task.person or "",
        task.email or "",
        task.due.astimezone(zone(task.timezone)).isoformat() if task.due else "",
        "true" if task.overdue else "false",
        task.link or "",
    )


def _trello(task: OpenTask, lang: str) -> tuple[str, ...]:
    due = task.due.astimezone(zone(task.timezone)).isoformat() if task.due else ""
    return (
        say("cli.actions.card_name", lang, deal=task.deal, title=task.title),
        _description(task, lang),
        task.stage_title,
        task.role_title,
        task.email or task.person or "",
        due,
    )


def _asana(task: OpenTask, lang: str) -> tuple[str, ...]:
    due = task.due.astimezone(zone(task.timezone)).strftime("%m/%d/%Y") if task.due else ""
    return (
        say("cli.actions.card_name", lang, deal=task.deal, title=task.title),
        _description(task, lang),
        task.email or "",
        due,
        task.stage_title,
    )


BOARDS: dict[str, tuple[tuple[str, ...], Callable[[OpenTask, str], tuple[str, ...]]]] = {
    "plain": (_PLAIN, _plain),
    "trello": (_TRELLO, _trello),
    "asana": (_ASANA, _asana),
}
"""Each CSV layout: its header and how a task becomes a row."""


def _description(task: OpenTask, lang: str) -> str:
    lines = [
        say("cli.actions.line_deal", lang, deal=task.deal, stage=task.stage_title),
        say("cli.actions.line_role", lang, role=task.role_title, person=task.person or "-"),
    ]
    if task.due is not None:
        key = "cli.actions.line_overdue" if task.overdue else "cli.actions.line_due"
        lines.append(say(key, lang, due=task.due_text()))
    if task.link:
        lines.append(task.link)
    return "\n".join(lines)


def tasks_csv(tasks: Sequence[OpenTask], lang: str, board: str = "plain") -> str:
    """The tasks as CSV in ``board``'s layout (``plain``, ``trello`` or ``asana``)."""
    header, row = BOARDS[board]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([neutralise_cell(cell) for cell in row(task, lang)] for task in tasks)
    return out.getvalue()


def tasks_json(tasks: Sequence[OpenTask]) -> str:
    """The tasks as a JSON document ``{"actions": [...]}`` (the API's shape)."""
    body = {"actions": [task.to_dict() for task in tasks]}
    return json.dumps(body, ensure_ascii=False, indent=2)
