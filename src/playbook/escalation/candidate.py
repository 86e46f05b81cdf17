"""A candidate deal's row turned into the escalation it makes, with its reason and recipients.

The SQL sweep selects candidate rows (:func:`playbook.escalation.query.candidates`);
each row's due time is then computed exactly here, in Python: a row is open
(due, people are told), dropped (found later than the rule's
``max_lateness``: recorded, nobody told) or not due yet (a snooze pushed it).
No SQL and no I/O: a row is anything with the candidate query's attributes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from playbook.escalation.rules import (
    LevelTiming,
    PreparedRule,
    Recipient,
    deal_label,
    working_moment,
)
from playbook.escalation.times import utc_iso
from playbook.i18n import say
from playbook.model import EscalationLevel
from playbook.values import shown_time

__all__ = ["escalation_of"]


def escalation_of(
    rule: PreparedRule,
    level: LevelTiming,
    row: Any,
    now: datetime,
    message: str,
    snoozes: Mapping[tuple[int, datetime], datetime],
    holders: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any] | None:
    """The escalation a candidate row makes (the fields of a :class:`Fired` without its id).

    Open, or dropped when found too late; None when not due. A snooze of the
    episode pushes the due time to the first working moment after it.
    ``holders`` names the people holding each notified role (see :func:`_recipients`).
    """
    anchor = rule.anchor_time(row.anchor)
    due = level.due(anchor)
    snoozed_until = snoozes.get((row.id, anchor)) if snoozes else None
    if snoozed_until is not None and snoozed_until > due:
        due = working_moment(rule.calendar, snoozed_until)
    if due > now:
        return None
    limit = rule.rule.max_lateness
    late = limit is not None and rule.calendar.add(due, limit) < now
    anchor_iso = utc_iso(anchor)
    reason = _reason(rule, row, anchor, due)
    if late and limit is not None:
        span = _span(due, now, rule.lang)
        reason += say("escalation.late", rule.lang, span=span, duration=limit.words(rule.lang))
    return {
        "deal_id": row.id,
        "deal": deal_label(row.external_id, row.id),
        "rule": rule.rule.id,
        "rule_title": rule.title,
        "level": level.number,
        "episode": rule.episode(row.stage, row.anchor, anchor_iso),
        "stage": row.stage,
        "owner": row.owner,
        "anchor_at": anchor,
        "fired_at": due,
        "swept_at": now,
        "status": "dropped" if late else "open",
        "reason": reason,
        "trigger": _trigger_values(rule, row, anchor_iso, anchor, due),
        "notified": _recipients(level.level, row, holders or {}),
        "message": message,
    }


def _recipients(
    level: EscalationLevel, row: Any, holders: Mapping[str, tuple[str, ...]]
) -> tuple[Recipient, ...]:
    """``owner`` is the deal's owner; ``manager`` the owner's manager (people table, else deal).

    Any other role is every person holding it (``playbook people``), one
    recipient each; a role nobody holds stays unnamed.
    """
    people: list[Recipient] = []
    for who in level.notify:
        if who == "owner":
            people.append(Recipient("owner", row.owner))
        elif who == "manager":
            people.append(Recipient("manager", row.person_manager or row.manager))
        else:
            people += [Recipient(who, name) for name in holders.get(who, ())] or [
                Recipient(who, None)
            ]
    return tuple(people)


def _trigger_values(
    rule: PreparedRule, row: Any, anchor_iso: str, anchor: datetime, due: datetime
) -> dict[str, Any]:
    values = {**rule.trigger_values, "anchor": anchor_iso}
    if rule.kind == "date_passed":
        values["value"] = str(row.anchor)
    values["elapsed_days"] = round((due - anchor).total_seconds() / 86400, 2)
    if rule.when_fields:
        values["fields"] = {
            name: _plain(getattr(row, f"f_{name}", None)) for name in rule.when_fields
        }
    return values


def _reason(rule: PreparedRule, row: Any, anchor: datetime, due: datetime) -> str:
    """Why the escalation fired, in the rule's language, times on the playbook's clock."""
    trigger, lang = rule.rule.trigger, rule.lang
    since = shown_time(anchor, rule.calendar.timezone)
    duration = trigger.duration.words(lang) if trigger.duration else ""
    span = _span(anchor, due, lang)
    if trigger.kind == "in_stage":
        stage = rule.stage_name(row.stage)
        return say(
            "escalation.in_stage", lang, stage=stage, since=since, span=span, duration=duration
        )
    if trigger.kind == "since_last_activity":
        return say(
            "escalation.since_last_activity", lang, since=since, span=span, duration=duration
        )
    if trigger.kind == "condition":
        text = trigger.condition.text if trigger.condition else ""
        return say("escalation.condition", lang, condition=text, since=since, duration=duration)
    spec = rule.field_spec
    field = rule.playbook.label(spec.title if spec else None, lang, trigger.field or "")
    key = "escalation.date_passed_by" if duration else "escalation.date_passed"
    return say(key, lang, field=field, value=row.anchor, duration=duration)


def _span(start: datetime, end: datetime, lang: str) -> str:
    days = (end - start).total_seconds() / 86400
    if days >= 1:
        return say("escalation.span_days", lang, count=math.floor(days))
    return say("escalation.span_hours", lang, count=math.floor(days * 24))


def _plain(value: Any) -> Any:
    """A ``when`` field's value as JSON keeps it (dates and times in ISO 8601, times in UTC)."""
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)
