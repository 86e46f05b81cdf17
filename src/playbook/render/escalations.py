"""Sweeps and escalations as people read them, in one language, on the playbook's clock.

Times show as :func:`playbook.values.shown_time` does (``2026-10-10 09:30 +08:00``);
the JSON forms (``SweepReport.to_dict``, ``EscalationView.to_dict``) keep UTC.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import TYPE_CHECKING

from playbook.i18n import join, say
from playbook.values import playbook_zone, shown_time

if TYPE_CHECKING:
    from playbook.escalation.admin import EscalationView
    from playbook.escalation.rules import Fired
    from playbook.escalation.sweep import SweepReport
    from playbook.model import Playbook

__all__ = ["render_sweep", "sweep_summary", "view_line"]


def render_sweep(
    report: SweepReport, playbook: Playbook, *, limit: int | None = None, lang: str = "en"
) -> str:
    """The text form of a sweep: a summary, a line per escalation (up to ``limit``), warnings."""
    zone = playbook_zone(playbook)
    lines = [sweep_summary(report, zone, lang)]
    items = [("fired", item) for item in report.fired]
    items += [("dropped", item) for item in report.dropped]
    shown = items if limit is None else items[:limit]
    lines += [_fired_line(item, playbook, verb, lang) for verb, item in shown]
    if len(shown) < len(items):
        lines.append(say("cli.sweep.more", lang, count=len(items) - len(shown)))
    lines += [say("cli.warning", lang, text=warning) for warning in report.warnings]
    lines += [say("cli.delivery_failed", lang, text=error) for error in report.deliveries.errors]
    return "\n".join(lines)


def sweep_summary(report: SweepReport, zone: tzinfo, lang: str = "en") -> str:
    """One line: when the sweep ran, how many escalations fired, dropped and resolved."""
    verb = say("cli.sweep.would_fire" if report.dry_run else "cli.sweep.fired", lang)
    text = say(
        "cli.sweep.summary",
        lang,
        playbook=report.playbook,
        now=shown_time(report.now, zone),
        fired=len(report.fired),
        verb=verb,
        dropped=len(report.dropped),
        resolved=report.resolved,
    )
    tally = report.deliveries
    if tally.sent or tally.failed or tally.pending:
        text += say(
            "cli.sweep.deliveries",
            lang,
            sent=tally.sent,
            failed=tally.failed,
            pending=tally.pending,
        )
    if report.interrupted:
        text += say("cli.sweep.interrupted", lang)
    return text


def _fired_line(item: Fired, playbook: Playbook, verb: str, lang: str) -> str:
    line = say(
        "cli.sweep.line",
        lang,
        verb=say(f"cli.sweep.{verb}", lang),
        deal=item.deal,
        rule=item.rule,
        level=item.level,
        when=shown_time(item.fired_at, playbook_zone(playbook)),
        reason=item.reason,
    )
    if verb != "fired":
        return line
    people = join([person.shown(playbook, lang) for person in item.notified], lang, last=None)
    return line + say("cli.sweep.notify", lang, people=people)


def view_line(view: EscalationView, lang: str, playbook: Playbook | None) -> str:
    """One escalation of ``escalations list``: status, deal, rule, level, when, whom, why.

    Times are on ``playbook``'s clock (UTC when the store has no copy of it).
    """
    zone = playbook_zone(playbook) if playbook is not None else UTC
    people = join([person.shown(playbook, lang) for person in view.notified], lang, last=None)
    extra = ""
    if view.status == "acked":
        extra = say("cli.escalations.acked_by", lang, actor=view.acked_by, reason=view.ack_reason)
    elif view.status == "resolved":
        extra = say("cli.escalations.resolution", lang, resolution=view.resolution)
    if view.snoozed_until is not None:
        until = shown_time(view.snoozed_until, zone)
        extra += say("cli.escalations.snoozed_until", lang, until=until)
    known = view.status in ("open", "acked", "resolved", "dropped")
    return say(
        "cli.escalations.line",
        lang,
        id=view.id,
        status=say(f"cli.status.{view.status}", lang) if known else view.status,
        extra=extra,
        deal=view.deal,
        rule=view.rule,
        level=view.level,
        stage=view.stage,
        at=shown_time(view.fired_at, zone),
        people=people,
        reason=view.reason,
    )
