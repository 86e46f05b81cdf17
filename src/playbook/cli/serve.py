"""``playbook serve``: the authenticated JSON API and the web workspace on a deal store.

``--playbooks DIR`` registers the playbooks found there first (a version
already registered with another text stops the server before it starts).
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
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--secure-cookies",
    is_flag=True,
    help="Mark the workspace's cookies Secure (behind an https proxy); https requests always do.",
)
@lang_option
def serve(
    url: str | None,
    folder: Path | None,
    host: str,
    port: int,
    secure_cookies: bool,
    lang: str | None,
) -> int:
    """Serve the JSON API (/api/v1) and the web workspace (/) on the deal store."""
    import uvicorn

    from playbook.web.app import create_app

    with open_store(url) as store:
        if folder is not None:
            _register(store, folder)
        app = create_app(store)
        app.state.secure_cookies = secure_cookies
        language = store_lang(lang, store)
        click.echo(say("cli.serve.listening", language, host=host, port=port), err=True)
        uvicorn.run(
            app, host=host, port=port, log_level="warning", server_header=False, access_log=False
        )
    return 0


def _register(store: DealStore, folder: Path) -> None:
    from playbook.definition.validate import find_playbooks

    now = datetime.now(UTC)
    for path in find_playbooks([folder]):
        model, text = load_playbook(Path(path))
        store.register_playbook(model, text, path=path, now=now)
