"""``playbook serve``: the authenticated JSON API on a deal store, until Ctrl-C.

``--playbooks DIR`` registers the playbooks found there first (a version
already registered with another text stops the server before it starts).
``--mapping PLAYBOOK=MAPPING.yaml`` (repeatable) lets the CRM webhook
(``POST /api/v1/webhooks/crm``) upsert that playbook's deals through the
import mapping, checked against the latest registered version at start.
Exit codes: 0 stopped, 2 bad input (a playbook that is not valid, a folder
without playbooks), 3 the database cannot be used; 1 when the server cannot
listen (uvicorn says why, e.g. the port is taken).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from playbook.cli.common import db_option, lang_option, load_playbook, open_store, store_lang
from playbook.i18n import say

if TYPE_CHECKING:
    from playbook.store.mapping import ImportMapping
    from playbook.store.repository import DealStore

__all__ = ["serve"]


@click.command()
@db_option
@click.option(
    "--playbooks",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Register the playbooks of this folder before serving.",
)
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    metavar="PLAYBOOK=MAPPING.yaml",
    help="The import mapping the CRM webhook uses for a playbook (repeatable).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@lang_option
def serve(
    url: str | None,
    folder: Path | None,
    mappings: tuple[str, ...],
    host: str,
    port: int,
    lang: str | None,
) -> int:
    """Serve the JSON API (/api/v1) on the deal store; people sign requests with API tokens."""
    import uvicorn

    from playbook.web.app import create_app
    from playbook.web.webhooks import configure

    with open_store(url) as store:
        if folder is not None:
            _register(store, folder)
        language = store_lang(lang, store)
        app = create_app(store)
        configure(app, _mappings(store, mappings, language))
        click.echo(say("cli.serve.listening", language, host=host, port=port), err=True)
        uvicorn.run(
            app, host=host, port=port, log_level="warning", server_header=False, access_log=False
        )
    return 0


def _mappings(store: DealStore, given: tuple[str, ...], language: str) -> dict[str, ImportMapping]:
    """Each ``PLAYBOOK=FILE`` read and checked against the playbook's latest version."""
    from playbook import services
    from playbook.store.crm_upsert import check_mapping
    from playbook.store.mapping import read_mapping

    found: dict[str, ImportMapping] = {}
    for item in given:
        playbook_id, equals, file = item.partition("=")
        if not equals or not playbook_id or not file:
            raise click.BadParameter(say("cli.serve.mapping_form", language, text=item))
        version = store.active_version(playbook_id)
        model = (
            None if version is None else services.registered_playbook(store, playbook_id, version)
        )
        if model is None:
            raise click.BadParameter(
                say("cli.serve.mapping_unknown_playbook", None, name=playbook_id)
            )
        mapping = read_mapping(file)
        check_mapping(mapping, model)
        found[playbook_id] = mapping
    return found


def _register(store: DealStore, folder: Path) -> None:
    from playbook.definition.validate import find_playbooks

    now = datetime.now(UTC)
    for path in find_playbooks([folder]):
        model, text = load_playbook(Path(path))
        store.register_playbook(model, text, path=path, now=now)
