"""How escalation times are written: ISO 8601 in UTC, SQLite's stored text, local minutes.

Escalation times are aware datetimes in UTC everywhere in the package; they
are written in three forms, all made here so that the forms never disagree:

* :func:`utc_iso` for JSON (reports, notifications, warnings; the one of :mod:`playbook.values`);
* :func:`sqlite_time` for the text a SQLite column stores (times inserted in a
  JSON document must compare equal, as text, to the ones SQLAlchemy wrote);
* :func:`local_minutes` for people (reasons), in the playbook's timezone.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from playbook.values import utc_iso

__all__ = ["local_minutes", "sqlite_time", "utc_iso"]


def sqlite_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC: what SQLAlchemy's SQLite ``DATETIME`` writes."""
    return _aware(moment).astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def local_minutes(moment: datetime, timezone: tzinfo) -> str:
    """``moment`` in ``timezone``, to the minute, with its offset: ``2026-03-02T10:00+08:00``."""
    return _aware(moment).astimezone(timezone).isoformat(timespec="minutes")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
