"""People: who they are (name, email), where they sit (team, manager), what roles they hold.

A person's ``roles`` are what ``playbook serve`` trusts: a request acts as the
person its token belongs to, with that person's roles (narrowed by the
token's scopes), never with anything the request says about itself. Names are
the keys deals use for ``owner`` and ``manager``. Deal imports fill ``team``,
``manager`` and ``region`` for owners; these functions manage the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from playbook.diagnostics import did_you_mean
from playbook.errors import PersonError, PersonNotFoundError
from playbook.i18n import LANGUAGES, Message
from playbook.store.db import Database
from playbook.store.models import Person
from playbook.values import require_now

__all__ = [
    "PERSON_FIELDS",
    "PersonRecord",
    "add_person",
    "get_person",
    "import_people",
    "list_people",
    "person_from_row",
    "person_record",
    "remove_person",
    "set_person",
]

PERSON_FIELDS: tuple[str, ...] = ("name", "email", "team", "manager", "region", "roles", "language")
"""The columns of a person, in the order files and listings show them."""

_TEXT_LIMIT = 200
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{1,63}$")
_ROLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ROLE_SEPARATORS = re.compile(r"[\s,;|]+")


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A person as stored; ``roles`` sorted, ``language`` one of :data:`LANGUAGES` or None."""

    name: str
    email: str | None = None
    team: str | None = None
    manager: str | None = None
    region: str | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)
    language: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, ``roles`` as a list."""
        return {
            "name": self.name,
            "email": self.email,
            "team": self.team,
            "manager": self.manager,
            "region": self.region,
            "roles": list(self.roles),
            "language": self.language,
        }


def person_record(values: Mapping[str, Any], *, where: str = "") -> PersonRecord:
    """A checked person from loose values (a CLI, a file row): trims text, splits roles.

    Raises :class:`~playbook.errors.PersonError` naming the field, for an
    unknown field, a missing name, a malformed email, role id or language.
    """
    unknown = sorted(set(values) - set(PERSON_FIELDS))
    if unknown:
        raise PersonError(
            Message("error.people.unknown_field", where=where, field=unknown[0]),
            hint=did_you_mean(unknown[0], PERSON_FIELDS)
            or Message("error.people.fields", names=list(PERSON_FIELDS)),
        )
    text = {key: _text(values.get(key), key, where) for key in PERSON_FIELDS if key != "roles"}
    name = text["name"]
    if name is None:
        raise PersonError(
            Message("error.people.needs_name", where=where),
            hint=Message("error.people.name_is_owner_id"),
        )
    return _checked(
        PersonRecord(
            name=name,
            email=text["email"],
            team=text["team"],
            manager=text["manager"],
            region=text["region"],
            roles=_roles(values.get("roles"), where),
            language=text["language"],
        ),
        where,
    )


def add_person(database: Database, person: PersonRecord, *, now: datetime) -> PersonRecord:
    """Add a new person; refuses a name or email already on record."""
    at = require_now(now)
    with database.transaction(write=True) as session:
        if session.get(Person, person.name) is not None:
            raise PersonError(
                Message("error.people.already_on_record", name=person.name),
                hint=Message("error.people.change_with_set"),
            )
        _email_free(session, person)
        session.add(_row(person, at))
    return person


def set_person(
    database: Database, name: str, changes: Mapping[str, Any], *, now: datetime
) -> PersonRecord:
    """Change some fields of a person (None clears one); returns the person as now stored."""
    if "name" in changes:
        raise PersonError(
            Message("error.people.name_fixed"), hint=Message("error.people.name_is_owner_key")
        )
    at = require_now(now)
    with database.transaction(write=True) as session:
        row = _find(session, name)
        merged = {**person_from_row(row).to_dict(), **changes}
        person = person_record(merged)
        _email_free(session, person)
        _fill(row, person, at)
    return person


def remove_person(database: Database, name: str) -> None:
    """Remove a person and their API tokens; deals keep the name as their owner."""
    with database.transaction(write=True) as session:
        session.delete(_find(session, name))


def get_person(database: Database, name: str) -> PersonRecord:
    """The person named ``name``; :class:`~playbook.errors.PersonNotFoundError` if none."""
    with database.transaction() as session:
        return person_from_row(_find(session, name))


def list_people(
    database: Database, *, team: str | None = None, role: str | None = None
) -> list[PersonRecord]:
    """Everyone on record (in one team, holding one role), by name."""
    query = select(Person).order_by(Person.name)
    if team is not None:
        query = query.where(Person.team == team)
    with database.transaction() as session:
        people = [person_from_row(row) for row in session.scalars(query)]
    return [person for person in people if role is None or role in person.roles]


def import_people(
    database: Database, people: Sequence[PersonRecord], *, now: datetime
) -> tuple[int, int]:
    """Add or replace every person given, in one transaction; (added, updated).

    All or nothing: a duplicate name in the input or an email held by someone
    else refuses the whole import.
    """
    _no_duplicates(people)
    at = require_now(now)
    added = updated = 0
    with database.transaction(write=True) as session:
        _emails_free(session, people)
        for person in people:
            row = session.get(Person, person.name)
            if row is None:
                session.add(_row(person, at))
                added += 1
            else:
                _fill(row, person, at)
                updated += 1
    return added, updated


# --- helpers ------------------------------------------------------------------------------


def _text(value: Any, key: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise PersonError(
            Message("error.people.not_text", where=where, key=key, kind=type(value).__name__)
        )
    text = str(value).strip()
    if len(text) > _TEXT_LIMIT:
        raise PersonError(Message("error.people.too_long", where=where, key=key, limit=_TEXT_LIMIT))
    return text or None


def _roles(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items: Iterable[Any] = _ROLE_SEPARATORS.split(value) if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise PersonError(Message("error.people.roles_not_list", where=where))
    roles = {str(item).strip() for item in items if str(item).strip()}
    for role in sorted(roles):
        if not _ROLE.match(role):
            raise PersonError(
                Message("error.people.not_role_id", where=where, role=role),
                hint=Message("error.people.role_id_form"),
            )
    return tuple(sorted(roles))


def _checked(person: PersonRecord, where: str) -> PersonRecord:
    if person.email is not None and not _EMAIL.match(person.email):
        raise PersonError(Message("error.people.not_email", where=where, email=person.email))
    if person.language is not None and person.language not in LANGUAGES:
        raise PersonError(
            Message("error.people.unknown_language", where=where, language=person.language),
            hint=Message("error.repository.use_one", names=LANGUAGES),
        )
    if person.manager == person.name:
        raise PersonError(Message("error.people.own_manager", where=where, name=person.name))
    return replace(person, email=person.email.lower() if person.email else None)


def _no_duplicates(people: Sequence[PersonRecord]) -> None:
    seen: set[str] = set()
    for person in people:
        if person.name in seen:
            raise PersonError(
                Message("error.people.appears_twice", name=person.name),
                hint=Message("error.people.one_row_each"),
            )
        seen.add(person.name)


def _emails_free(session: Session, people: Sequence[PersonRecord]) -> None:
    """Refuse an email given twice, or held by someone the import does not change."""
    names = {person.name for person in people}
    wanted: dict[str, str] = {}
    for person in people:
        if person.email is None:
            continue
        if person.email in wanted:
            raise PersonError(
                Message(
                    "error.people.email_given_twice",
                    email=person.email,
                    first=wanted[person.email],
                    second=person.name,
                )
            )
        wanted[person.email] = person.name
    if not wanted:
        return
    held = session.execute(select(Person.name, Person.email).where(Person.email.in_(wanted)))
    for holder, email in held:
        if holder not in names and wanted.get(email or "") != holder:
            raise PersonError(Message("error.people.email_taken", email=email, holder=holder))


def _email_free(session: Session, person: PersonRecord) -> None:
    if person.email is None:
        return
    holder = session.scalar(
        select(Person.name).where(Person.email == person.email, Person.name != person.name)
    )
    if holder is not None:
        raise PersonError(Message("error.people.email_taken", email=person.email, holder=holder))


def _find(session: Session, name: str) -> Person:
    row = session.get(Person, name.strip())
    if row is None:
        raise PersonNotFoundError(
            Message("error.people.not_found", name=name),
            hint=Message("error.people.list_shows_everyone"),
            details={"person": name},
        )
    return row


def _row(person: PersonRecord, at: datetime) -> Person:
    row = Person(name=person.name)
    _fill(row, person, at)
    return row


def _fill(row: Person, person: PersonRecord, at: datetime) -> None:
    row.email = person.email
    row.team = person.team
    row.manager = person.manager
    row.region = person.region
    row.roles = list(person.roles)
    row.language = person.language
    row.updated_at = at.astimezone(UTC)


def person_from_row(row: Person) -> PersonRecord:
    """The record of a ``people`` row."""
    return PersonRecord(
        name=row.name,
        email=row.email,
        team=row.team,
        manager=row.manager,
        region=row.region,
        roles=tuple(sorted(row.roles or ())),
        language=row.language,
    )
