"""A playbook diff and its impact on open deals, as text or Markdown, in one language.

The changes themselves (:mod:`playbook.authoring.diff`) name the parts of the
playbook by their format keys (``probability 0.4 → 0.45``): those stay as
written, since they are what a reviewer looks for in the YAML.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

from playbook.authoring.diff import CHANGE_SYMBOLS, Change, Impact, PlaybookDiff
from playbook.i18n import say

__all__ = ["render_diff"]


def render_diff(
    diff: PlaybookDiff, impact: Impact | None, fmt: str, source: str = "", lang: str = "en"
) -> str:
    """The diff (and impact) as ``text`` or ``markdown`` in ``lang``; ``source``: the database."""
    if fmt == "markdown":
        return "\n".join(_markdown(diff, impact, source, lang)) + "\n"
    return "\n".join(_text(diff, impact, lang)) + "\n"


_PART_OF = re.compile(r"(entry criterion|exit criterion|action) of (\S+)")


def _area(area: str, lang: str) -> str:
    """A changed part's kind in ``lang`` (``stage``, ``entry criterion of lead``...)."""
    part = _PART_OF.fullmatch(area)
    if part is not None:
        return say(f"cli.diff.area.{part[1].replace(' ', '_')}", lang, stage=part[2])
    key = f"cli.diff.area.{area.lower().replace(' ', '_')}"
    try:
        return say(key, lang)
    except KeyError:  # a part this renderer does not know yet reads as the diff names it
        return area


def _change(change: Change, lang: str) -> str:
    text = f"{CHANGE_SYMBOLS[change.kind]} {_area(change.area, lang)} {change.id}"
    return text + (": " + "; ".join(change.details) if change.details else "")


def _text(diff: PlaybookDiff, impact: Impact | None, lang: str) -> Iterator[str]:
    versions = {"playbook": diff.new.id, "old": diff.old.version, "new": diff.new.version}
    yield say("cli.diff.heading", lang, **versions)
    yield say("cli.diff.changes", lang, count=len(diff.changes))
    for change in diff.changes:
        yield f"  {_change(change, lang)}"
    if impact is None:
        return
    yield ""
    now = impact.now.isoformat()
    yield say("cli.diff.impact", lang, count=f"{impact.open_deals:,}", now=now)
    for line in _impact_lines(impact, lang):
        yield "  " + line


def _impact_lines(impact: Impact, lang: str) -> Iterator[str]:
    yield say("cli.diff.failing", lang, count=f"{impact.count('failing'):,}")
    for rule, count in impact.tally("failing").most_common():
        examples = ", ".join(impact.examples("failing", rule))
        yield say("cli.diff.example", lang, item=rule, count=f"{count:,}", examples=examples)
    yield say("cli.diff.new_actions", lang, count=f"{impact.count('new_actions'):,}")
    for action, count in impact.tally("new_actions").most_common():
        yield f"  {action}: {count:,}"
    for name in ("starts", "stops"):
        for rule, count in impact.tally(name).most_common():
            yield say(f"cli.diff.{name}", lang, rule=rule, count=f"{count:,}")
    if not impact.count("starts") and not impact.count("stops"):
        yield say("cli.diff.no_escalation_change", lang)
    for deal in impact.stranded:
        yield say("cli.diff.stranded", lang, deal=deal.ref, stage=deal.stage, problem=deal.problem)
    if impact.created_after_now:
        yield _later_line(impact, lang)
    yield _pipeline_line(impact, lang)


def _later_line(impact: Impact, lang: str) -> str:
    day = impact.now.date().isoformat()
    return say("cli.diff.later", lang, count=f"{impact.created_after_now:,}", day=day)


def _pipeline_line(impact: Impact, lang: str) -> str:
    old_wins, new_wins = f"{impact.expected_wins_old:,.1f}", f"{impact.expected_wins_new:,.1f}"
    wins = say("cli.diff.wins", lang, old=old_wins, new=new_wins)
    if impact.value_field is None:
        return say("cli.diff.no_value", lang, wins=wins)
    old, new = impact.weighted_old, impact.weighted_new
    return say(
        "cli.diff.pipeline",
        lang,
        field=impact.value_field,
        old=f"{old:,.2f}",
        new=f"{new:,.2f}",
        delta=_delta(old, new),
        wins=wins,
    )


def _delta(old: Decimal, new: Decimal) -> str:
    change = new - old
    sign = "+" if change >= 0 else "−"
    if not old:
        return f"{sign}{abs(change):,.2f}"
    return f"{sign}{abs(change):,.2f}, {sign}{abs(change) / old:.1%}"


def _markdown(diff: PlaybookDiff, impact: Impact | None, source: str, lang: str) -> Iterator[str]:
    new = diff.new
    yield say("cli.diff.md_heading", lang, playbook=new.id, old=diff.old.version, new=new.version)
    yield ""
    yield say("cli.diff.md_columns", lang)
    yield "| --- | --- | --- |"
    for change in diff.changes:
        details = "; ".join(change.details).replace("|", "\\|") or change.kind
        area = _area(change.area, lang)
        yield f"| {CHANGE_SYMBOLS[change.kind]} | {area} `{change.id}` | {details} |"
    if impact is None:
        return
    where = say("cli.diff.md_where", lang, source=source) if source else ""
    yield ""
    day = impact.now.date().isoformat()
    yield say("cli.diff.md_impact", lang, count=f"{impact.open_deals:,}", where=where, day=day)
    yield ""
    yield from _markdown_group(impact, "failing", "criterion", lang)
    yield from _markdown_group(impact, "new_actions", "action", lang)
    yield from _markdown_group(impact, "starts", "escalation", lang)
    yield from _markdown_group(impact, "stops", "escalation", lang)
    for deal in impact.stranded:
        stranded = say(
            "cli.diff.stranded",
            lang,
            deal=f"`{deal.ref}`",
            stage=f"`{deal.stage}`",
            problem=deal.problem,
        )
        yield f"- :warning: {stranded}"
    if impact.created_after_now:
        yield f"- :information_source: {_later_line(impact, lang).replace('--now', '`--now`')}"
    yield f"- {_pipeline_line(impact, lang)}"


def _markdown_group(impact: Impact, attribute: str, column: str, lang: str) -> Iterator[str]:
    count = impact.count(attribute)
    words = say(f"cli.diff.md_{attribute}", lang)
    yield say("cli.diff.md_group", lang, count=f"{count:,}", words=words)
    tally = impact.tally(attribute)
    if not tally:
        return
    yield ""
    yield say("cli.diff.md_table", lang, column=say(f"cli.diff.column.{column}", lang))
    yield "  | --- | ---: | --- |"
    for item, total in tally.most_common():
        examples = ", ".join(f"`{ref}`" for ref in impact.examples(attribute, item))
        yield f"  | `{item}` | {total:,} | {examples} |"
    yield ""
