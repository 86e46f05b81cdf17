"""What ``spec_problem`` says of a playbook's sink spec from its text alone (PB319)."""

from __future__ import annotations

import pytest

from playbook.definition.sinkspec import spec_problem


@pytest.mark.parametrize(
    "spec",
    [
        "console",
        "jsonl:escalations.jsonl",
        "jsonl:team/escalations.jsonl",
        "webhook:${PLAYBOOK_SINK_SLACK_URL}",
        "${PLAYBOOK_SINK_URL}",
        "webhook:https://${HOOK_HOST}/services/x",
        "https://hooks.example.com/services/T000",
        "smtp://mail.example.com:587?from=crm@example.com&to=sales@example.com",
        "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${PLAYBOOK_SINK_WECOM_KEY}",
        "dingtalk:${PLAYBOOK_SINK_DT_URL}&secret=${PLAYBOOK_SINK_DT_SECRET}",
        "feishu:https://open.feishu.cn/open-apis/bot/v2/hook/x?secret=${PLAYBOOK_SINK_FS}",
        "teams:${PLAYBOOK_SINK_TEAMS_URL}",
    ],
)
def test_accepted_specs(spec: str) -> None:
    """Specs the sweep may send to (a URL from the environment is checked when it runs)."""
    assert spec_problem(spec) is None


@pytest.mark.parametrize(
    ("spec", "mentions"),
    [
        ("jsonl:../x.jsonl", "climbs out"),
        ("jsonl:/var/log/x.jsonl", "absolute"),
        ("jsonl:~/x.jsonl", "~"),
        ("webhook:http://169.254.169.254/latest", "link-local"),
        ("webhook:http://metadata.google.internal/", "metadata"),
        ("webhook:ftp://example.com/", "must start with"),
        ("smtp://user:secret@mail.example.com:25?from=a@b.c&to=d@e.f", "credentials"),
        ("dingtalk:https://oapi.dingtalk.com/robot/send?access_token=${T}&secret=SEC1", "secret="),
        ("feishu:https://open.feishu.cn/hook/x?secret=abc", "written in the playbook"),
        ("dingtalk:${PLAYBOOK_SINK_DT_URL}&secret=SEC1", "written in the playbook"),
        ("teams:http://169.254.169.254/x", "link-local"),
        ("wecom:ftp://qyapi.weixin.qq.com/x", "must start with"),
    ],
)
def test_refused_specs(spec: str, mentions: str) -> None:
    """Specs no operator setting makes safe: their reason names the problem."""
    why = spec_problem(spec)
    assert why is not None
    assert mentions in str(why)  # the English text of the message
