"""KPI reports and weekly reviews as aligned text tables for terminals.

Columns are aligned by display width (a Chinese character takes two columns).
With ``color=True`` the status is coloured (green met, yellow at risk, red
missed, grey no data); the CLI asks for colour only when writing to a terminal,
so piped output stays plain text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from playbook.i18n import join, say
from playbook.kpi.report import kpi_unit
from playbook.render.labels import as_of_text, format_value, status_word

if TYPE_CHECKING:
    from playbook.kpi.report import KpiReport, KpiResult
    from playbook.kpi.review import ReviewedDeal, WeeklyReview
    from playbook.model import Playbook

__all__ = [
    "activity_word",
    "display_width",
    "group_text",
    "group_titles",
    "render_columns",
    "render_kpi_table",
    "render_review",
    "target_text",
]

_COLOURS: Mapping[str, str] = {
    "met": "\033[32m",
    "on_track": "\033[36m",
    "at_risk": "\033[33m",
    "missed": "\033[31m",
    "no_data": "\033[90m",
}
_RESET = "\033[0m"


def display_width(text: str) -> int:
    """How many terminal columns ``text`` takes: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def render_columns(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
    styles: Sequence[Mapping[int, str]] | None = None,
) -> str:
    """Rows under headers, aligned by display width; columns in ``right`` align right.

    ``styles`` gives, per row, an ANSI prefix for some cells (applied after padding,
    so colours never break the alignment).
    """
    widths = [
        max(display_width(headers[i]), *(display_width(row[i]) for row in rows))
        for i in range(len(headers))
    ]
    lines = [_line(headers, widths, right, {})]
    for index, row in enumerate(rows):
        lines.append(_line(row, widths, right, styles[index] if styles else {}))
    return "\n".join(lines)


def _line(
    cells: Sequence[str], widths: Sequence[int], right: Sequence[int], style: Mapping[int, str]
) -> str:
    out = []
    for i, cell in enumerate(cells):
        gap = " " * (widths[i] - display_width(cell))
        text = gap + cell if i in right else cell + gap
        out.append(f"{style[i]}{text}{_RESET}" if i in style else text)
    return "  ".join(out).rstrip()


def group_text(
    group: Mapping[str, str | None], lang: str | None = "en", playbook: Playbook | None = None
) -> str:
    """``region=Central, manager=Cara Losch``; ``all`` for an overall figure.

    With the ``playbook``, a value that has a title there (an enum value) shows
    its title in ``lang`` with the id beside it: ``customer_tier=重点客户（key）``.
    """
    if not group:
        return say("report.all", lang)
    return ", ".join(f"{key}={_group_value(key, v, lang, playbook)}" for key, v in group.items())


def group_titles(group: Mapping[str, str | None], playbook: Playbook, lang: str) -> dict[str, str]:
    """The titles in ``lang`` of the group's values that have one, by grouping key."""
    titles = {key: playbook.value_label(key, v, lang) for key, v in group.items() if v is not None}
    return {key: title for key, title in titles.items() if title != group[key]}


def _group_value(key: str, value: str | None, lang: str | None, playbook: Playbook | None) -> str:
    if value is None:
        return say("report.none", lang)
    title = value if playbook is None else playbook.value_label(key, value, lang)
    return value if title == value else say("report.titled_value", lang, title=title, id=value)


def target_text(result: KpiResult, unit: str, currency: str | None, lang: str | None) -> str:
    """``≥ 60.0%``, ``≤ 60.0 days``, ``10–20``, ``≥ 20 per member``; empty when the KPI has no
    target."""
    low, high = result.target_min, result.target_max
    if low is not None and high is not None:
        text = (
            f"{format_value(low, unit, currency=currency, lang=lang)}–"
            f"{format_value(high, unit, currency=currency, lang=lang)}"
        )
    elif low is not None:
        text = f"≥ {format_value(low, unit, currency=currency, lang=lang)}"
    elif high is not None:
        text = f"≤ {format_value(high, unit, currency=currency, lang=lang)}"
    else:
        return ""
    return say("report.per_member_target", lang, target=text) if result.kpi.per else text


def value_text(result: KpiResult, unit: str, currency: str | None, lang: str | None) -> str:
    """The figure; for a per-member KPI over a group, its total next to the per-member figure
    and the number of members (``85 · 8.5 per member (10)``)."""
    total = format_value(result.value, unit, currency=currency, lang=lang)
    if result.kpi.per is None or result.members in (None, 1):
        return total
    per = format_value(result.per_member, unit, currency=currency, lang=lang)
    return say("report.per_member_value", lang, total=total, per=per, members=result.members)


def _gap_text(result: KpiResult, unit: str, currency: str | None, lang: str | None) -> str:
    if result.gap is None:
        return ""
    sign = "+" if result.gap > 0 else ""
    if unit == "ratio":
        return say("report.points", lang, value=f"{sign}{result.gap * 100:.1f}")
    return sign + format_value(result.gap, unit, currency=currency, lang=lang)


def render_kpi_table(report: KpiReport, *, lang: str | None = None, color: bool = False) -> str:
    """The report as a heading line, a table (one line per KPI and group) and its notes.

    When the report holds team subtotals (``compute_kpis(team_subtotals=True)``),
    the owners of a by-owner KPI are listed team by team, each team followed by
    its subtotal line.
    """
    playbook = report.playbook
    words = lang or playbook.language
    currency = playbook.currency
    rows: list[list[str]] = []
    styles: list[dict[int, str]] = []
    for result, subtotal in _with_subtotals(report):
        unit = kpi_unit(result.kpi)
        group = group_text(result.group, words, playbook)
        rows.append(
            [
                result.title(playbook, words),
                f"{group} · {say('report.subtotal', words)}" if subtotal else group,
                value_text(result, unit, currency, words),
                target_text(result, unit, currency, words),
                _gap_text(result, unit, currency, words),
                status_word(result.status, words),
                f"{result.n:,}",
            ]
        )
        styles.append({5: _COLOURS[result.status]} if color and result.status else {})
    columns = ("kpi", "group", "value", "target", "gap", "status", "n")
    headers = [say(f"report.{key}", words) for key in columns]
    period = report.period
    days = f"{period.first_day.isoformat()} – {period.last_day.isoformat()}, "
    heading = (
        f"{playbook.label(playbook.title, words, playbook.id)} · {say('report.period', words)} "
        f"{period.label} ({days if period.kind else ''}"
        f"{report.elapsed * 100:.0f}% {say('report.elapsed', words)}) · "
        f"{as_of_text(report.as_of, period.timezone, words)}"
    )
    table = render_columns(headers, rows, right=(2, 4, 6), styles=styles)
    notes = [f"{say('report.notes', words)}: {note}" for note in report.notes]
    return "\n".join([heading, "", table, *(["", *notes] if notes else [])]) + "\n"


def _with_subtotals(report: KpiReport) -> list[tuple[KpiResult, bool]]:
    """The report's lines in table order, each with whether it is a team subtotal."""
    if not report.subtotals:
        return [(result, False) for result in report.results]
    totals = {(r.kpi.id, r.group.get("team")): r for r in report.subtotals}
    subtotalled = {kpi_id for kpi_id, _team in totals}
    lines: list[tuple[KpiResult, bool]] = []
    blocks: dict[str, list[KpiResult]] = {}
    for result in report.results:
        blocks.setdefault(result.kpi.id, []).append(result)
    for kpi_id, results in blocks.items():
        if kpi_id not in subtotalled:
            lines += [(result, False) for result in results]
            continue
        teams: dict[str | None, list[KpiResult]] = {}
        for result in results:
            owner = result.group.get("owner")
            teams.setdefault(report.teams.get(owner) if owner else None, []).append(result)
        for team in sorted(teams, key=lambda name: (name is None, name or "")):
            lines += [(result, False) for result in teams[team]]
            total = totals.get((kpi_id, team))
            if total is not None:
                lines.append((total, True))
    return lines


def render_review(review: WeeklyReview, *, lang: str | None = None, color: bool = False) -> str:
    """The weekly review as text: a summary line, then one block per deal."""
    playbook = review.playbook
    words = lang or review.lang
    who = review.owner or review.team or ""
    counts = review.summary()
    lines = [
        f"{playbook.label(playbook.review.title if playbook.review else None, words, '')}"
        or say("report.review_title", words),
        f"{who} · {review.week.label} ({review.week.first_day} – {review.week.last_day}) · "
        f"{as_of_text(review.as_of, review.week.timezone, words)}",
        "",
        _summary_line(counts, words),
    ]
    if not review.deals:
        return "\n".join([*lines, "", say("report.no_deals", words)]) + "\n"
    for item in review.deals:
        lines += ["", *_deal_block(playbook, item, words, color)]
    return "\n".join(lines) + "\n"


def _summary_line(counts: Mapping[str, int], lang: str) -> str:
    parts = [
        f"{counts['open']} {say('report.open_deals', lang)}",
        f"{counts['moved']} {say('report.moved', lang)}",
        f"{counts['won']} {say('outcome.won', lang)}",
        f"{counts['lost']} {say('outcome.lost', lang)}",
        f"{counts['idle']} {say('report.idle', lang)}",
        f"{counts['activities']} {say('report.activities', lang)}",
        f"{counts['escalations']} {say('report.open_escalations', lang)}",
    ]
    return f"{say('report.summary', lang)}: " + ", ".join(parts)


def _deal_block(playbook: Playbook, item: ReviewedDeal, lang: str, color: bool) -> list[str]:
    stage = playbook.label(item.stage.title, lang, item.stage.id)
    head = f"{item.deal.ref}  {stage}  {item.days_in_stage:.0f} {say('unit.days', lang)}"
    if item.stage.is_closed:
        head += f"  ({say('report.closed_this_week', lang)})"
    if color and item.escalations:
        head = f"{_COLOURS['missed']}{head}{_RESET}"
    done = join(
        [f"{_activity(kind, lang)} ×{count}" for kind, count in sorted(item.activities.items())],
        lang,
        last=None,
    )
    moves = ", ".join(f"{move.from_stage} → {move.to_stage}" for move in item.moves)
    lines = [head, f"  {say('report.this_week', lang)}: {done or say('report.nothing', lang)}"]
    if moves:
        lines[-1] += f"; {moves}"
    if item.missing:
        lines.append(f"  {say('report.missing', lang)}: " + "; ".join(item.missing))
    for escalation in item.escalations:
        status = say(f"cli.status.{escalation.status}", lang)
        lines.append(f"  ! {escalation.rule} (L{escalation.level}, {status})")
    return lines


_ACTIVITIES = frozenset({"action", "call", "meeting", "email", "note", "visit"})


def _activity(kind: str, lang: str | None) -> str:
    return activity_word(kind, lang)


def activity_word(kind: str, lang: str | None, playbook: Playbook | None = None) -> str:
    """An activity kind as people read it: the playbook's title, the built-in word, or its id."""
    if playbook is not None:
        for declared in playbook.activity_kinds:
            if declared.id == kind and declared.title is not None:
                return playbook.label(declared.title, lang, fallback=kind)
    return say(f"cli.activity.{kind}", lang) if kind in _ACTIVITIES else kind
