"""Enum values shown by their titles, and times shown on the playbook's clock (JSON stays UTC).

A deal created at 2026-10-10 09:30 in Shanghai is ``2026-10-10 09:30 +08:00``
in every text and CSV output and ``2026-10-10T01:30:00+00:00`` in JSON; an
enum value with a title reads as that title wherever a person reads it, and
as its id in JSON and in conditions.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from playbook.authoring.handbook import condition_words
from playbook.cli import main
from playbook.definition.validate import validate_text

PLAYBOOK = """\
playbook: titles
version: 1
title: {en: Titles, zh: 标题}
language: zh
timezone: Asia/Shanghai
roles:
  rep: {title: {en: Sales rep, zh: 销售代表}}
  manager: {title: {en: Manager, zh: 经理}}
fields:
  tier:
    type: enum
    title: {en: Customer tier, zh: 客户等级}
    values:
      - {id: key, title: {en: Key account, zh: 重点客户}}
      - {id: normal, title: {en: Regular customer, zh: 普通客户}}
      - potential
  rivals:
    type: list
    title: {en: Rivals, zh: 竞争对手}
    values: [{id: abb, title: ABB 公司}, siemens]
stages:
  - id: lead
    title: {en: Lead, zh: 线索}
    actions:
      - {id: call, title: {en: Call, zh: 电话}, role: rep}
  - id: offer
    title: {en: Offer, zh: 报价}
    entry: ['tier == "normal"']
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
escalations:
  - id: stuck
    title: {en: Stuck, zh: 停滞}
    trigger: {in_stage: {days: 3}}
    stages: [lead]
    levels:
      - notify: [manager]
"""

CREATED = "2026-10-10T09:30:00+08:00"
DEALS = (
    "external_id,stage,owner,manager,created_at,stage_entered_at,tier,rivals\n"
    f"D-1,lead,wang,li,{CREATED},{CREATED},key,abb;siemens\n"
)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(iso: str) -> str:
    """A UTC ISO time as the playbook's clock shows it: an independent computation."""
    moment = datetime.fromisoformat(iso).astimezone(SHANGHAI)
    offset = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M ") + f"{offset[:3]}:{offset[3:]}"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with the playbook registered and one deal imported."""
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.delenv("PLAYBOOK_LANG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pb.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    assert main(["db", "init"]) == 0
    assert main(["deals", "import", "deals.csv", "--playbook", "pb.yaml"]) == 0
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr().out
    assert code in (0, 1), out
    return out


# --- enum titles --------------------------------------------------------------------------


def test_titled_values_build_ids_and_titles() -> None:
    """The model keeps ids as the values and the titles beside them; plain values have none."""
    result = validate_text(PLAYBOOK, "pb.yaml")
    assert result.playbook is not None, result.diagnostics
    spec = result.playbook.fields["tier"]
    assert spec.type.values == ("key", "normal", "potential")
    assert result.playbook.value_label("tier", "key", "zh") == "重点客户"
    assert result.playbook.value_label("tier", "key", "en") == "Key account"
    assert result.playbook.value_label("tier", "potential", "zh") == "potential"
    assert result.playbook.value_label("rivals", ["abb", "siemens"], "zh") == "ABB 公司, siemens"


def test_a_titled_value_needs_an_id() -> None:
    """``{title: ...}`` without ``id`` is a schema error with its line; a plain list stays valid."""
    broken = PLAYBOOK.replace("- potential", "- {title: 潜在客户}")
    result = validate_text(broken, "pb.yaml")
    assert result.playbook is None
    lines = [d.line for d in result.diagnostics if d.severity == "error"]
    assert broken.splitlines().index("      - {title: 潜在客户}") + 1 in lines
    plain = PLAYBOOK.replace(
        "      - {id: key, title: {en: Key account, zh: 重点客户}}\n"
        "      - {id: normal, title: {en: Regular customer, zh: 普通客户}}\n",
        "      - key\n      - normal\n",
    )
    assert validate_text(plain, "pb.yaml").playbook is not None


def test_handbook_condition_words_show_the_title() -> None:
    """``tier == "normal"`` reads ``客户等级 为 普通客户`` in Chinese, by the title in English."""
    playbook = validate_text(PLAYBOOK, "pb.yaml").playbook
    assert playbook is not None
    expr = playbook.stage("offer").entry[0].condition.expr  # type: ignore[union-attr]
    assert condition_words(expr, playbook, "zh") == "客户等级 为 普通客户"
    assert condition_words(expr, playbook, "en") == "Customer tier is Regular customer"


def test_deals_show_and_check_show_titles_json_keeps_ids(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text shows the title; JSON the id; the conditions still compare ids."""
    out = _run(capsys, "deals", "show", "D-1")
    assert "  客户等级：重点客户" in out
    assert "  竞争对手：ABB 公司, siemens" in out
    assert "  Customer tier: Key account" in _run(capsys, "deals", "show", "D-1", "--lang", "en")
    data = json.loads(_run(capsys, "deals", "show", "D-1", "--format", "json"))
    assert data["deal"]["fields"]["tier"] == "key"
    (store / "deal.json").write_text(
        '{"id": "D-9", "stage": "lead", "fields": {"tier": "key"}}', encoding="utf-8"
    )
    args = ["check", "--playbook", "pb.yaml", "--deal", "deal.json", "--to", "offer"]
    assert "当前值: tier = 重点客户" in _run(capsys, *args)


# --- times on the playbook's clock --------------------------------------------------------


def test_created_at_shows_local_in_text_and_csv_utc_in_json(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2026-10-10 09:30 +08:00 in the table, the history and both CSVs; UTC ISO 8601 in JSON."""
    shown = "2026-10-10 09:30 +08:00"
    assert _local("2026-10-10T01:30:00+00:00") == shown
    table = _run(capsys, "deals", "list")
    assert shown in table.splitlines()[1]
    rows = list(csv.DictReader(io.StringIO(_run(capsys, "deals", "list", "--format", "csv"))))
    assert rows[0]["stage_entered_at"] == shown
    exported = list(csv.DictReader(io.StringIO(_run(capsys, "deals", "export"))))
    assert exported[0]["created_at"] == "2026-10-10 09:30:00 +08:00"
    assert datetime.fromisoformat(exported[0]["created_at"]) == datetime.fromisoformat(CREATED)
    data = json.loads(_run(capsys, "deals", "list", "--format", "json"))
    assert data[0]["created_at"] == "2026-10-10T01:30:00+00:00"
    assert f"v1    {shown}" in _run(capsys, "deals", "history", "D-1")
    assert f"阶段：线索 (lead)，自 {shown}" in _run(capsys, "deals", "show", "D-1")


def test_sweep_and_escalations_list_on_the_playbook_clock(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sweep header, its lines and ``escalations list`` show Shanghai time; JSON UTC."""
    now = "2026-10-20T10:00:00+08:00"
    out = _run(capsys, "sweep", "--playbook", "pb.yaml", "--now", now)
    assert out.startswith("2026-10-20 10:00 +08:00 巡检 titles@1：触发 1 条")
    assert "自 2026-10-10 09:30 +08:00 起停留在「线索」阶段" in out
    assert "通知 经理 li" in out
    views = json.loads(_run(capsys, "escalations", "list", "--format", "json"))
    fired = views[0]["fired_at"]
    assert fired.endswith("+00:00")
    listed = _run(capsys, "escalations", "list")
    assert f"[lead] {_local(fired)} 通知 经理 li" in listed
    english = _run(capsys, "escalations", "list", "--lang", "en")
    assert f"#1 open deal D-1 stuck level 1 [lead] {_local(fired)} notify Manager li" in english
