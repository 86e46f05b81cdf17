"""``playbook people`` and ``playbook tokens``: who may act, with which roles, with which token.

A token's secret is printed once, when it is made; the store keeps only its
SHA-256. Exit codes: 0 done, 2 bad input (an unknown person, a role the person
does not hold, a bad file), 3 the database cannot be used.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook.cli.common import (
    db_option,
    format_option,
    lang_option,
    open_database,
    parse_now,
    store_lang,
)
from playbook.i18n import LANGUAGES, say

if TYPE_CHECKING:
    from playbook.store.db import Database
    from playbook.store.people import PersonRecord

__all__ = ["people", "tokens"]

_MAX_DAYS = 3650


def _person_options(command: Any) -> Any:
    """The optional fields of a person, shared by ``add`` and ``set``."""
    for decorator in reversed(
        [
            click.option("--email", help="Email address (unique)."),
            click.option("--team", help="Team."),
            click.option("--manager", help="The manager's name."),
            click.option("--region", help="Region."),
            click.option("--roles", metavar="ROLE[,ROLE]", help="The roles the person holds."),
            click.option("--language", type=click.Choice(LANGUAGES), help="Preferred language."),
        ]
    ):
        command = decorator(command)
    return command


@click.group()
def people() -> None:
    """The people who act on deals and the roles they hold."""


@people.command("add")
@click.argument("name")
@_person_options
@format_option
@lang_option
@db_option
def add(
    name: str, output_format: str, lang: str | None, url: str | None, **values: str | None
) -> int:
    """Add a person."""
    from playbook.store.people import add_person, person_record

    person = person_record({"name": name, **values})
    with open_database(url) as database:
        add_person(database, person, now=parse_now(None))
        language = _lang(lang, database)
    _show([person], output_format, language)
    return 0


@people.command("set")
@click.argument("name")
@_person_options
@click.option("--clear", multiple=True, metavar="FIELD", help="Clear a field (repeatable).")
@format_option
@lang_option
@db_option
def set_command(
    name: str,
    clear: tuple[str, ...],
    output_format: str,
    lang: str | None,
    url: str | None,
    **values: str | None,
) -> int:
    """Change some fields of a person (only the options given change)."""
    from playbook.store.people import set_person

    changes: dict[str, Any] = {key: value for key, value in values.items() if value is not None}
    changes.update(dict.fromkeys(clear))
    with open_database(url) as database:
        person = set_person(database, name, changes, now=parse_now(None))
        language = _lang(lang, database)
    _show([person], output_format, language)
    return 0


@people.command("remove")
@click.argument("name")
@lang_option
@db_option
def remove(name: str, lang: str | None, url: str | None) -> int:
    """Remove a person and their API tokens (their deals keep the name as owner)."""
    from playbook.store.people import remove_person

    with open_database(url) as database:
        remove_person(database, name)
        language = _lang(lang, database)
    click.echo(say("cli.people.removed", language, name=name))
    return 0


@people.command("list")
@click.option("--team", help="Only this team.")
@click.option("--role", help="Only people holding this role.")
@format_option
@lang_option
@db_option
def list_command(
    team: str | None, role: str | None, output_format: str, lang: str | None, url: str | None
) -> int:
    """List the people on record, by name."""
    from playbook.store.people import list_people

    with open_database(url) as database:
        found = list_people(database, team=team, role=role)
        language = _lang(lang, database)
    _show(found, output_format, language)
    return 0


@people.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@lang_option
@db_option
def import_command(file: Path, lang: str | None, url: str | None) -> int:
    """Add or replace the people of a CSV, JSON, JSON Lines or YAML file (all or nothing)."""
    from playbook.store.people import import_people
    from playbook.store.people_file import read_people

    found = read_people(file)
    with open_database(url) as database:
        added, updated = import_people(database, found, now=parse_now(None))
        language = _lang(lang, database)
    click.echo(say("cli.people.imported", language, added=added, updated=updated))
    return 0


def _show(found: list[PersonRecord], output_format: str, lang: str) -> None:
    if output_format == "json":
        data = [person.to_dict() for person in found]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo(say("cli.people.none", lang))
    for person in found:
        where = say("list.comma", lang).join(
            say(f"cli.people.{key}", lang, value=value)
            for key, value in (("team", person.team), ("manager", person.manager))
            if value
        )
        roles = ",".join(person.roles) or say("cli.people.no_roles", lang)
        email = f" <{person.email}>" if person.email else ""
        click.echo(f"{person.name}{email}  [{roles}]" + (f"  {where}" if where else ""))


# --- tokens -------------------------------------------------------------------------------


@click.group()
def tokens() -> None:
    """API tokens for `playbook serve`: made, listed and revoked here, shown once."""


@tokens.command("create")
@click.argument("person")
@click.option(
    "--expires",
    "days",
    type=click.IntRange(1, _MAX_DAYS),
    metavar="DAYS",
    help="Expire after this many days (default: never).",
)
@click.option(
    "--scope", "scopes", multiple=True, metavar="ROLE", help="Only this role (repeatable)."
)
@click.option("--now", metavar="TIME", help="When it is made, ISO 8601 (default: the clock).")
@format_option
@lang_option
@db_option
def create(
    person: str,
    days: int | None,
    scopes: tuple[str, ...],
    now: str | None,
    output_format: str,
    lang: str | None,
    url: str | None,
) -> int:
    """Make an API token for PERSON and print it once (it cannot be shown again)."""
    from playbook.store.tokens import create_token

    expires = timedelta(days=days) if days is not None else None
    made = parse_now(now)
    with open_database(url) as database:
        secret, info = create_token(database, person, now=made, expires_in=expires, scopes=scopes)
        language = _lang(lang, database)
    if output_format == "json":
        click.echo(json.dumps({"token": secret, **info.to_dict(made)}, indent=2))
        return 0
    click.echo(secret)
    click.echo(say("cli.tokens.shown_once", language, id=info.id, person=info.person), err=True)
    return 0


@tokens.command("list")
@click.option("--person", help="Only this person's tokens.")
@format_option
@lang_option
@db_option
def list_tokens_command(
    person: str | None, output_format: str, lang: str | None, url: str | None
) -> int:
    """List tokens (never their secrets): id, person, first characters, scopes, status."""
    from playbook.store.tokens import list_tokens

    now = parse_now(None)
    with open_database(url) as database:
        found = list_tokens(database, person=person)
        language = _lang(lang, database)
    if output_format == "json":
        click.echo(json.dumps([info.to_dict(now) for info in found], indent=2))
        return 0
    if not found:
        click.echo(say("cli.tokens.none", language))
    for info in found:
        scopes = ",".join(info.scopes) or say("cli.tokens.all_roles", language)
        until = _day(info.expires_at) if info.expires_at else say("cli.tokens.never", language)
        line = say(
            "cli.tokens.line",
            language,
            id=f"{info.id:>5}",
            person=info.person,
            prefix=info.prefix,
            scopes=scopes,
            status=say(f"cli.tokens.status.{info.status(now)}", language),
            until=until,
        )
        click.echo(line)
    return 0


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**63 - 1))
@lang_option
@db_option
def revoke(token_id: int, lang: str | None, url: str | None) -> int:
    """Revoke a token: requests with it are refused from now on."""
    from playbook.store.tokens import revoke_token

    with open_database(url) as database:
        info = revoke_token(database, token_id, now=parse_now(None))
        language = _lang(lang, database)
    click.echo(say("cli.tokens.revoked", language, id=info.id, person=info.person))
    return 0


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _lang(lang: str | None, database: Database) -> str:
    """The command's language: ``--lang``, else that of the store's playbooks, else English."""
    from playbook.store.repository import DealStore

    return store_lang(lang, DealStore(database))
