"""Reading one row of an activity export: its key, how it finds its deal, and its cells.

Cells are read in their NFKC form, so full-width digits and punctuation
(``１４：３０``, ``３分２０秒``) read like plain ones. A duration is whole seconds
(``200``), ``m:ss`` or ``h:mm:ss`` (``3:20``, ``1:02:03``), or Chinese
(``3分20秒``, ``1小时2分``, ``45秒``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from playbook.store.activity_mapping import ActivityMapping, DealMatcher, nfkc

__all__ = ["MAX_KEY", "RawActivity", "match_value", "read_duration", "read_raw"]

MAX_KEY = 200
"""The longest key stored as it is; a longer source id is stored as its hash."""

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})$")
_WORDS = re.compile(r"^(?:(\d+)\s*(?:小时|时))?\s*(?:(\d+)\s*分钟?)?\s*(?:(\d+)\s*秒)?$")


@dataclass(frozen=True, slots=True)
class RawActivity:
    """A row as the mapping reads it, before its deal is known."""

    line: int
    key: str
    keys: tuple[tuple[DealMatcher, str], ...]
    """Each deal matcher with the row's cell for it (empty cells left out)."""
    cells: Mapping[str, str]
    """The NFKC text of every mapped column, by the mapping's column name."""


def read_raw(
    mapping: ActivityMapping,
    resolved: Mapping[str, str],
    header: Sequence[str],
    line: int,
    values: Mapping[str, Any],
) -> RawActivity:
    """The row at ``line``: its mapped cells, its deal keys and its activity key."""
    cells = {name: _cell(values.get(actual)) for name, actual in resolved.items()}
    keys = tuple((m, cells[m.column]) for m in mapping.deal if cells[m.column])
    own = cells.get(mapping.id) if mapping.id is not None else None
    return RawActivity(line, _key(own, header, values), keys, cells)


def _cell(value: Any) -> str:
    return "" if value is None else nfkc(str(value))


def _key(own: str | None, header: Sequence[str], values: Mapping[str, Any]) -> str:
    """The source's own id, or a hash of every cell of the row (in the file's column order)."""
    if own and len(own) <= MAX_KEY:
        return own
    text = own or "\x1f".join(f"{name}\x1e{values.get(name, '')}" for name in header)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def match_value(text: str, how: str) -> str:
    """``text`` as it is compared with a deal's field: a phone's digits, or folded text.

    A phone keeps its digits only, without a leading ``+86``/``0086``
    country code; text is NFKC, stripped and case-folded.
    """
    if how == "phone":
        digits = "".join(ch for ch in nfkc(text) if ch.isdigit())
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        return digits
    return nfkc(text).casefold()


def read_duration(text: str) -> int:
    """``text`` as whole seconds; ValueError when it is not a duration."""
    plain = nfkc(text).replace(" ", "")
    if plain.isdigit():
        return int(plain)
    clock = _CLOCK.match(plain)
    if clock is not None:
        hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        return hours * 3600 + minutes * 60 + seconds
    words = _WORDS.match(plain)
    if words is not None and any(words.groups()):
        hours, minutes, seconds = (int(part or 0) for part in words.groups())
        return hours * 3600 + minutes * 60 + seconds
    raise ValueError(text)
