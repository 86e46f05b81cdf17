"""How a workspace page is drawn: Jinja2 templates, autoescaped, words from the catalogue.

Why Jinja2 and not string builders: autoescaping is on for every value a
template shows, so a deal's field, a note or a person's name cannot become
markup by a forgotten call; templates keep the markup readable in one place.
Every word comes from :func:`playbook.i18n.say` (``web.*`` keys), times are
shown on the playbook's clock. A failure becomes a page in the reader's
language with its stable code (or the sign-in page, for a missing session);
never a trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from playbook.errors import (
    InternalError,
    MoveBlockedError,
    PlaybookError,
    SessionEndedError,
)
from playbook.i18n import Message, say
from playbook.runtime.decisions import Decision
from playbook.store.sessions import SIGN_IN_REFUSED
from playbook.values import shown_time
from playbook.web.workspace.visit import (
    LANG_COOKIE,
    Visitor,
    asked_language,
    form_of,
    visitor,
)

__all__ = [
    "CSP",
    "PageError",
    "error_page",
    "page",
    "posted",
    "see_other",
    "shown",
    "template_words",
]

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""What a workspace page may load: its own style sheet and frames, nothing else."""

_ENV = Environment(
    loader=PackageLoader("playbook.web.workspace", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class PageError(Exception):
    """Raised inside a page to answer with another response (a redirect)."""

    def __init__(self, response: Response) -> None:
        super().__init__("page answered early")
        self.response = response


def template_words(lang: str) -> Callable[..., str]:
    """``t("board.title", name=...)``: the ``web.*`` message in ``lang``."""

    def words(key: str, **values: object) -> str:
        return say(f"web.{key}", lang, **values)

    return words


def page(
    request: Request,
    name: str,
    *,
    lang: str,
    who: Visitor | None,
    zone: tzinfo | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The template ``name`` drawn for ``who`` in ``lang``, times on ``zone``'s clock."""
    values: dict[str, Any] = {
        "t": template_words(lang),
        "lang": lang,
        "who": who,
        "csrf": who.csrf if who is not None else "",
        "path": request.url.path,
        "other_lang": "en" if lang == "zh" else "zh",
        "switch": _switched(request, "en" if lang == "zh" else "zh"),
        "when": _clock(zone),
        **context,
    }
    text = _ENV.get_template(name).render(values)
    response = HTMLResponse(text, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    asked = request.query_params.get("lang")
    if asked is not None and asked == asked_language(request):
        # ?lang= switches the pages' language until switched back (a preference, not a secret)
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, path="/", samesite="lax")
    return response


def see_other(path: str) -> RedirectResponse:
    """Go to ``path`` (a GET) after a form: reloading the page does not post it again."""
    return RedirectResponse(path, status_code=303)


def error_page(
    request: Request, error: Exception, who: Visitor | None, lang: str | None
) -> Response:
    """The page answering ``error``: the sign-in page for a missing session, else its message."""
    words = lang or asked_language(request) or "en"
    if isinstance(error, PageError):
        return error.response
    if isinstance(error, SessionEndedError) and error.code != SIGN_IN_REFUSED:
        target = request.url.path if request.method == "GET" else "/"
        return see_other(f"/sign-in?next={quote(target)}&why={error.details.get('reason', '')}")
    if not isinstance(error, PlaybookError):
        _LOG.exception("internal error on %s %s", request.method, request.url.path, exc_info=error)
        error = InternalError(Message("error.web.internal"), hint=Message("error.web.report_bug"))
    reasons = _reasons(error, words)
    return page(
        request,
        "failed.html",
        lang=words,
        who=who,
        status=error.http_status,
        error=error,
        message=error.message_in(words),
        hint=error.hint_in(words),
        reasons=reasons,
        back=request.headers.get("referer") if _local(request) else None,
    )


def _switched(request: Request, lang: str) -> str:
    """This page's address in ``lang``: its query kept, ``lang`` replaced."""
    query = [(key, value) for key, value in request.query_params.multi_items() if key != "lang"]
    return f"{request.url.path}?{urlencode([*query, ('lang', lang)])}"


def _reasons(error: PlaybookError, lang: str) -> list[str]:
    if isinstance(error, MoveBlockedError) and isinstance(error.decision, Decision):
        return [reason.text(lang) for reason in error.decision.reasons]
    return []


def _local(request: Request) -> bool:
    referer = request.headers.get("referer", "")
    return referer.startswith(f"{request.url.scheme}://{request.headers.get('host', '')}/")


def _clock(zone: tzinfo | None) -> Callable[[datetime | None], str]:
    def when(moment: datetime | None) -> str:
        return shown_time(moment, zone or UTC)

    return when


async def shown(request: Request, build: Callable[[Visitor], Response]) -> Response:
    """A page for the signed-in visitor, ``build`` run off the event loop; errors as pages."""
    who: Visitor | None = None
    try:
        who = await run_in_threadpool(visitor, request)
        return await run_in_threadpool(build, who)
    except Exception as error:  # every failure becomes a page; bugs are logged, never shown
        return error_page(request, error, who, who.language() if who else None)


async def posted(
    request: Request, action: str, act: Callable[[Visitor, dict[str, str]], Response]
) -> Response:
    """A form of the signed-in visitor: session and CSRF checked, then ``act``; errors as pages.

    A refused session or CSRF token is recorded as a refusal of ``action``.
    """
    who: Visitor | None = None
    deal = request.path_params.get("ref")
    try:
        who = await run_in_threadpool(visitor, request, action, deal)
        fields = await form_of(request, who, action)
        return await run_in_threadpool(act, who, fields)
    except Exception as error:  # as in shown()
        return error_page(request, error, who, who.language() if who else None)
