"""The web workspace of ``playbook serve``: server-rendered pages for reps and managers.

Signed in with a session cookie (:mod:`.signin`, sessions kept in the
database by :mod:`playbook.store.sessions`), a person sees the pipeline
boards (:mod:`.board`), a deal's page with its forms (:mod:`.deal`), the
escalations inbox (:mod:`.inbox`), the KPI dashboard and the weekly review
(:mod:`.reports`). No script is needed and nothing is loaded from another
site: plain HTML forms, one style sheet served here.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from playbook.web.workspace import board, deal, inbox, reports, signin

__all__ = ["install", "router"]

router = APIRouter(include_in_schema=False)
router.include_router(signin.router)
router.include_router(board.router)
router.include_router(deal.router)
router.include_router(inbox.router)
router.include_router(reports.router)

_STYLE = files("playbook.web.workspace").joinpath("static/workspace.css")


@router.get("/static/workspace.css")
def style() -> Response:
    """The workspace's one style sheet."""
    return Response(_STYLE.read_text(encoding="utf-8"), media_type="text/css")


def install(app: FastAPI, *, secure_cookies: bool = False) -> None:
    """Serve the workspace on ``app`` (under ``/``); ``secure_cookies`` marks cookies Secure."""
    app.include_router(router)
    app.state.secure_cookies = secure_cookies
