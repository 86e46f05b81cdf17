"""Deals as people read them: a deal's page, its history, tables of deals; in one language.

Times are shown on the clock of the deal's playbook (:func:`playbook.values.shown_time`:
``2026-10-10 09:30 +08:00``); JSON keeps UTC and is not made here. Field
values show enum values by their titles; ids stay what the store holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from playbook.i18n import join, say, spoken
from playbook.render.table import activity_word, display_width
from playbook.safetext import printable, web_link
from playbook.services import registered_playbook
from playbook.values import playbook_zone, shown_time
from playbook.values import zone as named_zone

if TYPE_CHECKING:
    from playbook.model import Playbook
    from playbook.store.audit import RefusalEntry
    from playbook.store.repository import DealStore, HistoryEntry, StoredDeal

__all__ = [
    "LIST_COLUMNS",
    "FieldRow",
    "Registered",
    "attempt_word",
    "deal_text",
    "field_rows",
    "list_row",
    "pad",
    "reassign_values",
    "refusal_reason",
    "render_history",
    "render_table",
]

LIST_COLUMNS = ("id", "stage", "owner", "manager", "region", "stage_entered_at", "version")
"""The columns of ``deals list`` (their ids are the CSV header; the table shows their titles)."""

_PEOPLE = ("owner", "team", "manager", "region")


class Registered:
    """The registered playbook of each (id, version) in the store, read once per version.

    Gives each deal its clock (the playbook's timezone; UTC for a version the
    store has no copy of) and the store's language when all its playbooks
    speak one.
    """

    def __init__(self, store: DealStore) -> None:
        self._store = store
        self._known: dict[tuple[str, int], Playbook | None] = {}

    def playbook(self, playbook_id: str, version: int | None = None) -> Playbook | None:
        """The version's model (the latest registered version when ``version`` is None)."""
        if version is None:
            versions = [v for pid, v in self._store.playbook_versions() if pid == playbook_id]
            if not versions:
                return None
            version = max(versions)
        key = (playbook_id, version)
        if key not in self._known:
            self._known[key] = registered_playbook(self._store, playbook_id, version)
        return self._known[key]

    def latest(self) -> list[Playbook]:
        """The latest registered version of each playbook in the store."""
        newest = dict(self._store.playbook_versions())  # ordered by (id, version): last wins
        found = (self.playbook(playbook_id, version) for playbook_id, version in newest.items())
        return [playbook for playbook in found if playbook is not None]

    def language(self) -> str:
        """The language the store's playbooks speak when they agree, else English."""
        spoken_by = {spoken(playbook.language) for playbook in self.latest()}
        return spoken_by.pop() if len(spoken_by) == 1 else "en"

    def common_zone(self) -> tzinfo:
        """The timezone the store's playbooks share, else UTC (times then show ``+00:00``)."""
        zones = {playbook.timezone for playbook in self.latest()}
        return named_zone(zones.pop()) if len(zones) == 1 else UTC

    def zone(self, playbook_id: str, version: int | None = None) -> tzinfo:
        """The timezone times of that playbook's deals are shown in."""
        found = self.playbook(playbook_id, version)
        return UTC if found is None else playbook_zone(found)

    def pinned(self, deal: StoredDeal) -> Playbook | None:
        """The playbook version ``deal`` is pinned to, as registered (None: not in the store)."""
        return self.playbook(deal.playbook_id, deal.playbook_version)

    def of(self, deal: StoredDeal) -> tzinfo:
        """The timezone of ``deal``'s pinned playbook version."""
        return self.zone(deal.playbook_id, deal.playbook_version)


def list_row(deal: StoredDeal, zone: tzinfo) -> dict[str, str]:
    """A row of ``deals list``: the columns of :data:`LIST_COLUMNS`, times in ``zone``."""
    data = deal.to_dict()
    row = {column: "" if data[column] is None else str(data[column]) for column in LIST_COLUMNS}
    row["id"] = deal.ref
    row["stage_entered_at"] = shown_time(deal.stage_entered_at, zone)
    return row


def deal_text(deal: StoredDeal, playbook: Playbook, lang: str) -> str:
    """A deal's page: who, where since when, and its fields by their titles, in ``lang``."""
    zone = playbook_zone(playbook)
    stage = playbook.stage(deal.stage)
    stage_name = playbook.label(stage.title if stage else None, lang, deal.stage)
    lines = [
        say(
            "cli.deals.heading",
            lang,
            ref=deal.ref,
            id=deal.id,
            playbook=f"{deal.playbook_id}@{deal.playbook_version}",
            version=deal.version,
        ),
        "  "
        + say(
            "cli.deals.stage",
            lang,
            stage=f"{stage_name} ({deal.stage})",
            since=shown_time(deal.stage_entered_at, zone),
        ),
    ]
    for role in _PEOPLE:
        value = getattr(deal, role)
        if value:
            label = say(f"people.{role}", lang)
            lines.append(say("cli.deals.line", lang, label=label, value=value))
    for row in field_rows(deal.fields, playbook, lang):
        lines.append(say("cli.deals.line", lang, label=row.title, value=row.shown))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class FieldRow:
    """A deal field as a page shows it: its title, its value in words, and a link if it is one.

    ``link`` is set only for a ``format: url`` field holding an http(s) link
    (:func:`playbook.safetext.web_link`): pages show it as a link (the web
    workspace as ``<a href>``, the terminal as the address itself).
    """

    id: str
    title: str
    shown: str
    link: str | None = None


def field_rows(fields: Mapping[str, Any], playbook: Playbook, lang: str) -> list[FieldRow]:
    """The rows of a deal's fields in ``lang``: titles, enum values by title, links."""
    rows = []
    for name, value in fields.items():
        spec = playbook.fields.get(name)
        title = playbook.label(spec.title if spec else None, lang, name)
        shown = playbook.value_label(name, value, lang)
        is_link = spec is not None and spec.format == "url" and isinstance(value, str)
        rows.append(FieldRow(name, title, shown, web_link(value) if is_link else None))
    return rows


def render_history(
    entries: Sequence[HistoryEntry],
    zone: tzinfo = UTC,
    refused: Sequence[RefusalEntry] = (),
    lang: str = "en",
) -> str:
    """A deal's history as text in ``lang``, one line per version step, times in ``zone``.

    Refused attempts (``refused``) stand between the steps at their time.
    """
    if not entries and not refused:
        return say("cli.history.none", lang)
    lines = [say("cli.history.title", lang)]
    names = [entry.actor for entry in entries] + [item.actor for item in refused]
    actors = max(12, *(display_width(name) for name in names))
    pending = sorted(refused, key=lambda item: item.at)
    for entry in entries:
        while pending and pending[0].at < entry.at:
            lines.append(_refusal_line(pending.pop(0), zone, actors, lang))
        at = shown_time(entry.at, zone)
        line = f"  v{entry.deal_version:<4} {at}  {pad(entry.actor, actors)} {_what(entry, lang)}"
        lines.append(printable(line))
    lines += [_refusal_line(item, zone, actors, lang) for item in pending]
    return "\n".join(lines)


def _what(entry: HistoryEntry, lang: str) -> str:
    if entry.kind == "stage_change":
        move = f"{entry.from_stage} → {entry.stage}" if entry.from_stage else entry.stage
        imported = say("cli.history.imported", lang) if entry.source == "import" else ""
        reason = entry.override_reason
        extra = say("cli.history.override", lang, reason=reason) if reason else ""
        return f"{move}{imported}{extra}"
    if entry.kind == "action":
        return say("cli.history.action", lang, action=entry.action_id)
    if entry.kind == "reassign":
        what = say("cli.history_reassigned", lang, **reassign_values(entry.changes or {}, lang))
        return what + (f": {entry.note}" if entry.note else "")
    if entry.kind == "approval" and entry.changes is not None:
        event = say(f"cli.approvals.event.{entry.changes['event']}", lang)
        what = say("cli.history.approval", lang, approval=entry.changes["approval"], event=event)
        return what + (f" ({entry.note})" if entry.note else "")
    if entry.kind == "fields" and isinstance(entry.evidence, dict):
        values = entry.evidence.get("set", {})
        pairs = join([f"{key}={value}" for key, value in values.items()], lang, last=None)
        what = say("cli.history.fields", lang, values=pairs)
        return what + (f" ({entry.note})" if entry.note else "")
    kind = activity_word(entry.kind, lang)
    return kind + (f": {entry.note}" if entry.note else "")


def reassign_values(changes: Mapping[str, Any], lang: str | None) -> dict[str, str]:
    """A reassignment's owner and team before and after, for its sentences (nobody when unset)."""
    nobody = say("cli.nobody", lang)
    owner, team = changes.get("owner") or [None, None], changes.get("team") or [None, None]
    return {
        "from_owner": owner[0] or nobody,
        "to_owner": owner[1] or nobody,
        "from_team": team[0] or nobody,
        "to_team": team[1] or nobody,
    }


def attempt_word(action: str, lang: str) -> str:
    """A refused attempt's kind (``advance``, ``ack``...) in ``lang``."""
    known = ("advance", "override", "complete", "playbook", "ack", "snooze", "migrate")
    if action in known or action.startswith("approval_"):
        return say(f"cli.attempt.{action}", lang)
    return action


def refusal_reason(item: RefusalEntry, lang: str) -> str:
    """Why an attempt was refused, in ``lang`` when it was recorded in that language too."""
    messages = item.details.get("messages")
    if isinstance(messages, dict) and isinstance(messages.get(lang), str):
        return str(messages[lang])
    return item.reason


def _refusal_line(item: RefusalEntry, zone: tzinfo, actors: int, lang: str) -> str:
    what = say("cli.history.refused", lang, action=attempt_word(item.action, lang))
    what += f" {item.subject}" if item.subject else ""
    at = shown_time(item.at, zone)
    reason = refusal_reason(item, lang)
    line = f"  {'--':<5} {at}  {pad(item.actor, actors)} {what}: {item.code} {reason}"
    return printable(line)


def render_table(rows: Sequence[dict[str, str]], lang: str | None = None) -> str:
    """Rows as aligned columns; wide (CJK) characters count as two columns on screen.

    The header shows each column's title in ``lang`` (``cli.column.*``; the id
    in capitals without ``lang``). Control characters and terminal escape
    sequences in values are dropped.
    """
    rows = [{key: printable(value) for key, value in row.items()} for row in rows]
    columns = list(rows[0])
    heads = {c: _head(c, lang) for c in columns}
    widths = {
        c: max(display_width(heads[c]), *(display_width(row[c]) for row in rows)) for c in columns
    }
    lines = ["  ".join(pad(heads[c], widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(pad(row[c], widths[c]) for c in columns).rstrip() for row in rows]
    return "\n".join(lines)


def _head(column: str, lang: str | None) -> str:
    if lang is None or column not in LIST_COLUMNS:
        return column.upper()
    return say(f"cli.column.{column}", lang).upper()


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns."""
    return text + " " * (width - display_width(text))
