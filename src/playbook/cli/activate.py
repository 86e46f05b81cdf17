"""``playbook activate``: choose which registered playbook version new deals follow."""

from __future__ import annotations

import click

from playbook.cli.common import (
    db_option,
    lang_option,
    now_option,
    open_store,
    parse_now,
    store_lang,
)
from playbook.i18n import say

__all__ = ["activate"]


@click.command()
@click.argument("playbook_id", metavar="PLAYBOOK")
@click.argument("version", type=click.IntRange(1, 2**31))
@click.option("--reason", required=True, help="Why this version (recorded).")
@click.option(
    "--as",
    "person",
    metavar="PERSON:ROLE",
    required=True,
    help="Who activates, in which role(s): ops or admin (refusals are recorded).",
)
@db_option
@now_option("The time to record, ISO 8601 (default: the clock). For tests and replays.")
@lang_option
def activate(
    playbook_id: str,
    version: int,
    reason: str,
    person: str,
    url: str | None,
    now: str | None,
    lang: str | None,
) -> int:
    """Make registered VERSION of PLAYBOOK the one new deals follow, in every process.

    Deals already pinned stay on their version (`playbook migrate` moves them);
    versions registered later do not replace it.
    """
    from playbook import refusals

    name, _, roles = person.partition(":")
    held = [role.strip() for role in roles.split(",") if role.strip()]
    if not name.strip() or not held:
        raise click.BadParameter(say("cli.approvals.as", lang), param_hint="--as")
    at = parse_now(now)
    with open_store(url) as store:
        language = store_lang(lang, store)  # so a refusal is told in it too
        refusals.require_role(
            store, refusals.PLAYBOOK_ADMIN_ROLES, "activate", actor=name.strip(), roles=held,
            now=at, subject=f"{playbook_id}@{version}",
        )  # fmt: skip
        store.activate(playbook_id, version, actor=name.strip(), reason=reason, now=at)
    click.echo(say("cli.activate.done", language, name=f"{playbook_id}@{version}"))
    return 0
