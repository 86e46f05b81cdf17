"""``playbook audit``: the refused gated attempts, across deals (授权与监督).

Exit codes: 0 listed (even when nothing was refused), 2 bad input, 3 the
database cannot be used.
"""

from __future__ import annotations

import json

import click

from playbook.cli.common import (
    db_option,
    format_option,
    lang_option,
    open_store,
    parse_now,
    store_lang,
)
from playbook.i18n import say

__all__ = ["audit"]


@click.command()
@click.option("--deal", metavar="DEAL", help="Only this deal (external id or store id).")
@click.option("--since", metavar="TIME", help="Only attempts at or after this time (ISO 8601).")
@click.option(
    "--action",
    type=click.Choice(["advance", "override", "complete", "playbook", "ack", "snooze", "migrate"]),
    help="Only this kind of attempt.",
)
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@format_option
@lang_option
@db_option
def audit(
    deal: str | None,
    since: str | None,
    action: str | None,
    limit: int,
    output_format: str,
    lang: str | None,
    url: str | None,
) -> int:
    """List refused attempts (blocked moves, roles not allowed, edited playbooks), oldest first."""
    from playbook.render.deals import Registered, attempt_word, refusal_reason
    from playbook.store.audit import list_refusals
    from playbook.values import shown_time

    after = parse_now(since, option="--since") if since is not None else None
    with open_store(url) as store:
        registered = Registered(store)
        language = store_lang(lang, store)
        zone = registered.common_zone()
        entries = list_refusals(store.database, deal=deal, since=after, action=action, limit=limit)
    if output_format == "json":
        click.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2))
        return 0
    if not entries:
        click.echo(say("cli.audit.none", language))
        return 0
    for entry in entries:
        roles = ",".join(entry.actor_roles) or "-"
        where = say("cli.audit.deal", language, deal=entry.deal_ref) if entry.deal_ref else "-"
        what = attempt_word(entry.action, language) + (f" {entry.subject}" if entry.subject else "")
        reason = refusal_reason(entry, language)
        click.echo(
            f"{shown_time(entry.at, zone)}  {entry.actor} ({roles})  "
            f"{what}  {where}: {entry.code} {reason}"
        )
    return 0
