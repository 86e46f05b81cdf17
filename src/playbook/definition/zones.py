"""Timezones by name: the playbook's ``timezone`` and any zone a user names.

A zone is looked up by its name, never opened as a path, and checked by its
shape first: the zone database's folders (``Asia``) and over-long names raised
``OSError`` when they were opened as files.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from playbook.definition.report import Reporter
from playbook.i18n import Message

__all__ = ["timezone_of", "zone_named"]


def timezone_of(data: Mapping[str, Any], reporter: Reporter) -> tzinfo:
    """The playbook's ``timezone`` (UTC when absent); PB204 and UTC for an unknown name."""
    name = data.get("timezone", "UTC")
    # Looked up as a name, never opened as a path: 'Asia' is a directory of the zone
    # database and a long name is too long for a file name; both raised OSError.
    zone = zone_named(name) if isinstance(name, str) else None
    if zone is not None:
        return zone
    reporter.report(
        ("timezone",),
        "PB204",
        Message("diag.build.unknown_timezone", name=name),
        hint=Message("diag.build.use_iana_name_such"),
    )
    return zoneinfo.ZoneInfo("UTC")


_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


@functools.lru_cache(maxsize=64)
def zone_named(name: str) -> tzinfo | None:
    """The IANA zone called ``name``, or None: a name, never a path (``Asia`` is a folder).

    Checked by its shape first (at most 64 characters, no ``..``), then looked
    up; listing every zone name (``available_timezones``) costs 30 ms a process.
    """
    if len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, OSError, ValueError):
        return None
