"""Open required actions as tasks: what a task board (Trello, Asana) or a service hands out.

Every open deal's required actions that are not done yet (optional ones left
out, ``when`` conditions applied by the engine of the deal's pinned playbook
version), each with its role, the person who holds it for the deal, its due
time on the playbook's calendar and a link to the deal when a base URL is known.

**Who does it.** The deal's owner when the people table gives the owner the
action's role; else the owner's manager (the people table's, else the
deal's) when they hold it; else the owner when the people table does not
know the owner (a store without people assigns every action to the owner);
else the one person holding the role, when exactly one does. Otherwise the
task is unassigned (``person`` is None): a role held by several people, or by
nobody, is for the team to hand out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from playbook.model import Playbook, RequiredAction
from playbook.runtime.engine import Engine
from playbook.services import deal_state, registered_playbook
from playbook.store.people import PersonRecord, list_people
from playbook.store.repository import DealStore, StoredDeal
from playbook.values import require_now, shown_time, zone

__all__ = ["OpenTask", "deal_link", "open_tasks"]


@dataclass(frozen=True, slots=True)
class OpenTask:
    """One required action to do: on which deal, by whom, by when."""

    deal: str
    deal_id: int
    playbook: str
    stage: str
    stage_title: str
    action: str
    title: str
    role: str
    role_title: str
    person: str | None
    email: str | None
    due: datetime | None
    overdue: bool
    timezone: str
    link: str | None

    def due_text(self) -> str:
        """The due time on the playbook's clock (``2026-11-23 18:00 +08:00``), or empty."""
        return shown_time(self.due, zone(self.timezone), empty="") if self.due else ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``due`` in ISO 8601 with the playbook's offset, ``due_utc`` in UTC."""
        local = self.due.astimezone(zone(self.timezone)) if self.due else None
        return {
            "deal": self.deal,
            "deal_id": self.deal_id,
            "playbook": self.playbook,
            "stage": self.stage,
            "stage_title": self.stage_title,
            "action": self.action,
            "title": self.title,
            "role": self.role,
            "role_title": self.role_title,
            "person": self.person,
            "email": self.email,
            "due": local.isoformat() if local else None,
            "due_utc": self.due.isoformat() if self.due else None,
            "overdue": self.overdue,
            "timezone": self.timezone,
            "link": self.link,
        }


def deal_link(base_url: str | None, deal: StoredDeal) -> str | None:
    """``BASE/api/v1/deals/REF`` (the deal as the service serves it), or None without a base."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/api/v1/deals/{quote(deal.ref, safe='')}"


def open_tasks(
    store: DealStore,
    *,
    now: datetime,
    lang: str | None = None,
    base_url: str | None = None,
    playbook_id: str | None = None,
    owner: str | None = None,
) -> list[OpenTask]:
    """Every open required action of the store's open deals at ``now``, earliest due first.

    Titles are in ``lang`` (else each playbook's language); actions without a
    due time come last. ``playbook_id`` and ``owner`` narrow the deals.
    """
    at = require_now(now)
    people = {person.name: person for person in list_people(store.database)}
    holders: dict[str, list[PersonRecord]] = {}
    for person in people.values():
        for role in person.roles:
            holders.setdefault(role, []).append(person)
    tasks: list[OpenTask] = []
    engines: dict[tuple[str, int], tuple[Playbook, Engine] | None] = {}
    for deal in store.list_deals(playbook_id=playbook_id, owner=owner):
        key = (deal.playbook_id, deal.playbook_version)
        if key not in engines:
            pinned = registered_playbook(store, *key)
            engines[key] = None if pinned is None else (pinned, Engine(pinned))
        found = engines[key]
        if found is not None:
            tasks += _deal_tasks(deal, *found, at, lang, base_url, people, holders)
    tasks.sort(key=lambda task: (task.due is None, task.due or at, task.deal, task.action))
    return tasks


def _deal_tasks(
    deal: StoredDeal,
    playbook: Playbook,
    engine: Engine,
    now: datetime,
    lang: str | None,
    base_url: str | None,
    people: Mapping[str, PersonRecord],
    holders: Mapping[str, Sequence[PersonRecord]],
) -> list[OpenTask]:
    stage = playbook.stage(deal.stage)
    if stage is None or stage.is_closed:
        return []
    words = lang or playbook.language
    steps = engine.next_steps(deal_state(deal, playbook), now=max(now, deal.stage_entered_at))
    out = []
    for item in steps.open_actions:
        if item.action.optional:
            continue
        role = item.action.roles[0]
        person = _person(deal, item.action, people, holders)
        out.append(
            OpenTask(
                deal=deal.ref,
                deal_id=deal.id,
                playbook=playbook.id,
                stage=stage.id,
                stage_title=playbook.label(stage.title, words, fallback=stage.id),
                action=item.action.id,
                title=item.titles.get(words) or item.titles.get("en") or item.action.id,
                role=role,
                role_title=_role_title(playbook, role, words),
                person=None if person is None else person.name,
                email=None if person is None else person.email,
                due=item.due,
                overdue=item.overdue,
                timezone=playbook.timezone,
                link=deal_link(base_url, deal),
            )
        )
    return out


def _role_title(playbook: Playbook, role: str, lang: str) -> str:
    found = playbook.roles.get(role)
    return playbook.label(found.title, lang, fallback=role) if found is not None else role


def _person(
    deal: StoredDeal,
    action: RequiredAction,
    people: Mapping[str, PersonRecord],
    holders: Mapping[str, Sequence[PersonRecord]],
) -> PersonRecord | None:
    """The owner, the owner's manager, an owner not on record, or a role's only holder."""
    owner = people.get(deal.owner or "")
    manager_name = (owner.manager if owner is not None else None) or deal.manager
    manager = people.get(manager_name or "")
    for candidate in (owner, manager):
        if candidate is not None and set(action.roles) & set(candidate.roles):
            return candidate
    if owner is None and deal.owner:
        return PersonRecord(deal.owner)
    for role in action.roles:
        if len(holders.get(role, ())) == 1:
            return holders[role][0]
    return None
