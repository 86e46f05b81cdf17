"""Where escalation notifications go: the console, a JSON Lines file, a webhook, email.

A sink receives a :class:`Notification` (the escalation as a JSON-ready
mapping plus a one-paragraph ``text``) and either delivers it or raises
:class:`~playbook.errors.NotificationError`. The sweep records every delivery
in an outbox, so a sink that fails is retried by the next sweep; a sink never
needs to remember anything itself.

Sinks are named on the command line with :func:`parse_sink`:

==========================================  ==============================================
spec                                        sink
==========================================  ==============================================
``console``                                 one line per notification on the CLI's output
``jsonl:PATH``                              one JSON object per line appended to ``PATH``
``webhook:URL`` (or just ``https://...``)   JSON POST: Slack-compatible ``text`` and the
                                            structured ``escalation``
``smtp://HOST[:PORT]?from=A&to=B[,C]``      one email per notification (``starttls=1``
                                            for STARTTLS; user and password from
                                            ``PLAYBOOK_SMTP_USER`` / ``PLAYBOOK_SMTP_PASSWORD``)
==========================================  ==============================================

A spec may be prefixed with ``NAME=`` to give the sink its own name (the
outbox is keyed by it), e.g. ``ops=webhook:https://hooks.example.com/x``.

A playbook declares its own sinks under ``notifications`` (name → spec);
:func:`declared_sinks` builds them, with ``${NAME}`` read from the environment
so that secrets stay out of the playbook, and :func:`combine_sinks` lets
command-line sinks replace declared ones of the same name.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, TextIO

from playbook.errors import EscalationError, NotificationError

__all__ = [
    "ConsoleSink",
    "EmailSink",
    "JsonLinesSink",
    "Notification",
    "Sink",
    "WebhookSink",
    "combine_sinks",
    "declared_sinks",
    "parse_sink",
]

USER_AGENT = "playbook-escalations/1"


@dataclass(frozen=True, slots=True)
class Notification:
    """One escalation to tell people about: a stable delivery id, a text and the structure."""

    delivery_id: str
    text: str
    escalation: Mapping[str, Any]
    subject: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON body sent to webhooks and written to files."""
        return {"id": self.delivery_id, "text": self.text, "escalation": dict(self.escalation)}


class Sink(Protocol):
    """Something that delivers notifications; ``name`` keys its rows in the outbox."""

    @property
    def name(self) -> str:
        """The sink's name (unique among the sinks of one sweep)."""
        ...

    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` or raise :class:`~playbook.errors.NotificationError`."""
        ...


@dataclass(slots=True)
class ConsoleSink:
    """Writes one line per notification to a text stream the caller owns (the CLI's stdout)."""

    stream: TextIO
    name: str = "console"

    def send(self, notification: Notification) -> None:
        """Write the notification's text as one line."""
        self.stream.write(notification.text.replace("\n", " ") + "\n")
        self.stream.flush()


@dataclass(slots=True)
class JsonLinesSink:
    """Appends one JSON object per notification to a file (created when missing)."""

    path: Path
    name: str = "jsonl"

    def send(self, notification: Notification) -> None:
        """Append the notification as one line of JSON, flushed to disk."""
        line = json.dumps(notification.to_dict(), ensure_ascii=False, sort_keys=True)
        try:
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write(line + "\n")
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as error:
            raise NotificationError(
                f"cannot write to {self.path}: {error}",
                hint="check that the folder exists and is writable",
                details={"sink": self.name},
            ) from error


@dataclass(slots=True)
class WebhookSink:
    """POSTs the notification as JSON; retries timeouts, connection errors and 5xx with backoff.

    The body has a Slack-compatible ``text`` and the structured ``escalation``;
    the ``Idempotency-Key`` header carries the delivery id, so a receiver can
    drop the rare repeat of a delivery whose sweep died after sending it.
    """

    url: str
    name: str = "webhook"
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def send(self, notification: Notification) -> None:
        """POST once per attempt until a 2xx answer; raise NotificationError when all fail."""
        last = ""
        for attempt in range(1, self.attempts + 1):
            retry, last = self._post(notification)
            if not last:
                return
            if not retry or attempt == self.attempts:
                break
            self.sleep(self.backoff * 2 ** (attempt - 1))
        raise NotificationError(
            f"webhook {_safe_url(self.url)} failed after {attempt} attempt(s): {last}",
            hint="the delivery stays in the outbox and the next sweep tries again",
            details={"sink": self.name, "attempts": attempt},
        )

    def _post(self, notification: Notification) -> tuple[bool, str]:
        """One POST: (worth retrying, error text); the error text is empty on success."""
        body = json.dumps(notification.to_dict(), ensure_ascii=False).encode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in parse_sink)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Idempotency-Key": notification.delivery_id,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                answer.read()
        except urllib.error.HTTPError as error:
            return error.code >= 500 or error.code == 429, f"HTTP {error.code} {error.reason}"
        except TimeoutError:
            return True, f"no answer within {self.timeout:g} s"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return True, f"cannot connect: {reason}"
        return False, ""


@dataclass(slots=True)
class EmailSink:
    """Sends one plain-text email per notification over SMTP (optionally with STARTTLS)."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    name: str = "email"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    def send(self, notification: Notification) -> None:
        """Send the email; raise NotificationError when the server cannot be used."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = notification.subject or notification.text.split("\n")[0][:120]
        message["Message-ID"] = f"<{notification.delivery_id}@playbook>"
        message.set_content(
            notification.text
            + "\n\n"
            + json.dumps(dict(notification.escalation), ensure_ascii=False, indent=2)
        )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
                if self.starttls:
                    server.starttls()
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            raise NotificationError(
                f"email through {self.host}:{self.port} failed: {error}",
                hint="the delivery stays in the outbox and the next sweep tries again",
                details={"sink": self.name},
            ) from error


def parse_sink(spec: str, *, console: TextIO | None = None) -> Sink:
    """The sink a command-line ``spec`` names (see the module docstring for the forms).

    ``console`` is the stream of the ``console`` sink. Raises
    :class:`~playbook.errors.EscalationError` for a spec that names no sink.
    """
    name, body = _split_name(spec.strip())
    if body == "console":
        if console is None:
            raise EscalationError("the console sink needs an output stream")
        return ConsoleSink(console, name=name or "console")
    if body.startswith("jsonl:"):
        return JsonLinesSink(Path(body[len("jsonl:") :]).expanduser(), name=name or "jsonl")
    if body.startswith("webhook:"):
        body = body[len("webhook:") :]
    if body.startswith(("http://", "https://")):
        return WebhookSink(body, name=name or "webhook")
    if body.startswith(("smtp://", "email:smtp://")):
        return _email_sink(body.removeprefix("email:"), name or "email")
    raise EscalationError(
        f"unknown sink {spec!r}",
        hint="use console, jsonl:PATH, webhook:URL or smtp://HOST:PORT?from=ADDR&to=ADDR",
    )


def declared_sinks(
    notifications: Mapping[str, str],
    environ: Mapping[str, str],
    *,
    console: TextIO | None = None,
) -> list[Sink]:
    """The sinks a playbook declares (``notifications``: name → spec), in order.

    ``${NAME}`` in a spec is replaced by ``environ["NAME"]``. Raises
    :class:`~playbook.errors.EscalationError` for a variable that is not set
    or a spec that names no sink.
    """
    return [
        parse_sink(f"{name}={_expand(name, spec, environ)}", console=console)
        for name, spec in notifications.items()
    ]


def combine_sinks(declared: Sequence[Sink], given: Sequence[Sink]) -> list[Sink]:
    """``declared`` then ``given``; a given sink replaces the declared one of the same name.

    Raises :class:`~playbook.errors.EscalationError` when two ``given`` sinks share a name.
    """
    names = [sink.name for sink in given]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise EscalationError(
            f"two sinks are named {twice[0]!r}",
            hint="name them: --sink NAME=SPEC (e.g. --sink ops=webhook:https://...)",
        )
    return [sink for sink in declared if sink.name not in names] + list(given)


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(name: str, spec: str, environ: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable not in environ:
            raise EscalationError(
                f"the playbook's sink {name!r} needs the environment variable {variable}, "
                "which is not set",
                hint=f"export {variable}=... before the sweep, or replace the sink with "
                f"--sink {name}=SPEC",
            )
        return environ[variable]

    return _VARIABLE.sub(value, spec)


def _split_name(spec: str) -> tuple[str | None, str]:
    head, sep, rest = spec.partition("=")
    if sep and head and head.replace("_", "").replace("-", "").isalnum() and ":" not in head:
        return head, rest
    return None, spec


def _email_sink(url: str, name: str) -> EmailSink:
    parsed = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parsed.query)
    sender = (query.get("from") or [""])[0]
    recipients = tuple(
        address.strip()
        for value in query.get("to", [])
        for address in value.split(",")
        if address.strip()
    )
    if not parsed.hostname or not sender or not recipients:
        raise EscalationError(
            f"the email sink {url!r} needs a host, a from address and at least one to address",
            hint="e.g. smtp://mail.example.com:587?from=crm@example.com&to=sales@example.com",
        )
    return EmailSink(
        host=parsed.hostname,
        port=parsed.port or 25,
        sender=sender,
        recipients=recipients,
        name=name,
        starttls=(query.get("starttls") or ["0"])[0] in ("1", "true", "yes"),
        username=os.environ.get("PLAYBOOK_SMTP_USER"),
        password=os.environ.get("PLAYBOOK_SMTP_PASSWORD"),
    )


def _safe_url(url: str) -> str:
    """The URL without its path and query, which often hold a secret token (Slack hooks)."""
    parsed = urllib.parse.urlsplit(url)
    return (
        f"{parsed.scheme}://{parsed.hostname or ''}{':' + str(parsed.port) if parsed.port else ''}"
    )
