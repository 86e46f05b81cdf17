"""Evidence links: a ``format: url`` field holds http(s) links, refused otherwise (PB590),
and shown as a link in the handbook, the HTML KPI report and a deal's page."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.cli import main
from playbook.definition.files import playbook_from_text
from playbook.errors import DealFieldError, EvidenceLinkError
from playbook.render.deals import FieldRow, field_rows
from playbook.render.html import link_html
from playbook.safetext import web_link
from playbook.values import coerce_fields

PLAYBOOK = """\
playbook: links
version: 1
title: {en: Links, zh: 链接}
timezone: UTC
roles:
  rep: {title: {en: Sales rep, zh: 销售代表}}
fields:
  minutes: {type: string, format: url, title: {en: Meeting minutes, zh: 会议纪要}}
  note: {type: string, title: {en: Note, zh: 备注}}
  amount: {type: decimal}
stages:
  - id: lead
    title: {en: Lead, zh: 线索}
    actions:
      - {id: meet, title: {en: First meeting, zh: 首次会面}, role: rep, evidence: minutes}
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
kpis:
  - id: pipeline
    title: {en: Pipeline, zh: 管道}
    metric: pipeline_value
    field: amount
    period: year
"""
GOOD = "https://drive.example.com/file/d/1AbC?usp=sharing&x=1"


@pytest.mark.parametrize(
    "text",
    [GOOD, "http://files.example.cn/纪要/2026-03.pdf", "https://192.0.2.4:8443/share/x"],
)
def test_http_links_are_links(text: str) -> None:
    assert web_link(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "file:///etc/passwd",
        "drive.example.com/x",
        "https://",
        "https://user:pw@drive.example.com/x",
        "https://drive.example.com/a b",
        'https://x.example.com/"onmouseover=1',
        "https://x.example.com:99999/",
        "https://x.example.com/\x1b[31m",
        "https://x.example.com/" + "a" * 2000,
        "",
    ],
)
def test_everything_else_is_not(text: str) -> None:
    assert web_link(text) is None


def test_a_url_field_refuses_what_is_no_link_with_pb590() -> None:
    """PB590 (a DealFieldError) in both languages; a plain string field takes any text."""
    playbook = playbook_from_text(PLAYBOOK, "links.yaml")
    assert coerce_fields(playbook, {"minutes": GOOD}) == {"minutes": GOOD}
    assert coerce_fields(playbook, {"note": "drive.example.com/x"})["note"] == "drive.example.com/x"
    with pytest.raises(EvidenceLinkError) as raised:
        coerce_fields(playbook, {"minutes": "drive.example.com/x"})
    error = raised.value
    assert isinstance(error, DealFieldError)
    assert error.code == "PB590"
    assert "expected a link starting with http(s)://" in error.message
    assert "以 http(s):// 开头的链接" in error.message_in("zh")
    assert error.details["field"] == "minutes"


def test_field_rows_carry_the_link_only_for_url_fields() -> None:
    playbook = playbook_from_text(PLAYBOOK, "links.yaml")
    rows = field_rows({"minutes": GOOD, "note": GOOD}, playbook, "zh")
    assert rows == [
        FieldRow("minutes", "会议纪要", GOOD, GOOD),
        FieldRow("note", "备注", GOOD, None),
    ]


def test_link_html_links_only_http_and_escapes() -> None:
    assert link_html(GOOD, "纪要 <1>") == (
        '<a class="link" href="https://drive.example.com/file/d/1AbC?usp=sharing&amp;x=1" '
        'target="_blank" rel="noopener noreferrer nofollow">纪要 &lt;1&gt;</a>'
    )
    assert link_html("javascript:alert(1)", "x<") == "x&lt;"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with one deal D-1 in lead, created on 2 March 2026."""
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.delenv("PLAYBOOK_LANG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pb.yaml").write_text(PLAYBOOK, encoding="utf-8")
    created = "2026-03-02T10:00:00+00:00"
    (tmp_path / "deals.csv").write_text(
        "external_id,stage,owner,created_at,stage_entered_at,amount\n"
        f"D-1,lead,wang,{created},{created},1000\n",
        encoding="utf-8",
    )
    assert main(["db", "init"]) == 0
    assert main(["deals", "import", "deals.csv", "--playbook", "pb.yaml"]) == 0
    return tmp_path


def test_completing_with_evidence_that_is_no_link_is_refused_then_shown_as_a_link(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI says PB590 and records nothing; a link is recorded and shown everywhere."""
    now = ["--now", "2026-03-20T10:00:00+00:00"]
    complete = ["deals", "complete", "D-1", "meet", "--as", "rep", "--actor", "wang", *now]
    capsys.readouterr()
    assert main([*complete, "--evidence", "javascript:alert(1)"]) == 2
    assert "PB590" in capsys.readouterr().err
    assert main([*complete, "--evidence", GOOD]) == 0
    capsys.readouterr()
    assert main(["deals", "show", "D-1", "--lang", "en"]) in (0, 1)
    assert f"Meeting minutes: {GOOD}" in capsys.readouterr().out

    assert main(["kpi", "--playbook", "pb.yaml", "--format", "html", "--period", "2026", *now]) in (
        0,
        1,
    )
    page = capsys.readouterr().out
    href = GOOD.replace("&", "&amp;")
    assert (
        f'<td>D-1 · <a class="link" href="{href}" target="_blank" '
        'rel="noopener noreferrer nofollow">Meeting minutes</a></td>'
    ) in page


def test_the_handbook_says_the_evidence_is_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pb.yaml").write_text(PLAYBOOK, encoding="utf-8")
    for lang, words in (
        ("en", "Meeting minutes (a link: https://…)"),
        ("zh", "会议纪要（链接：https://…）"),
    ):
        capsys.readouterr()
        assert main(["docs", str(tmp_path / "pb.yaml"), "--lang", lang]) == 0
        assert f"| {words} |" in capsys.readouterr().out
