"""The webhook and email sinks against real servers on 127.0.0.1, started by the tests.

The HTTP server is :mod:`http.server` in a thread, scripted to answer 200,
500 or to hang; the SMTP server is a minimal one written here on a socket
(it speaks just enough SMTP for :mod:`smtplib`).
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from playbook.definition.validate import load
from playbook.errors import EscalationError, NotificationError
from playbook.escalation.sinks import (
    ConsoleSink,
    EmailSink,
    JsonLinesSink,
    Notification,
    WebhookSink,
    combine_sinks,
    declared_sinks,
    parse_sink,
)

NOTE = Notification(
    delivery_id="sla-escalation-7-delivery-9",
    text="[sla] deal D-1: 线索停滞 (level 1)\nWhy: in stage Lead since 2026-03-02.",
    escalation={"rule": "stale", "deal": "D-1", "level": 1, "notified": [{"as": "owner"}]},
    subject="[sla] 线索停滞: deal D-1",
)


class Hook:
    """What the scripted HTTP server answers, in order, and what it received."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.received: list[tuple[dict[str, str], Any]] = []
        self.release = threading.Event()


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[tuple[str, Hook]]:
    """A local HTTP server answering ``ok``, ``500`` or ``hang`` per request; yields its URL."""
    script = Hook(list(getattr(request, "param", ["ok"])))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            script.received.append((dict(self.headers), json.loads(body)))
            answer = script.answers.pop(0) if script.answers else "ok"
            if answer == "hang":
                script.release.wait(5)
                return
            self.send_response(500 if answer == "500" else 200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/SECRET", script
    script.release.set()
    server.shutdown()
    server.server_close()


def quick(url: str, waits: list[float] | None = None) -> WebhookSink:
    """A webhook sink with short timeouts; the backoff waits are noted in ``waits``, not slept."""
    noted = waits if waits is not None else []
    return WebhookSink(url, timeout=0.5, attempts=3, backoff=0.25, sleep=noted.append)


@pytest.mark.parametrize("hook", [["ok"]], indirect=True)
def test_webhook_posts_slack_text_and_the_structured_escalation(hook: tuple[str, Hook]) -> None:
    """One POST: JSON with ``text`` (Slack) and ``escalation``, and an idempotency key."""
    url, script = hook
    quick(url).send(NOTE)
    [(headers, body)] = script.received
    assert body["text"] == NOTE.text
    assert body["escalation"]["rule"] == "stale"
    assert headers["Idempotency-Key"] == NOTE.delivery_id
    assert headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("hook", "posts"),
    [(["500", "ok"], 2), (["hang", "ok"], 2), (["500", "500", "ok"], 3)],
    indirect=["hook"],
)
def test_webhook_retries_server_errors_and_timeouts(hook: tuple[str, Hook], posts: int) -> None:
    """A 500 or a hang is retried with a doubling backoff until the server answers 2xx."""
    url, script = hook
    waits: list[float] = []
    quick(url, waits).send(NOTE)
    assert len(script.received) == posts
    assert waits == [0.25, 0.5][: posts - 1]


@pytest.mark.parametrize("hook", [["500", "500", "500"], ["hang", "hang", "hang"]], indirect=True)
def test_webhook_gives_up_with_a_clear_error_that_hides_the_token(
    hook: tuple[str, Hook],
) -> None:
    """After three failed attempts: NotificationError naming the host, never the secret path."""
    url, script = hook
    with pytest.raises(NotificationError, match="after 3 attempt") as raised:
        quick(url).send(NOTE)
    assert "SECRET" not in str(raised.value)
    assert len(script.received) == 3


def test_webhook_to_a_closed_port_fails_cleanly() -> None:
    """Nobody listening: the error says it cannot connect."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NotificationError, match="cannot connect"):
        quick(f"http://127.0.0.1:{port}/x").send(NOTE)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    server: _SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 test ESMTP")
        envelope: dict[str, Any] = {"to": []}
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            verb = line.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 test")
            elif verb == "MAIL":
                envelope["from"] = line.split(":", 1)[1].strip(" <>")
                self.reply("250 ok")
            elif verb == "RCPT":
                envelope["to"].append(line.split(":", 1)[1].strip(" <>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk
                envelope["message"] = message_from_bytes(data)
                self.server.mail.append(envelope)
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not here")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.mail: list[dict[str, Any]] = []


@pytest.fixture
def smtp() -> Iterator[_SmtpServer]:
    """A local SMTP server in a thread, keeping every message it receives."""
    server = _SmtpServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_email_sink_sends_one_utf8_message_per_notification(smtp: _SmtpServer) -> None:
    """The message reaches the server with sender, recipients, a Chinese subject and the body."""
    port = smtp.server_address[1]
    sink = parse_sink(
        f"smtp://127.0.0.1:{port}?from=crm@example.com&to=a@example.com,b@example.com"
    )
    assert isinstance(sink, EmailSink)
    sink.send(NOTE)
    [mail] = smtp.mail
    assert mail["from"] == "crm@example.com"
    assert mail["to"] == ["a@example.com", "b@example.com"]
    message: Message = mail["message"]
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(message["Subject"]))) == NOTE.subject
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "线索停滞" in body.decode("utf-8")


def test_email_sink_to_a_dead_server_fails_cleanly() -> None:
    """A refused connection is a NotificationError (the delivery is retried later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = EmailSink("127.0.0.1", port, "a@example.com", ("b@example.com",), timeout=1)
    with pytest.raises(NotificationError, match="email through"):
        sink.send(NOTE)


@pytest.mark.parametrize(
    ("spec", "kind", "name"),
    [
        ("jsonl:out.jsonl", JsonLinesSink, "jsonl"),
        ("webhook:https://hooks.example.com/x", WebhookSink, "webhook"),
        ("https://hooks.example.com/x", WebhookSink, "webhook"),
        ("ops=webhook:https://hooks.example.com/x", WebhookSink, "ops"),
        ("smtp://mail:25?from=a@x.com&to=b@x.com", EmailSink, "email"),
    ],
)
def test_parse_sink_reads_every_form(spec: str, kind: type, name: str) -> None:
    """Each command-line form gives the right sink and name."""
    sink = parse_sink(spec)
    assert isinstance(sink, kind)
    assert sink.name == name


@pytest.mark.parametrize("spec", ["ftp://x", "smtp://mail:25?from=a@x.com", "console"])
def test_parse_sink_refuses_what_it_cannot_use(spec: str) -> None:
    """Unknown schemes, an email without recipients, a console without a stream."""
    with pytest.raises(EscalationError):
        parse_sink(spec)


def test_a_playbook_declares_every_form_of_sink_with_secrets_from_the_environment() -> None:
    """`notifications:` of the valid example: one sink per entry, named by its key."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "valid" / "notifications.yaml"
    playbook = load(example)
    hook = "https://hooks.slack.com/services/T1/B2/secret"
    sinks = declared_sinks(
        playbook.notifications, {"PLAYBOOK_SINK_SLACK_URL": hook}, console=_Out()
    )
    by_name = {sink.name: sink for sink in sinks}
    assert list(by_name) == ["team_chat", "audit", "mail", "screen", "plain-url"]
    assert isinstance(by_name["team_chat"], WebhookSink)
    assert by_name["team_chat"].url == hook
    assert isinstance(by_name["audit"], JsonLinesSink)
    assert isinstance(by_name["mail"], EmailSink)
    assert by_name["mail"].starttls
    assert isinstance(by_name["screen"], ConsoleSink)
    with pytest.raises(
        EscalationError, match="needs the environment variable PLAYBOOK_SINK_SLACK_URL"
    ):
        declared_sinks(playbook.notifications, {}, console=_Out())


def test_command_line_sinks_replace_declared_ones_by_name() -> None:
    declared = declared_sinks({"audit": "jsonl:a.jsonl", "ops": "console"}, {}, console=_Out())
    given = [parse_sink("audit=jsonl:b.jsonl")]
    combined = combine_sinks(declared, given)
    assert [(sink.name, type(sink).__name__) for sink in combined] == [
        ("ops", "ConsoleSink"),
        ("audit", "JsonLinesSink"),
    ]
    assert combined[1] is given[0]
    with pytest.raises(EscalationError, match="two sinks are named 'x'"):
        combine_sinks([], [parse_sink("x=jsonl:a"), parse_sink("x=jsonl:b")])


class _Out:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
