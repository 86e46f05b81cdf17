"""``playbook approvals``: list a deal's approvals; request, grant, reject or delegate one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from playbook.cli.common import (
    command_lang,
    db_option,
    format_option,
    lang_option,
    load_playbook,
    now_option,
    open_store,
    options,
    parse_actor,
    parse_now,
    playbook_option,
)
from playbook.i18n import say

__all__ = ["approvals"]

RETRIES = 3
"""How often a write that lost a race to another approver is decided again."""

_where = options(
    playbook_option("The playbook file (default: the version the deal is pinned to)."),
    db_option,
    lang_option,
    format_option,
)


@click.group()
def approvals() -> None:
    """Approvals (授权): see where they stand, request, grant, reject, delegate."""


@approvals.command("list")
@click.argument("deal_id")
@now_option("Show due times as of this ISO 8601 time (default: the clock).")
@_where
def list_command(deal_id: str, **opts: Any) -> int:
    """Where each approval of the deal's playbook stands: needed, at which step, from whom."""
    from playbook.approving import approval_statuses

    with open_store(opts["url"]) as store:
        deal, book, statuses = approval_statuses(store, deal_id, playbook=_file(opts))
    lang = command_lang(opts["lang"], book)
    if opts["output_format"] == "json":
        data = [status.to_dict() for status in statuses]
        click.echo(json.dumps({"deal": deal.ref, "approvals": data}, ensure_ascii=False, indent=2))
        return 0
    if not statuses:
        click.echo(say("cli.approvals.none", lang, deal=deal.ref))
    for status in statuses:
        click.echo(_status_line(book, status, lang, parse_now(opts["now"])))
    return 0


_as_option = click.option(
    "--as",
    "person",
    metavar="PERSON:ROLE",
    required=True,
    help="Who acts, in which role(s) of the playbook (ROLE[,ROLE]); recorded.",
)
_write = options(
    click.argument("deal_id"),
    click.argument("approval_id"),
    _as_option,
    now_option("The time to record, ISO 8601 (default: the clock). For tests and replays."),
    _where,
)


@approvals.command("request")
@_write
@click.option("--reason", help="Why (recorded).")
def request(deal_id: str, approval_id: str, **opts: Any) -> int:
    """Ask for an approval: starts a new round (earlier grants and a rejection no longer count)."""
    from playbook.approving import request as run

    return _run(run, deal_id, approval_id, opts)


@approvals.command("grant")
@_write
@click.option("--reason", help="A note with the grant (recorded).")
def grant(deal_id: str, approval_id: str, **opts: Any) -> int:
    """Grant the current step of an approval (as one of its approvers, or their delegate)."""
    from playbook.approving import grant as run

    return _run(run, deal_id, approval_id, opts)


@approvals.command("reject")
@_write
@click.option("--reason", required=True, help="Why the approval is refused (recorded).")
def reject(deal_id: str, approval_id: str, **opts: Any) -> int:
    """Reject the current step of an approval, with a reason."""
    from playbook.approving import reject as run

    return _run(run, deal_id, approval_id, opts)


@approvals.command("delegate")
@_write
@click.option("--to", "to", required=True, metavar="PERSON", help="Who grants in your place.")
@click.option("--reason", help="Why (recorded), for example: on leave until Monday.")
def delegate(deal_id: str, approval_id: str, **opts: Any) -> int:
    """Hand your part of the current step to someone else while away (recorded)."""
    from playbook.approving import delegate as run

    return _run(run, deal_id, approval_id, opts)


def _run(run: Callable[..., Any], deal_id: str, approval_id: str, opts: dict[str, Any]) -> int:
    name, _, roles = str(opts["person"]).partition(":")
    actor = parse_actor(name.strip(), roles)
    if actor is None or not name.strip():
        raise click.BadParameter(say("cli.approvals.as", None), param_hint="--as")
    extra = {"to": opts["to"]} if "to" in opts else {}
    given = _file(opts)
    with open_store(opts["url"]) as store:
        outcome = run(
            store,
            deal_id,
            approval_id,
            actor=actor,
            now=parse_now(opts["now"]),
            reason=opts.get("reason"),
            playbook=given,
            retries=RETRIES,
            **extra,
        )
        from playbook.services import registered_playbook

        deal = outcome.deal
        book = registered_playbook(store, deal.playbook_id, deal.playbook_version) or given
    lang = command_lang(opts["lang"], book)
    if opts["output_format"] == "json":
        data = {"deal": deal.ref, "version": deal.version, "approval": outcome.status.to_dict()}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    event = deal.approvals[-1]
    kind = say(f"cli.approvals.event.{event['kind']}", lang)
    click.echo(say("cli.approvals.recorded", lang, deal=deal.ref, event=kind, version=deal.version))
    if book is not None:
        click.echo(_status_line(book, outcome.status, lang, parse_now(opts["now"])))
    return 0


def _file(opts: dict[str, Any]) -> Any:
    path: Path | None = opts.get("playbook_path")
    return load_playbook(path)[0] if path is not None else None


def _status_line(book: Any, status: Any, lang: str, now: Any) -> str:
    from playbook.runtime.approvals import ApprovalCheck
    from playbook.runtime.calendar import WorkingCalendar
    from playbook.runtime.words import Words
    from playbook.values import playbook_zone

    words = Words(book, playbook_zone(book))
    name = words.label(status.approval.title, lang, status.approval.id)
    state = say(f"cli.approvals.state.{status.state}", lang)
    if status.step is None:
        return say("cli.approvals.line", lang, approval=name, state=state)
    calendar = WorkingCalendar(book.calendar, book.timezone)
    check = ApprovalCheck(status.approval, words, calendar)
    reason = check.reason(status, now).text(lang)
    return say("cli.approvals.line_why", lang, approval=name, state=state, why=reason)
