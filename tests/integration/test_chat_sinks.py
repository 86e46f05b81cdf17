"""The WeCom, DingTalk, Feishu and Teams sinks against scripted HTTP servers on 127.0.0.1.

Each server keeps what it received (path, query, headers, JSON body) and
answers from a script: ``ok`` (the service's own success answer), an HTTP
status, one of the service's JSON codes on HTTP 200, or a hang. Signatures are
recomputed here, from the secret and the timestamp the request carries, with
nothing but :mod:`hmac`; expected bodies are written out literally.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from playbook.definition.files import playbook_from_text
from playbook.errors import ChatSigningError, ChatSinkError, EscalationError, NotificationError
from playbook.escalation.chat import ChatSink
from playbook.escalation.notice import ChatCard, Notification
from playbook.escalation.sinks import declared_sinks, parse_sink
from playbook.escalation.sweep import sweep
from playbook.model import Playbook
from playbook.store.db import Database
from playbook.store.repository import DealStore
from playbook.values import Actor

SECRET = "SEC0123456789abcdef"
CARD = ChatCard(
    title="[sla] deal D-1: Stale lead (level 1)",
    facts=(("Deal", "Acme [renewal] (D-1)"), ("Amount", "1,200,000.00 CNY"), ("Stage", "Lead")),
    message="Move it",
    deal_path="/deals/7",
    link_label="Open the deal",
)
NOTE = Notification("sla-escalation-7-delivery-9", "text", {"rule": "stale"}, card=CARD)
LINK = "https://crm.example.com/deals/7"

OK = {
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success", "data": {}},
    "teams": None,
}


@dataclass
class Robot:
    """What the scripted server answers, in order, and what it received."""

    service: str
    answers: list[Any]
    secret: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


def _signature_ok(robot: Robot, query: dict[str, str], body: dict[str, Any]) -> bool:
    """The service's own check of a signed request (only when the robot has a secret)."""
    if robot.secret is None:
        return True
    if robot.service == "dingtalk":
        text = f"{query.get('timestamp')}\n{robot.secret}".encode()
        digest = hmac.new(robot.secret.encode(), text, hashlib.sha256).digest()
        return query.get("sign") == base64.b64encode(digest).decode()
    key = f"{body.get('timestamp')}\n{robot.secret}".encode()
    digest = hmac.new(key, b"", hashlib.sha256).digest()
    return body.get("sign") == base64.b64encode(digest).decode()


def _answer(robot: Robot, answer: Any, signed: bool) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one scripted answer."""
    if not signed:
        code = {"dingtalk": {"errcode": 310000, "errmsg": "sign not match"}}.get(
            robot.service, {"code": 19021, "msg": "sign match fail or timestamp is not within"}
        )
        return 200, {}, json.dumps(code).encode()
    if answer == "ok":
        ok = OK[robot.service]
        return (202, {}, b"") if ok is None else (200, {}, json.dumps(ok).encode())
    if isinstance(answer, int):
        return answer, {"Retry-After": "2"} if answer == 429 else {}, b"busy"
    return 200, {}, json.dumps(answer).encode()


@pytest.fixture
def robot(request: pytest.FixtureRequest) -> Iterator[Robot]:
    """A local chat robot for ``(service, answers[, secret])``; its URL is ``robot.url``."""
    service, answers, *secret = request.param
    script = Robot(service, list(answers), secret[0] if secret else None)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.received.append(
                {"path": parts.path, "query": query, "headers": dict(self.headers), "body": body}
            )
            answer = script.answers.pop(0) if script.answers else "ok"
            if answer == "hang":
                script.release.wait(5)
                return
            status, headers, data = _answer(script, answer, _signature_ok(script, query, body))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    paths = {
        "wecom": "/cgi-bin/webhook/send?key=KEY",
        "dingtalk": "/robot/send?access_token=TOKEN",
        "feishu": "/open-apis/bot/v2/hook/HOOK",
        "teams": "/workflows/x/triggers/manual/paths/invoke?sig=SIG",
    }
    script.url = f"http://127.0.0.1:{server.server_address[1]}{paths[service]}"
    yield script
    script.release.set()
    server.shutdown()
    server.server_close()


def sink_for(robot: Robot, waits: list[float], secret: str | None = None, **env: str) -> ChatSink:
    """The sink a spec names for ``robot``, with short timeouts and waits noted, not slept."""
    url = robot.url
    if secret is not None:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"secret": secret})
    environ = {**os.environ, "PLAYBOOK_BASE_URL": "https://crm.example.com/", **env}
    sink = parse_sink(f"{robot.service}:{url}", environ=environ)
    assert isinstance(sink, ChatSink)
    sink.timeout, sink.backoff, sink.rate_wait, sink.interval = 0.5, 0.25, 5.0, 0.0
    sink.sleep = waits.append
    return sink


WECOM_TEXT = (
    "**\\[sla\\] deal D-1: Stale lead (level 1)**\n"
    "> Deal: Acme \\[renewal\\] (D-1)\n"
    "> Amount: 1,200,000.00 CNY\n"
    "> Stage: Lead\n"
    "Move it\n"
    f"[Open the deal]({LINK})"
)


@pytest.mark.parametrize("robot", [("wecom", ["ok"])], indirect=True)
def test_wecom_posts_a_group_robot_markdown_message(robot: Robot) -> None:
    """``{"msgtype": "markdown", "markdown": {"content": ...}}`` to the robot's own URL."""
    sink_for(robot, []).send(NOTE)
    [got] = robot.received
    assert got["path"] == "/cgi-bin/webhook/send"
    assert got["query"] == {"key": "KEY"}
    assert got["body"] == {"msgtype": "markdown", "markdown": {"content": WECOM_TEXT}}
    assert got["headers"]["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("robot", [("dingtalk", ["ok"], SECRET)], indirect=True)
def test_dingtalk_posts_markdown_signed_in_the_query(robot: Robot) -> None:
    """markdown with title and text; ``timestamp`` (ms) and ``sign`` recomputed here."""
    before = int(time.time() * 1000)
    sink_for(robot, [], secret=SECRET).send(NOTE)
    after = int(time.time() * 1000)
    [got] = robot.received
    assert got["body"] == {
        "msgtype": "markdown",
        "markdown": {"title": CARD.title, "text": WECOM_TEXT.replace("\n", "\n\n")},
    }
    query = got["query"]
    assert set(query) == {"access_token", "timestamp", "sign"}  # the secret is never sent
    assert before <= int(query["timestamp"]) <= after
    signed = f"{query['timestamp']}\n{SECRET}".encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest())
    assert query["sign"] == expected.decode()
    assert SECRET not in json.dumps(got)


@pytest.mark.parametrize("robot", [("feishu", ["ok"], SECRET)], indirect=True)
def test_feishu_posts_an_interactive_card_signed_in_the_body(robot: Robot) -> None:
    """``msg_type: interactive`` with header, facts, message and button; the sign checks out."""
    before = int(time.time())
    sink_for(robot, [], secret=SECRET).send(NOTE)
    [got] = robot.received
    body = got["body"]
    timestamp, sign = body.pop("timestamp"), body.pop("sign")
    assert before <= int(timestamp) <= int(time.time())
    key = f"{timestamp}\n{SECRET}".encode()
    assert sign == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    facts = "**Deal**: Acme \\[renewal\\] (D-1)\n**Amount**: 1,200,000.00 CNY\n**Stage**: Lead"
    assert body == {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": CARD.title}, "template": "red"},
            "elements": [
                {"tag": "div", "text": {"tag": "lark_md", "content": facts}},
                {"tag": "div", "text": {"tag": "plain_text", "content": "Move it"}},
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": "Open the deal"},
                            "type": "primary",
                            "url": LINK,
                        }
                    ],
                },
            ],
        },
    }


@pytest.mark.parametrize("robot", [("teams", ["ok"])], indirect=True)
def test_teams_posts_an_adaptive_card_message(robot: Robot) -> None:
    """A ``message`` with one Adaptive Card attachment (Workflows answers 202 Accepted)."""
    sink_for(robot, []).send(NOTE)
    [got] = robot.received
    assert got["query"] == {"sig": "SIG"}
    assert got["body"] == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": CARD.title, "weight": "Bolder", "wrap": True},
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Deal", "value": "Acme [renewal] (D-1)"},
                                {"title": "Amount", "value": "1,200,000.00 CNY"},
                                {"title": "Stage", "value": "Lead"},
                            ],
                        },
                        {"type": "TextBlock", "text": "Move it", "wrap": True},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "Open the deal", "url": LINK}],
                },
            }
        ],
    }


@pytest.mark.parametrize("robot", [("wecom", ["ok"])], indirect=True)
def test_without_a_base_url_the_message_has_no_link(robot: Robot) -> None:
    """No PLAYBOOK_BASE_URL: the same markdown without its last (link) line."""
    sink = parse_sink(f"wecom:{robot.url}", environ={"PLAYBOOK_ALLOW_PRIVATE_SINKS": "1"})
    assert isinstance(sink, ChatSink)
    sink.send(NOTE)
    content = robot.received[0]["body"]["markdown"]["content"]
    assert content == WECOM_TEXT.rsplit("\n", 1)[0]


@pytest.mark.parametrize(
    ("robot", "waits"),
    [
        (("wecom", [429, "ok"]), [2.0]),  # Retry-After: 2
        (("teams", [429, "ok"]), [2.0]),
        (("wecom", [{"errcode": 45009, "errmsg": "api freq out of limit"}, "ok"]), [5.0]),
        (("dingtalk", [{"errcode": 130101, "errmsg": "send too fast"}, "ok"]), [5.0]),
        (("feishu", [{"code": 9499, "msg": "too many request"}, "ok"]), [5.0]),
        (("feishu", [{"code": 11232, "msg": "frequency limited"}] * 2 + ["ok"]), [5.0, 10.0]),
    ],
    indirect=["robot"],
)
def test_too_many_requests_backs_off_and_tries_again(robot: Robot, waits: list[float]) -> None:
    """HTTP 429 waits its Retry-After; a service's own rate-limit code a doubling wait."""
    noted: list[float] = []
    sink_for(robot, noted).send(NOTE)
    assert noted == waits
    assert len(robot.received) == len(waits) + 1


@pytest.mark.parametrize(
    ("robot", "posts"),
    [
        (("dingtalk", [500, "ok"]), 2),
        (("feishu", ["hang", "ok"]), 2),
        (("wecom", [502, 503, "ok"]), 3),
        (("teams", ["hang", 500, "ok"]), 3),
    ],
    indirect=["robot"],
)
def test_server_errors_and_hangs_are_retried_with_backoff(robot: Robot, posts: int) -> None:
    """A 5xx or no answer is tried again after 0.25 s, then 0.5 s, until it is accepted."""
    noted: list[float] = []
    sink_for(robot, noted).send(NOTE)
    assert len(robot.received) == posts
    assert noted == [0.25, 0.5][: posts - 1]


@pytest.mark.parametrize(
    "robot",
    [("dingtalk", [500, 500, 500]), ("feishu", [{"code": 9499, "msg": "too many"}] * 3)],
    indirect=True,
)
def test_a_sink_gives_up_after_its_attempts_without_showing_the_token(robot: Robot) -> None:
    """NotificationError (PB702) naming the service, the sink and host, never the token."""
    with pytest.raises(NotificationError, match="after 3 attempt") as raised:
        sink_for(robot, []).send(NOTE)
    assert raised.value.code == "PB702"
    assert robot.service in str(raised.value).lower()
    assert "TOKEN" not in str(raised.value)
    assert "HOOK" not in str(raised.value)


@pytest.mark.parametrize(
    "robot",
    [("wecom", [{"errcode": 93000, "errmsg": "invalid webhook url"}])],
    indirect=True,
)
def test_another_code_on_http_200_is_a_failure_not_retried_at_once(robot: Robot) -> None:
    """A code that waiting cannot fix fails the delivery now; the outbox retries next sweep."""
    with pytest.raises(NotificationError, match="WeCom code 93000: invalid webhook url"):
        sink_for(robot, []).send(NOTE)
    assert len(robot.received) == 1


@pytest.mark.parametrize(
    ("robot", "secret"),
    [
        (("dingtalk", ["ok"], SECRET), "SECwrong"),
        (("dingtalk", ["ok"], SECRET), None),
        (("feishu", ["ok"], SECRET), "wrong"),
        (("feishu", ["ok"], SECRET), None),
    ],
    indirect=["robot"],
)
def test_a_wrong_or_missing_secret_is_a_clear_error_naming_the_sink(
    robot: Robot, secret: str | None
) -> None:
    """The service refuses the signature: ChatSigningError (PB710) at once, naming the sink."""
    with pytest.raises(ChatSigningError) as raised:
        sink_for(robot, [], secret=secret).send(NOTE)
    error = raised.value
    assert error.code == "PB710"
    assert error.details["sink"] == robot.service
    assert f"signature of sink '{robot.service}'" in error.message
    assert "secret=${NAME}" in (error.hint or "")
    assert isinstance(error, NotificationError)  # kept in the outbox, like any failed delivery
    assert len(robot.received) == 1
    assert "签名" in error.message_in("zh")


@pytest.mark.parametrize("robot", [("dingtalk", ["ok"])], indirect=True)
def test_the_sink_policy_refuses_loopback_without_the_operators_switch(
    robot: Robot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chat sinks go through the same policy as webhooks: no private address by default."""
    monkeypatch.delenv("PLAYBOOK_ALLOW_PRIVATE_SINKS")
    with pytest.raises(NotificationError, match=r"127\.0\.0\.1"):
        sink_for(robot, []).send(NOTE)
    assert robot.received == []


@pytest.mark.parametrize(
    ("spec", "env", "code", "words"),
    [
        (
            "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=T&secret=",
            {},
            "PB711",
            "empty",
        ),
        ("wecom:https://qyapi.weixin.qq.com/x?key=K&secret=S", {}, "PB711", "sign nothing"),
        (
            "teams:https://example.com/x",
            {"PLAYBOOK_BASE_URL": "ftp://x"},
            "PB711",
            "PLAYBOOK_BASE_URL",
        ),
        ("feishu:ftp://open.feishu.cn/x", {}, "PB700", "must start"),
    ],
)
def test_chat_specs_that_cannot_be_used_are_refused_naming_the_sink(
    spec: str, env: dict[str, str], code: str, words: str
) -> None:
    with pytest.raises(EscalationError) as raised:
        parse_sink(spec, environ=env)
    assert raised.value.code == code
    assert words in raised.value.message
    assert spec.split(":")[0] in raised.value.message.lower()


def test_a_playbook_reads_chat_secrets_from_the_environment_only() -> None:
    """``secret=${NAME}`` is read at sweep time; a secret written out is refused (PB711)."""
    url = "https://oapi.dingtalk.com/robot/send?access_token=${PLAYBOOK_SINK_DT_TOKEN}"
    given = {"ding": f"dingtalk:{url}&secret=${{PLAYBOOK_SINK_DT_SECRET}}"}
    env = {"PLAYBOOK_SINK_DT_TOKEN": "tok", "PLAYBOOK_SINK_DT_SECRET": SECRET}
    [sink] = declared_sinks(given, env)
    assert isinstance(sink, ChatSink)
    assert (sink.name, sink.secret) == ("ding", SECRET)
    assert sink.url == "https://oapi.dingtalk.com/robot/send?access_token=tok"
    with pytest.raises(EscalationError, match="needs the environment variable"):
        declared_sinks(given, {"PLAYBOOK_SINK_DT_TOKEN": "tok"})
    with pytest.raises(ChatSinkError, match="written in the playbook") as raised:
        declared_sinks({"ding": f"dingtalk:{url}&secret=SEC123"}, env)
    assert raised.value.details["sink"] == "ding"


CHAT_PLAYBOOK = """\
playbook: chat-test
version: 1
title: {en: Chat test, zh: 群通知测试}
language: zh
currency: CNY
timezone: UTC
roles:
  sales_rep: {title: Rep}
fields:
  name: {type: string}
  amount: {type: decimal}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}}
  - {id: won, title: Won, outcome: won}
escalations:
  - id: stale
    title: {en: Stale lead, zh: 线索停滞}
    trigger: {in_stage: {days: 3}}
    stages: [lead]
    levels:
      - notify: [owner]
        message: {en: Move it, zh: 请推进}
notifications:
  team: "dingtalk:${PLAYBOOK_SINK_DT_URL}&secret=${PLAYBOOK_SINK_DT_SECRET}"
"""


def _store_with_a_deal(database: Database) -> tuple[Playbook, int]:
    """The chat playbook and a store with deal D-1 (named, with an amount) since 2 March."""
    playbook = playbook_from_text(CHAT_PLAYBOOK, "chat-test.yaml")
    deal = DealStore(database).add_deal(
        playbook,
        actor=Actor("ann", frozenset({"sales_rep"})),
        now=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        external_id="D-1",
        owner="ann",
        fields={"name": "华东电网 [二期]", "amount": "1234567.5"},
    )
    return playbook, deal.id


def _declared_sink(playbook: Playbook, robot: Robot, secret: str) -> ChatSink:
    env = {
        "PLAYBOOK_SINK_DT_URL": robot.url,
        "PLAYBOOK_SINK_DT_SECRET": secret,
        "PLAYBOOK_BASE_URL": "https://crm.example.com",
        "PLAYBOOK_ALLOW_PRIVATE_SINKS": "1",
    }
    [sink] = declared_sinks(playbook.notifications, env)
    assert isinstance(sink, ChatSink)
    sink.sleep, sink.interval = (lambda _: None), 0.0
    return sink


NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("robot", [("dingtalk", [500, 500, 500], SECRET)], indirect=True)
def test_the_sweep_delivers_a_chinese_card_once_after_the_robot_recovers(
    robot: Robot, database: Database
) -> None:
    """Three 500s fail the first sweep (recorded); the next delivers once; a third sends nothing.

    The message is in the playbook's language (zh) with the deal's name, its
    amount formatted, the stage's title, the reason and the link to the deal.
    """
    playbook, deal_id = _store_with_a_deal(database)
    sink = _declared_sink(playbook, robot, SECRET)
    first = sweep(database, playbook, now=NOW, sinks=[sink])
    assert (first.deliveries.sent, first.deliveries.failed) == (0, 1)
    assert "HTTP 500" in first.deliveries.errors[0]
    second = sweep(database, playbook, now=NOW.replace(hour=13), sinks=[sink])
    assert (second.deliveries.sent, second.deliveries.pending) == (1, 0)
    third = sweep(database, playbook, now=NOW.replace(hour=14), sinks=[sink])
    assert (third.fired, third.deliveries.sent) == ([], 0)
    assert len(robot.received) == 4  # three refused, one accepted
    text = robot.received[-1]["body"]["markdown"]["text"]
    assert text.split("\n\n") == [
        "**\\[chat-test\\] 商机 D-1：线索停滞（第 1 级）**",
        "> 商机：华东电网 \\[二期\\] (D-1)",
        "> 金额：1,234,567.50 CNY",
        "> 阶段：线索",
        "> 原因：自 2026-03-02 10:00 +00:00 起停留在「线索」阶段（已 3 天；规则：3 天）",
        "> 通知：负责人 ann",
        "请推进",
        f"[查看商机](https://crm.example.com/deals/{deal_id})",
    ]


@pytest.mark.parametrize("robot", [("dingtalk", [], SECRET)], indirect=True)
def test_a_wrong_secret_is_recorded_and_the_mended_sink_delivers_once(
    robot: Robot, database: Database
) -> None:
    """PB710 is kept in the outbox with the sink's name; with the right secret it goes, once."""
    playbook, _ = _store_with_a_deal(database)
    first = sweep(database, playbook, now=NOW, sinks=[_declared_sink(playbook, robot, "SECold")])
    assert (first.deliveries.sent, first.deliveries.failed) == (0, 1)
    assert first.deliveries.errors[0].startswith("team: DingTalk refused the signature of sink")
    mended = _declared_sink(playbook, robot, SECRET)
    second = sweep(database, playbook, now=NOW.replace(hour=13), sinks=[mended])
    assert (second.deliveries.sent, second.deliveries.pending) == (1, 0)
    third = sweep(database, playbook, now=NOW.replace(hour=14), sinks=[mended])
    assert third.deliveries.sent == 0
    assert len(robot.received) == 2  # one refused signature, one delivery
