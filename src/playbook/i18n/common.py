"""Words every area shares: list separators, time units, outcomes, "anyone"."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # Chinese lists take the enumeration comma 、 throughout ("A、B、C"), and 或 before
    # the last of alternatives ("A、B或C").
    "list.comma": {"en": ", ", "zh": "、"},
    "list.and": {"en": " and ", "zh": "、"},
    "list.or": {"en": " or ", "zh": "或"},
    "list.clause": {"en": "; ", "zh": "，"},
    "common.anyone": {"en": "anyone", "zh": "任何人"},
    "outcome.won": {"en": "won", "zh": "赢单"},
    "outcome.lost": {"en": "lost", "zh": "输单"},
    "unit.days": {"en": "days", "zh": "天"},
    "unit.working_days": {"en": "working days", "zh": "个工作日"},
    "unit.hours": {"en": "hours", "zh": "小时"},
    "unit.working_hours": {"en": "working hours", "zh": "个工作小时"},
}
