"""``playbook audit``: the refused gated attempts, across deals (授权与监督).

Exit codes: 0 listed (even when nothing was refused), 2 bad input, 3 the
database cannot be used.
"""

from __future__ import annotations

import json

import click

from playbook.cli.common import db_option, format_option, open_database, parse_now

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
@db_option
def audit(
    deal: str | None,
    since: str | None,
    action: str | None,
    limit: int,
    output_format: str,
    url: str | None,
) -> int:
    """List refused attempts (blocked moves, roles not allowed, edited playbooks), oldest first."""
    from playbook.store.audit import list_refusals

    after = parse_now(since, option="--since") if since is not None else None
    with open_database(url) as database:
        entries = list_refusals(database, deal=deal, since=after, action=action, limit=limit)
    if output_format == "json":
        click.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2))
        return 0
    if not entries:
        click.echo("no refused attempts")
        return 0
    for entry in entries:
        roles = ",".join(entry.actor_roles) or "-"
        where = f"deal {entry.deal_ref}" if entry.deal_ref else "-"
        subject = f" {entry.subject}" if entry.subject else ""
        click.echo(
            f"{entry.at.isoformat(timespec='minutes')}  {entry.actor} ({roles})  "
            f"{entry.action}{subject}  {where}: {entry.code} {entry.reason}"
        )
    return 0
