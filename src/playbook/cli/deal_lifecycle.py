"""``playbook deals reassign`` and ``playbook deals delete``: who owns a deal, and removing one.

Both record who acted (``--actor``/``--as``), when (``--now`` or the clock) and
why (``--reason``) in the store; see :mod:`playbook.store.lifecycle`.
Exit codes: 0 done, 2 bad input or no such deal, 3 database unavailable.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

from playbook.cli.common import (
    db_option,
    format_option,
    lang_option,
    now_option,
    open_store,
    parse_actor,
    parse_now,
    store_lang,
)
from playbook.i18n import say
from playbook.render.deals import reassign_values

if TYPE_CHECKING:
    from playbook.values import Actor

__all__ = ["delete", "reassign"]


def _who(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options both commands share: who (``--as``, ``--actor``), language, format, db, now."""
    for option in (
        click.option(
            "--as", "roles", metavar="ROLE[,ROLE]", required=True, help="The actor's role(s)."
        ),
        click.option(
            "--actor",
            "actor_id",
            metavar="NAME",
            help="Who acts (default: $PLAYBOOK_ACTOR, else the login name).",
        ),
        lang_option,
        format_option,
        db_option,
        now_option("The time to record, ISO 8601 (default: the clock). For tests and replays."),
    ):
        command = option(command)
    return command


@click.command("reassign")
@click.argument("deal_id")
@click.option("--owner", required=True, help="The new owner.")
@click.option("--team", help="The new team (default: the owner's team in the people table).")
@click.option("--reason", help="Why (recorded in the deal's history).")
@_who
def reassign(deal_id: str, owner: str, team: str | None, reason: str | None, **who: Any) -> int:
    """Give a deal to another owner (and team); recorded in the deal's history."""
    actor = _actor(who)
    with open_store(who["url"]) as store:
        done = store.reassign(
            deal_id, owner=owner, team=team, reason=reason, actor=actor, now=parse_now(who["now"])
        )
        lang = store_lang(who["lang"], store)
    if who["output_format"] == "json":
        click.echo(json.dumps(done.to_dict(), ensure_ascii=False, indent=2))
        return 0
    changes = {"owner": [done.from_owner, done.to_owner], "team": [done.from_team, done.to_team]}
    values = reassign_values(changes, lang)
    click.echo(say("cli.reassigned", lang, deal=done.deal_ref, version=done.deal_version, **values))
    return 0


@click.command("delete")
@click.argument("deal_id")
@click.option("--reason", required=True, help="Why the deal is deleted (kept with the record).")
@_who
def delete(deal_id: str, reason: str, **who: Any) -> int:
    """Delete a deal and its history; who deleted it, when and why stay on record."""
    actor = _actor(who)
    with open_store(who["url"]) as store:
        gone = store.delete(deal_id, reason=reason, actor=actor, now=parse_now(who["now"]))
        lang = store_lang(who["lang"], store)
    if who["output_format"] == "json":
        click.echo(json.dumps(gone.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(say("cli.deleted", lang, deal=gone.ref, actor=gone.actor, reason=gone.reason))
    return 0


def _actor(who: Mapping[str, Any]) -> Actor:
    name = who["actor_id"] or os.environ.get("PLAYBOOK_ACTOR") or getpass.getuser()
    actor = parse_actor(name, who["roles"])
    assert actor is not None  # --as is required
    return actor
