"""The rep-facing handbook (SOP) of a playbook, in Markdown or HTML, in English or Chinese.

One section per stage: its goal, the entry criteria in plain words, the
required actions with the responsible role and deadline, what must hold to
leave it, where a deal can go next, and which escalations watch it; then the
KPI targets, who may override a gate, and the stage diagram (Mermaid). The
handbook is generated from the playbook alone and is deterministic, so a
committed copy can be checked for staleness (:func:`is_stale`).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from playbook.authoring.graph import to_inline_svg, to_mermaid
from playbook.conditions import ir
from playbook.i18n import join, say, spoken
from playbook.model import Duration, Escalation, Kpi, Playbook, Stage, Text

__all__ = ["HandbookFormat", "condition_words", "is_stale", "render_handbook"]

HandbookFormat = Literal["markdown", "html"]

# The handbook's condition words for the comparison operators (``handbook.op.*`` keys).
_OPS = {"==": "eq", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le"}


class _Book:
    """Words of one playbook in one language."""

    def __init__(self, playbook: Playbook, lang: str) -> None:
        self.playbook = playbook
        self.lang = spoken(lang)

    def say(self, key: str, **values: str) -> str:
        return say(key, self.lang, **values)

    def text(self, value: Text | None, fallback: str = "") -> str:
        if value is None:
            return fallback
        return value.get(self.lang, self.playbook.language)

    def stage(self, stage_id: str) -> str:
        stage = self.playbook.stage(stage_id)
        return self.text(stage.title, stage_id) if stage is not None else stage_id

    def role(self, role_id: str) -> str:
        role = self.playbook.roles.get(role_id)
        return self.text(role.title if role is not None else None, role_id)

    def roles(self, ids: Any) -> str:
        names = [self.role(r) if r in self.playbook.roles else self._notified(r) for r in ids]
        return join(names, self.lang, last=None)

    def _notified(self, name: str) -> str:
        return self.say(f"handbook.notify_{name}") if name in ("owner", "manager") else name

    def field(self, name: str) -> str:
        spec = self.playbook.fields.get(name)
        return self.text(spec.title if spec is not None else None, name)

    def evidence(self, name: str) -> str:
        """An action's evidence field by its title; a ``format: url`` field says it is a link."""
        spec = self.playbook.fields.get(name)
        if spec is not None and spec.format == "url":
            return self.say("handbook.evidence_link", field=self.field(name))
        return self.field(name)

    def group(self, name: str) -> str:
        """What KPI figures are grouped by: a person column or an enum field, by its title."""
        if name in ("owner", "team", "manager", "region"):
            return self.say(f"people.{name}")
        return self.field(name)

    def value(self, field_id: str, value: Any) -> str:
        """A literal compared with ``field_id``: an enum value by its title."""
        if isinstance(value, str):
            return self.playbook.value_label(field_id, value, self.lang)
        return _value(value)

    def duration(self, duration: Duration) -> str:
        return duration.words(self.lang)


def condition_words(expr: ir.Expr, playbook: Playbook, lang: str = "en") -> str:
    """A condition in plain words, with field titles: ``Amount is more than 0``."""
    return _words(expr, _Book(playbook, lang))


def _words(expr: ir.Expr, book: _Book) -> str:
    if isinstance(expr, ir.And | ir.Or):
        joiner = book.say("handbook.and" if isinstance(expr, ir.And) else "handbook.or")
        return joiner.join(_words(item, book) for item in expr.items)
    if isinstance(expr, ir.Not):
        return book.say("handbook.not", text=_words(expr.item, book))
    if isinstance(expr, ir.Const):
        return str(expr.value).lower()
    if isinstance(expr, ir.Has):
        return book.say("handbook.filled", field=book.field(expr.field.name))
    if isinstance(expr, ir.Contains):
        return f"{book.field(expr.field.name)} ∋ {book.value(expr.field.name, expr.value)}"
    if isinstance(expr, ir.In):
        named = expr.operand.name if isinstance(expr.operand, ir.FieldRef) else ""
        values = ", ".join(book.value(named, v) for v in expr.values)
        op = "∉" if expr.negated else "∈"
        return f"{_operand(expr.operand, book)} {op} {{{values}}}"
    assert isinstance(expr, ir.Compare)
    if isinstance(expr.right, ir.Literal) and expr.right.value is True and expr.op == "==":
        return book.say("handbook.yes", field=_operand(expr.left, book))
    named = expr.left.name if isinstance(expr.left, ir.FieldRef) else ""
    right = (
        book.value(named, expr.right.value)
        if isinstance(expr.right, ir.Literal)
        else _operand(expr.right, book)
    )
    op = book.say(f"handbook.op.{_OPS[expr.op]}")
    return f"{_operand(expr.left, book)} {op} {right}"


def _operand(operand: ir.FieldRef | ir.Len, book: _Book) -> str:
    if isinstance(operand, ir.Len):
        return f"len({book.field(operand.field.name)})"
    return book.field(operand.name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int) and abs(Decimal(value)) >= 10_000:
        return f"{value:,}"
    return str(value)


# --- the document, as a list of blocks ----------------------------------------------------


def _blocks(playbook: Playbook, book: _Book) -> Iterator[tuple[str, Any]]:
    """The handbook as neutral blocks: (heading N | para | list | table | diagram, content)."""
    title = book.text(playbook.title, playbook.id)
    version = f"{book.say('handbook.version')} {playbook.version}"
    yield "h1", f"{title} — {book.say('handbook.title')} ({version})"
    yield "note", book.say("handbook.generated", file=Path(playbook.source or playbook.id).name)
    if playbook.description is not None:
        yield "para", book.text(playbook.description)
    yield "h2", book.say("handbook.diagram")
    # Markdown shows the Mermaid source (rendered by GitHub, GitLab...); HTML an inline SVG.
    yield "diagram", (to_mermaid(playbook, book.lang), to_inline_svg(playbook, book.lang))
    yield "h2", book.say("handbook.stages")
    for number, stage in enumerate(playbook.stages, start=1):
        yield from _stage_blocks(playbook, book, stage, number)
    yield from _kpi_blocks(playbook, book)
    if playbook.override_roles:
        yield "h2", book.say("handbook.overrides")
        yield "para", book.roles(playbook.override_roles)


def _stage_blocks(
    playbook: Playbook, book: _Book, stage: Stage, number: int
) -> Iterator[tuple[str, Any]]:
    outcome = f" · {book.say(f'outcome.{stage.outcome}')}" if stage.is_closed else ""
    yield "h3", f"{number}. {book.text(stage.title, stage.id)} (`{stage.id}`){outcome}"
    facts = []
    if stage.goal is not None:
        facts.append(f"**{book.say('handbook.goal')}**: {book.text(stage.goal)}")
    if stage.probability is not None:
        facts.append(f"**{book.say('handbook.probability')}**: {stage.probability:.0%}")
    if stage.description is not None:
        facts.append(book.text(stage.description))
    if facts:
        yield "list", facts
    for kind, criteria in (("entry", stage.entry), ("exit", stage.exit)):
        if criteria:
            yield "h4", book.say(f"handbook.{kind}")
            yield "list", [_criterion(book, item) for item in criteria]
    if stage.actions:
        yield "h4", book.say("handbook.actions")
        yield "table", _actions_table(book, stage)
    moves = [
        book.stage(move.target)
        + (
            f" ({book.say('handbook.who_moves', roles=book.roles(move.roles))})"
            if move.roles
            else ""
        )
        for move in playbook.transitions_from(stage.id)
    ]
    if moves:
        yield (
            "para",
            f"**{book.say('handbook.next')}**: " + join(moves, book.lang, last=None),
        )
    watching = [rule for rule in playbook.escalations if _watches(playbook, rule, stage)]
    if watching:
        yield "h4", book.say("handbook.escalations")
        yield "list", [_escalation(book, rule) for rule in watching]


def _criterion(book: _Book, item: Any) -> str:
    plain = _words(item.condition.expr, book)
    label = book.text(item.message or item.title) if (item.message or item.title) else ""
    return f"{label} ({plain})" if label else plain


def _actions_table(book: _Book, stage: Stage) -> list[list[str]]:
    rows = [
        [
            book.say(f"handbook.{k}")
            for k in ("action", "owner", "deadline", "condition", "evidence")
        ]
    ]
    for action in stage.actions:
        name = book.text(action.title, action.id)
        if action.optional:
            name += " " + book.say("handbook.optional")
        due = book.say("handbook.after_entry", due=book.duration(action.due)) if action.due else "—"
        when = _words(action.when.expr, book) if action.when is not None else "—"
        evidence = book.evidence(action.evidence) if action.evidence else "—"
        who = book.roles(action.roles) or book.say("common.anyone")
        rows.append([name, who, due, when, evidence])
    return rows


def _watches(playbook: Playbook, rule: Escalation, stage: Stage) -> bool:
    return stage.id in rule.stages if rule.stages is not None else stage.is_open


def _escalation(book: _Book, rule: Escalation) -> str:
    trigger = rule.trigger
    duration = book.duration(trigger.duration) if trigger.duration is not None else ""
    if trigger.kind == "condition" and trigger.condition is not None:
        when = book.say(
            "handbook.condition_for",
            condition=_words(trigger.condition.expr, book),
            duration=duration,
        )
    elif trigger.kind == "date_passed":
        when = book.say("handbook.date_passed", field=book.field(trigger.field or ""))
    else:
        when = book.say(f"handbook.{trigger.kind}", duration=duration)
    steps = []
    for index, level in enumerate(rule.levels):
        roles = book.roles(level.notify)
        if index == 0:
            steps.append(book.say("handbook.first", roles=roles))
        else:
            steps.append(book.say("handbook.then", roles=roles, after=book.duration(level.after)))
    extra = f" ({_words(rule.when.expr, book)})" if rule.when is not None else ""
    separator = book.say("list.clause")
    return f"**{book.text(rule.title, rule.id)}**{extra}: {when}{separator}{separator.join(steps)}"


def _kpi_blocks(playbook: Playbook, book: _Book) -> Iterator[tuple[str, Any]]:
    if not playbook.kpis:
        return
    yield "h2", book.say("handbook.kpis")
    rows = [[book.say(f"handbook.{k}") for k in ("kpi", "target", "period", "by")]]
    rows += [_kpi_row(book, kpi) for kpi in playbook.kpis]
    yield "table", rows


def _kpi_row(book: _Book, kpi: Kpi) -> list[str]:
    targets = []
    if kpi.target_min is not None:
        targets.append(book.say("handbook.at_least", value=_target(kpi, kpi.target_min)))
    if kpi.target_max is not None:
        targets.append(book.say("handbook.at_most", value=_target(kpi, kpi.target_max)))
    by = join([book.group(name) for name in kpi.by], book.lang, last=None)
    period = book.say(f"period.{kpi.period}") if kpi.period else "—"
    return [book.text(kpi.title, kpi.id), ", ".join(targets) or "—", period, by or "—"]


def _target(kpi: Kpi, value: float) -> str:
    if kpi.unit == "ratio":
        return f"{value:.0%}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return str(value)


# --- Markdown and HTML --------------------------------------------------------------------


def render_handbook(
    playbook: Playbook, fmt: HandbookFormat = "markdown", lang: str | None = None
) -> str:
    """The handbook of ``playbook`` in ``fmt``, in ``lang`` (default: the playbook's language)."""
    book = _Book(playbook, lang or playbook.language)
    blocks = list(_blocks(playbook, book))
    if fmt == "html":
        return _html(blocks, book)
    return _markdown(blocks)


def _markdown(blocks: list[tuple[str, Any]]) -> str:
    out: list[str] = []
    for kind, content in blocks:
        if kind.startswith("h"):
            out += ["#" * int(kind[1]) + " " + content, ""]
        elif kind == "note":
            out += [f"> {content}", ""]
        elif kind == "para":
            out += [content, ""]
        elif kind == "list":
            out += [f"- {item}" for item in content] + [""]
        elif kind == "table":
            out += [*_markdown_table(content), ""]
        else:
            out += ["```mermaid", content[0].rstrip("\n"), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _markdown_table(rows: list[list[str]]) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [row(rows[0]), "| " + " | ".join("---" for _ in rows[0]) + " |", *map(row, rows[1:])]


def _html(blocks: list[tuple[str, Any]], book: _Book) -> str:
    title = html.escape(str(blocks[0][1]))
    body: list[str] = []
    for kind, content in blocks:
        if kind.startswith("h"):
            body.append(f"<{kind}>{_inline(content)}</{kind}>")
        elif kind == "note":
            body.append(f'<p class="note">{_inline(content)}</p>')
        elif kind == "para":
            body.append(f"<p>{_inline(content)}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in content) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(cell)}</th>" for cell in content[0])
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                for row in content[1:]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:  # the diagram: drawn inline, so the page needs no network and no script
            body.append(f'<figure class="diagram">{content[1]}</figure>')
    lang = "zh-CN" if book.lang == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n"
        "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


_CSS = (
    "body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC',sans-serif;max-width:60rem;"
    "margin:2rem auto;padding:0 1rem;line-height:1.5}table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}"
    ".note{color:#666;font-size:.9em}code{background:#f4f4f4;padding:0 .2em}"
)


def _inline(text: str) -> str:
    """Markdown's ``**bold**`` and ``code`` spans as HTML, everything else escaped."""
    out = html.escape(text)
    parts = out.split("**")
    out = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = out.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def is_stale(playbook: Playbook, path: Path, fmt: HandbookFormat, lang: str | None) -> bool:
    """True when the handbook at ``path`` is missing or differs from what ``playbook`` gives."""
    try:
        committed = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True
    return committed != render_handbook(playbook, fmt, lang)
