"""Where escalation notifications go: the console, a JSON Lines file, a webhook, chat, email.

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
``wecom:URL``, ``dingtalk:URL``,            the chat service's own robot message (see
``feishu:URL``, ``teams:URL``               :mod:`playbook.escalation.chat`); a signing
                                            secret as ``secret=${NAME}`` in the URL
``smtp://HOST[:PORT]?from=A&to=B[,C]``      one email per notification (``starttls=1``
                                            for STARTTLS, ``smtps://`` for TLS; user and
                                            password from ``PLAYBOOK_SMTP_USER`` /
                                            ``PLAYBOOK_SMTP_PASSWORD``, sent only to
                                            ``PLAYBOOK_SMTP_HOST`` and only over TLS)
==========================================  ==============================================

A spec may be prefixed with ``NAME=`` to give the sink its own name (the
outbox is keyed by it), e.g. ``ops=webhook:https://hooks.example.com/x``.

A playbook declares its own sinks under ``notifications`` (name → spec);
:func:`declared_sinks` builds them, with ``${NAME}`` read from the environment
so that secrets stay out of the playbook, and :func:`combine_sinks` lets
command-line sinks replace declared ones of the same name.

What a sink may reach is the operator's decision, not the playbook's
(:class:`~playbook.escalation.policy.SinkPolicy`): a playbook's sinks read only
the environment variables the operator allows, write JSON Lines only inside
the operator's folder and post only to allowed hosts; no webhook reaches a
link-local or metadata address, a private one only when the operator allows,
and no redirect is followed. A webhook that resets, hangs, answers garbage or
closes mid-answer is a failed delivery that the next sweep retries.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, TextIO

from playbook.definition.sinkspec import CHAT_KINDS, secret_problem, split_spec, url_problem
from playbook.errors import ChatSinkError, EscalationError, NotificationError
from playbook.escalation.chat import SECRET_EXAMPLE, ChatSink, chat_sink
from playbook.escalation.notice import Notification
from playbook.escalation.policy import SinkPolicy
from playbook.escalation.posting import http_outcome, post, safe_url
from playbook.i18n import Message

__all__ = [
    "ChatSink",
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
        """Append the notification as one whole line of JSON, flushed to disk, or nothing.

        The line goes out in one ``write``; when it cannot be written whole (a
        full disk), the file is cut back to where it was, so no torn line is
        left for the next reader. A torn last line left by a crash (a delivery
        never confirmed, so the outbox sends it again) is cut off first.
        """
        line = json.dumps(notification.to_dict(), ensure_ascii=False, sort_keys=True) + "\n"
        data = line.encode("utf-8")
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # Several sweeps may append at once: the check, cut and write are one step.
                _lock(descriptor)
                start = _whole_lines_end(self.path, os.lseek(descriptor, 0, os.SEEK_END))
                os.ftruncate(descriptor, start)
                try:
                    written = os.write(descriptor, data)
                    if written != len(data):
                        raise OSError(f"only {written} of {len(data)} bytes were written")
                    os.fsync(descriptor)
                except OSError:
                    os.ftruncate(descriptor, start)
                    raise
            finally:
                os.close(descriptor)
        except OSError as error:
            raise NotificationError(
                Message("error.sinks.cannot_write", path=self.path, error=error),
                hint=Message("error.sinks.check_folder_exists_writable"),
                details={"sink": self.name},
            ) from error


@dataclass(slots=True)
class WebhookSink:
    """POSTs the notification as JSON; retries timeouts, connection errors and 5xx with backoff.

    The body has a Slack-compatible ``text`` and the structured ``escalation``;
    the ``Idempotency-Key`` header carries the delivery id, so a receiver can
    drop the rare repeat of a delivery whose sweep died after sending it. The
    host is resolved and checked against ``policy`` before each attempt and the
    request goes to the checked address; redirects are not followed.
    """

    url: str
    name: str = "webhook"
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    policy: SinkPolicy = field(default_factory=SinkPolicy.from_environ, repr=False)

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
            Message(
                "error.sinks.webhook_failed_after_attempt",
                safe_url=safe_url(self.url),
                attempt=attempt,
                last=last,
            ),
            hint=Message("error.sinks.delivery_stays_outbox_next"),
            details={"sink": self.name, "attempts": attempt},
        )

    def _post(self, notification: Notification) -> tuple[bool, str]:
        """One POST: (worth retrying, error text); the error text is empty on success."""
        body = json.dumps(notification.to_dict(), ensure_ascii=False).encode()
        headers = {"Idempotency-Key": notification.delivery_id}
        answer = post(self.name, self.url, body, headers, policy=self.policy, timeout=self.timeout)
        if answer.error:
            return answer.retry, answer.error
        return http_outcome(answer)


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
    tls: bool = False

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
            client = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
            with client(self.host, self.port, timeout=self.timeout) as server:
                if self.starttls and not self.tls:
                    server.starttls(context=ssl.create_default_context())
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            raise NotificationError(
                Message(
                    "error.sinks.email_through_failed", host=self.host, port=self.port, error=error
                ),
                hint=Message("error.sinks.delivery_stays_outbox_next"),
                details={"sink": self.name},
            ) from error


def parse_sink(
    spec: str,
    *,
    console: TextIO | None = None,
    policy: SinkPolicy | None = None,
    declared: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Sink:
    """The sink a ``spec`` names (see the module docstring for the forms).

    ``console`` is the stream of the ``console`` sink. ``declared`` marks a
    playbook's sink: its JSON Lines file must lie in the operator's folder and
    its webhook host among the allowed ones; a ``--sink`` of the operator may
    name any file. Raises :class:`~playbook.errors.EscalationError` for a spec
    that names no sink or that the policy refuses.
    """
    rules = policy if policy is not None else SinkPolicy.from_environ(environ)
    name, body = _split_name(spec.strip())
    kind, rest = split_spec(body)
    label = name or kind
    if kind == "console":
        if console is None:
            raise EscalationError(Message("error.sinks.console_sink_needs_output"))
        return ConsoleSink(console, name=name or "console")
    if kind == "jsonl":
        path = rules.jsonl_path(label, rest) if declared else Path(rest).expanduser()
        if path.is_dir():
            raise EscalationError(
                Message("error.sinks.sink_folder_not_file", label=label, path=path),
                hint=Message("error.sinks.name_file_jsonl_escalations"),
                details={"sink": label},
            )
        return JsonLinesSink(path, name=name or "jsonl")
    if kind == "webhook":
        _check_url(label, rest, ("https", "http"))
        if declared:
            rules.check_host(label, urllib.parse.urlsplit(rest).hostname or "")
        return WebhookSink(rest, name=name or "webhook", policy=rules)
    if kind in CHAT_KINDS:
        _check_url(label, rest, ("https", "http"))
        if declared:
            rules.check_host(label, urllib.parse.urlsplit(rest).hostname or "")
        env = os.environ if environ is None else environ
        return chat_sink(kind, rest, name or kind, rules, env)
    if kind == "smtp":
        _check_url(label, rest, ("smtp", "smtps"))
        return _email_sink(rest, name or "email", rules, os.environ if environ is None else environ)
    raise EscalationError(
        Message("error.sinks.unknown_sink", spec=spec),
        hint=Message("error.sinks.use_console_jsonl_path"),
    )


def _check_url(sink: str, url: str, schemes: tuple[str, ...]) -> None:
    problem = url_problem(url, schemes)
    if problem is not None:
        raise EscalationError(
            Message("error.sinks.sink", sink=sink, problem=problem), details={"sink": sink}
        )


def declared_sinks(
    notifications: Mapping[str, str],
    environ: Mapping[str, str],
    *,
    console: TextIO | None = None,
    policy: SinkPolicy | None = None,
) -> list[Sink]:
    """The sinks a playbook declares (``notifications``: name → spec), in order.

    ``${NAME}`` in a spec is replaced by ``environ["NAME"]`` when the policy
    lets playbooks read it. Raises :class:`~playbook.errors.EscalationError`
    for a variable that is not allowed or not set, a spec that names no sink,
    or one the policy refuses.
    """
    rules = policy if policy is not None else SinkPolicy.from_environ(environ)
    for name, spec in notifications.items():
        _check_secret(name, spec)
    return [
        parse_sink(
            f"{name}={_expand(name, spec, environ, rules)}",
            console=console,
            policy=rules,
            declared=True,
            environ=environ,
        )
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
            Message("error.sinks.two_sinks_are_named", twice=twice[0]),
            hint=Message("error.sinks.name_them_sink_name"),
        )
    return [sink for sink in declared if sink.name not in names] + list(given)


def _check_secret(name: str, spec: str) -> None:
    """Refuse a chat sink of a playbook whose ``secret=`` is written out, not ``${NAME}``."""
    kind, rest = split_spec(spec)
    problem = secret_problem(rest) if kind in CHAT_KINDS else None
    if problem is not None:
        raise ChatSinkError(
            Message("error.sinks.sink", sink=name, problem=problem),
            hint=Message("error.chat.secret_how", sink=name, example=SECRET_EXAMPLE),
            details={"sink": name},
        )


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(name: str, spec: str, environ: Mapping[str, str], policy: SinkPolicy) -> str:
    def value(match: re.Match[str]) -> str:
        variable = match.group(1)
        policy.check_variable(name, variable)
        if variable not in environ:
            raise EscalationError(
                Message(
                    "error.sinks.playbook_sink_needs_environment", name=name, variable=variable
                ),
                hint=Message(
                    "error.sinks.export_before_sweep_replace", variable=variable, name=name
                ),
            )
        return environ[variable]

    return _VARIABLE.sub(value, spec)


def _split_name(spec: str) -> tuple[str | None, str]:
    head, sep, rest = spec.partition("=")
    if sep and head and head.replace("_", "").replace("-", "").isalnum() and ":" not in head:
        return head, rest
    return None, spec


def _email_sink(url: str, name: str, policy: SinkPolicy, environ: Mapping[str, str]) -> EmailSink:
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
            Message("error.sinks.email_sink_needs_host", url=url),
            hint=Message("error.sinks.e_g_smtp_mail"),
        )
    tls = parsed.scheme == "smtps"
    starttls = (query.get("starttls") or ["0"])[0] in ("1", "true", "yes")
    login = policy.smtp_login(name, parsed.hostname, tls or starttls, environ)
    return EmailSink(
        host=parsed.hostname,
        port=parsed.port or (465 if tls else 25),
        sender=sender,
        recipients=recipients,
        name=name,
        starttls=starttls,
        username=login[0] if login else None,
        password=login[1] if login else None,
        tls=tls,
    )


def _lock(descriptor: int) -> None:
    """An exclusive lock on the open file, released when it is closed (POSIX; else none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: appends are not shared there
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)


def _whole_lines_end(path: Path, size: int) -> int:
    """Where the last whole line of the file ends (``size`` when it ends with a newline)."""
    if size == 0:
        return 0
    with path.open("rb") as stream:
        position = size
        while position > 0:
            step = min(64 * 1024, position)
            stream.seek(position - step)
            chunk = stream.read(step)
            if position == size and chunk.endswith(b"\n"):
                return size
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                return position - step + cut + 1
            position -= step
    return 0
