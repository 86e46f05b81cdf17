"""``playbook serve``: the authenticated JSON API and the web workspace on a deal store.

``--playbooks DIR`` registers the playbooks found there first (a version
already registered with another text stops the server before it starts).
``--workers N`` runs N server processes on the same port (PostgreSQL only: an
SQLite store is served by one process). Every process opens its own
connections and reads tokens, people and playbook versions from the database
on every request, so any number of them (on one machine or several, behind
any load balancer) serve the same store without sticky sessions.
``--mapping PLAYBOOK=MAPPING.yaml`` (repeatable) lets the CRM webhook
(``POST /api/v1/webhooks/crm``) upsert that playbook's deals through the
import mapping, checked against the latest registered version at start.
Exit codes: 0 stopped, 2 bad input (a playbook that is not valid, a folder
without playbooks, ``--workers`` over 1 on SQLite), 3 the database cannot be
used; 1 when the server cannot listen (uvicorn says why, e.g. the port is taken).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook.cli.common import db_option, lang_option, load_playbook, open_store, store_lang
from playbook.i18n import say

if TYPE_CHECKING:
    from fastapi import FastAPI

    from playbook.store.mapping import ImportMapping
    from playbook.store.repository import DealStore

__all__ = ["serve", "uvicorn_options", "worker_app"]

_WORKER_DB = "PLAYBOOK_SERVE_DB"
"""How ``serve --workers N`` hands the database URL to the worker processes it starts."""
_WORKER_SECURE = "PLAYBOOK_SERVE_SECURE_COOKIES"
"""And ``--secure-cookies``."""
_WORKER_MAPPINGS = "PLAYBOOK_SERVE_MAPPINGS"
"""And the ``--mapping`` options, one per line."""


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
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (PostgreSQL only; SQLite is served by one process).",
)
@click.option(
    "--secure-cookies",
    is_flag=True,
    help="Mark the workspace's cookies Secure (behind an https proxy); https requests always do.",
)
@lang_option
def serve(
    url: str | None,
    folder: Path | None,
    mappings: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
    secure_cookies: bool,
    lang: str | None,
) -> int:
    """Serve the JSON API (/api/v1) and the web workspace (/) on the deal store."""
    import uvicorn

    from playbook.store.db import database_url
    from playbook.web.app import create_app
    from playbook.web.webhooks import configure

    with open_store(url) as store:
        if workers > 1 and store.database.dialect == "sqlite":
            raise click.UsageError(say("cli.serve.sqlite_one_process", store_lang(lang, store)))
        if folder is not None:
            _register(store, folder)
        language = store_lang(lang, store)
        found = _mappings(store, mappings, language)  # checked here, before any worker starts
        click.echo(say("cli.serve.listening", language, host=host, port=port), err=True)
        if workers == 1:
            app = create_app(store)
            configure(app, found)
            app.state.secure_cookies = secure_cookies
            uvicorn.run(app, host=host, port=port, **uvicorn_options(1))
            return 0
        # Each worker is a process of its own that builds the app and opens its own
        # connections (a connection pool must not cross a fork).
        os.environ[_WORKER_DB] = database_url(url)
        os.environ[_WORKER_SECURE] = "1" if secure_cookies else ""
        os.environ[_WORKER_MAPPINGS] = "\n".join(mappings)
    uvicorn.run(
        f"{__name__}:worker_app", factory=True, host=host, port=port, **uvicorn_options(workers)
    )
    return 0


def uvicorn_options(workers: int) -> dict[str, Any]:
    """The settings `playbook serve` runs uvicorn with (the benchmark's bare endpoint too)."""
    return {
        "workers": workers if workers > 1 else None,
        "log_level": "warning",
        "server_header": False,
        "access_log": False,
    }


def worker_app() -> FastAPI:
    """The application of one ``serve --workers N`` process, on the store its parent opened."""
    from playbook.store.db import open_database
    from playbook.store.repository import DealStore
    from playbook.web.app import create_app
    from playbook.web.webhooks import configure

    store = DealStore(open_database(os.environ[_WORKER_DB]))
    app = create_app(store)
    app.state.secure_cookies = os.environ.get(_WORKER_SECURE) == "1"
    given = tuple(item for item in os.environ.get(_WORKER_MAPPINGS, "").split("\n") if item)
    configure(app, _mappings(store, given, "en"))  # the parent checked them already
    return app


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
