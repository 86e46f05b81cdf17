"""Group robots of chat services: WeCom, DingTalk, Feishu (Lark) and Microsoft Teams.

Each sink posts the service's own documented message format (see
docs/notifications.md for the exact bodies):

============  ===================================  ==========================================
spec          message                              signing (``secret=${VAR}``)
============  ===================================  ==========================================
``wecom:``    group robot ``markdown``             none (the ``key`` in the URL is the secret)
``dingtalk:`` custom robot ``markdown``            ``timestamp`` (ms) and ``sign`` query
                                                   parameters: Base64 HMAC-SHA256 keyed by the
                                                   secret over ``timestamp + "\\n" + secret``
``feishu:``   custom bot ``interactive`` card      ``timestamp`` (s) and ``sign`` in the body:
                                                   Base64 HMAC-SHA256 keyed by
                                                   ``timestamp + "\\n" + secret`` over nothing
``teams:``    ``message`` with an Adaptive Card    none (Workflows or incoming webhook URL)
============  ===================================  ==========================================

The secret is the ``secret`` query parameter of the spec (never sent as
such); a playbook must read it from the environment (``${NAME}``). Every
service answers "too many requests" with HTTP 429, and the Chinese services
also with their own codes on HTTP 200 (WeCom 45009, DingTalk 130101, Feishu
9499 and 11232): the sink waits (``Retry-After`` when given) and tries again.
Any other non-zero code on HTTP 200 is a failed delivery, kept in the outbox
for the next sweep; a refused signature (DingTalk 310000, Feishu 19021) is
:class:`~playbook.errors.ChatSigningError`, naming the sink. Sinks pace their
posts (at most 20 a minute to WeCom and DingTalk robots, 5 a second to Feishu).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from playbook.errors import ChatSigningError, ChatSinkError, NotificationError
from playbook.escalation.notice import ChatCard, Notification
from playbook.escalation.policy import SinkPolicy
from playbook.escalation.posting import Answer, http_outcome, post, safe_url
from playbook.i18n import Message

__all__ = ["SECRET_EXAMPLE", "SERVICES", "ChatService", "ChatSink", "chat_sink"]

BASE_URL_VARIABLE = "PLAYBOOK_BASE_URL"
"""The environment variable with the web workspace's address: deal links start with it."""

SECRET_EXAMPLE = "secret=${PLAYBOOK_SINK_NAME}"  # noqa: S105 - a placeholder, not a secret
"""How a playbook's chat sink names its secret (an environment variable the operator allows)."""

_MAX_WAIT = 60.0  # the longest Retry-After honoured inside one sweep; later ones wait a sweep


@dataclass(frozen=True, slots=True)
class ChatService:
    """How one chat service is spoken to: its body, signing, answers and pace."""

    kind: str
    title: str
    body: Callable[[ChatCard, str], dict[str, Any]]
    code_keys: tuple[str, ...] = ()
    rate_codes: frozenset[int] = frozenset()
    sign_codes: frozenset[int] = frozenset()
    signing: str | None = None
    interval: float = 0.0

    def code(self, body: bytes) -> tuple[int | None, str]:
        """The service's result code in an HTTP 200 answer and its text; (None, '') if none."""
        if not self.code_keys:
            return None, ""
        try:
            answer = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return -1, "the answer is not JSON"
        if not isinstance(answer, dict):
            return -1, "the answer is not a JSON object"
        for key in self.code_keys:
            value = answer.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                text = answer.get("errmsg", answer.get("msg", ""))
                return value, str(text)[:200]
        return -1, "the answer has no result code"


@dataclass(slots=True)
class ChatSink:
    """Posts each notification as a chat message; backs off on "too many requests"."""

    service: ChatService
    url: str
    name: str
    secret: str | None = None
    base_url: str | None = None
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 1.0
    rate_wait: float = 10.0
    interval: float | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    policy: SinkPolicy = field(default_factory=SinkPolicy.from_environ, repr=False)
    _last: float = field(default=-math.inf, init=False, repr=False)

    def send(self, notification: Notification) -> None:
        """Post until the service accepts; raise NotificationError when every attempt fails.

        Raises :class:`~playbook.errors.ChatSigningError` at once when the service
        refuses the signature (a wrong or missing secret: trying again cannot help).
        """
        card = notification.chat_card()
        last = ""
        for attempt in range(1, self.attempts + 1):
            self._pace()
            wait, last = self._attempt(card, attempt)
            if not last:
                return
            if wait is None or attempt == self.attempts:
                break
            self.sleep(wait)
        raise NotificationError(
            Message(
                "error.chat.failed_after",
                service=self.service.title,
                sink=self.name,
                safe_url=safe_url(self.url),
                attempt=attempt,
                last=last,
            ),
            hint=Message("error.sinks.delivery_stays_outbox_next"),
            details={"sink": self.name, "attempts": attempt},
        )

    def _pace(self) -> None:
        """Wait so that posts keep the service's pace (its per-robot rate limit)."""
        interval = self.service.interval if self.interval is None else self.interval
        now = time.monotonic()
        if now - self._last < interval:
            self.sleep(interval - (now - self._last))
        self._last = time.monotonic()

    def _attempt(self, card: ChatCard, attempt: int) -> tuple[float | None, str]:
        """One post: (seconds to wait before the next, or None to stop; error text or '')."""
        url, body = self._request(card)
        answer = post(self.name, url, body, {}, policy=self.policy, timeout=self.timeout)
        retry_wait = self.backoff * 2.0 ** (attempt - 1)
        if answer.error:
            return (retry_wait if answer.retry else None), answer.error
        if answer.status == 429:
            return self._rate_wait(answer, attempt), f"HTTP 429 {answer.reason}"
        retry, error = http_outcome(answer)
        if error:
            return (retry_wait if retry else None), error
        code, text = self.service.code(answer.body)
        if code is None or code == 0:
            return None, ""
        if code in self.service.sign_codes:
            raise ChatSigningError(
                Message(
                    "error.chat.signature_refused",
                    service=self.service.title,
                    sink=self.name,
                    code=code,
                    text=text,
                ),
                hint=Message("error.chat.check_secret", sink=self.name),
                details={"sink": self.name, "code": code},
            )
        error = f"{self.service.title} code {code}: {text}"
        limited = code in self.service.rate_codes
        return (self._rate_wait(answer, attempt) if limited else None), error

    def _rate_wait(self, answer: Answer, attempt: int) -> float:
        """How long to wait after "too many requests": Retry-After, else a doubling wait."""
        given = answer.header("Retry-After")
        if given is not None and given.strip().isdigit():
            return min(float(given), _MAX_WAIT)
        return min(self.rate_wait * 2.0 ** (attempt - 1), _MAX_WAIT)

    def _request(self, card: ChatCard) -> tuple[str, bytes]:
        """The URL (signed for DingTalk) and the JSON body (signed for Feishu) of one post."""
        link = f"{self.base_url.rstrip('/')}{card.deal_path}" if self.base_url else ""
        payload = self.service.body(card, link if card.deal_path else "")
        url = self.url
        if self.secret and self.service.signing == "query":
            timestamp = str(int(self.clock() * 1000))
            key = self.secret.encode()
            sign = _hmac(key, f"{timestamp}\n{self.secret}".encode())
            query = urllib.parse.urlencode({"timestamp": timestamp, "sign": sign})
            url += ("&" if urllib.parse.urlsplit(url).query else "?") + query
        elif self.secret and self.service.signing == "body":
            timestamp = str(int(self.clock()))
            sign = _hmac(f"{timestamp}\n{self.secret}".encode(), b"")
            payload = {"timestamp": timestamp, "sign": sign, **payload}
        return url, json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


# --- message bodies -----------------------------------------------------------------------


def _markdown(card: ChatCard, link: str, breaks: str) -> str:
    """The card as chat markdown: a bold title, one ``label: value`` line per fact, a link."""
    lines = [f"**{_escape(card.title)}**"]
    lines += ["> " + card.fact(_escape(label), _escape(value)) for label, value in card.facts]
    if card.message:
        lines.append(_escape(card.message))
    if link:
        lines.append(f"[{_escape(card.link_label)}]({link})")
    return breaks.join(lines)


def _escape(text: str) -> str:
    """Text that cannot open markdown links, emphasis or HTML (values come from people)."""
    for mark in ("\\", "[", "]", "*", "`", "<", ">"):
        text = text.replace(mark, "\\" + mark)
    return text


def _wecom(card: ChatCard, link: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": _markdown(card, link, "\n")}}


def _dingtalk(card: ChatCard, link: str) -> dict[str, Any]:
    # DingTalk's markdown starts a new line only at a blank line.
    text = _markdown(card, link, "\n\n")
    return {"msgtype": "markdown", "markdown": {"title": card.title, "text": text}}


def _feishu(card: ChatCard, link: str) -> dict[str, Any]:
    facts = "\n".join(card.fact(f"**{_escape(k)}**", _escape(v)) for k, v in card.facts)
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": facts}}]
    if card.message:
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": card.message}})
    if link:
        button = {
            "tag": "button",
            "text": {"tag": "plain_text", "content": card.link_label},
            "type": "primary",
            "url": link,
        }
        elements.append({"tag": "action", "actions": [button]})
    header = {"title": {"tag": "plain_text", "content": card.title}, "template": "red"}
    return {
        "msg_type": "interactive",
        "card": {"config": {"wide_screen_mode": True}, "header": header, "elements": elements},
    }


def _teams(card: ChatCard, link: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": card.title, "weight": "Bolder", "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in card.facts]},
    ]
    if card.message:
        body.append({"type": "TextBlock", "text": card.message, "wrap": True})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": card.link_label, "url": link}]
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": content,
    }
    return {"type": "message", "attachments": [attachment]}


SERVICES: Mapping[str, ChatService] = {
    "wecom": ChatService("wecom", "WeCom", _wecom, ("errcode",), frozenset({45009}), interval=3.0),
    "dingtalk": ChatService(
        "dingtalk",
        "DingTalk",
        _dingtalk,
        ("errcode",),
        frozenset({130101}),
        frozenset({310000}),
        signing="query",
        interval=3.0,
    ),
    "feishu": ChatService(
        "feishu",
        "Feishu",
        _feishu,
        ("code", "StatusCode"),
        frozenset({9499, 11232}),
        frozenset({19021}),
        signing="body",
        interval=0.2,
    ),
    "teams": ChatService("teams", "Teams", _teams),
}
"""Each chat service by the prefix of its sink spec."""


def chat_sink(
    kind: str, url: str, name: str, policy: SinkPolicy, environ: Mapping[str, str]
) -> ChatSink:
    """The ``kind`` sink posting to ``url`` (its ``secret`` query parameter taken out).

    The deal link's base is ``PLAYBOOK_BASE_URL`` from ``environ``. Raises
    :class:`~playbook.errors.ChatSinkError` for an empty secret, a secret given
    to a service that signs nothing, or a base URL that is not http(s).
    """
    service = SERVICES[kind]
    target, secret = _split_secret(url)
    if secret is not None and (service.signing is None or not secret.strip()):
        key = "error.chat.secret_unused" if service.signing is None else "error.chat.secret_empty"
        raise ChatSinkError(
            Message(key, service=service.title, sink=name),
            hint=Message("error.chat.secret_how", sink=name, example=SECRET_EXAMPLE),
            details={"sink": name},
        )
    return ChatSink(
        service, target, name, secret=secret, base_url=_base_url(name, environ), policy=policy
    )


def _split_secret(url: str) -> tuple[str, str | None]:
    """``url`` without its ``secret`` query parameter, and that parameter (None if absent)."""
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    secrets = [value for key, value in pairs if key == "secret"]
    if not secrets:
        return url, None
    query = urllib.parse.urlencode([(k, v) for k, v in pairs if k != "secret"])
    return urllib.parse.urlunsplit(parts._replace(query=query)), secrets[-1]


def _base_url(sink: str, environ: Mapping[str, str]) -> str | None:
    """The web workspace's address for deal links, or None when the operator set none."""
    value = environ.get(BASE_URL_VARIABLE, "").strip()
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ChatSinkError(
            Message("error.chat.base_url", sink=sink, variable=BASE_URL_VARIABLE, value=value),
            hint=Message("error.chat.base_url_how", variable=BASE_URL_VARIABLE),
            details={"sink": sink},
        )
    return value.rstrip("/")
