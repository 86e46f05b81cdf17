"""The CLI tells a playbook's problems in the playbook's language (``language: zh`` or ``en``).

Run in process through ``playbook.cli.main``; the expected words are read from
the catalogue by hand (key and values written out here), not from the code
under test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from playbook.cli import main
from playbook.i18n import say

HAN = re.compile(r"[\u4e00-\u9fff]")


def _playbook(language: str) -> str:
    # An unknown outcome (PB204) and a stage nobody reaches (PB306).
    return f"""\
playbook: lang_{language}
version: 1
language: {language}
title: {{en: Lang, zh: 语言}}
stages:
  - {{id: lead, title: 线索}}
  - {{id: won, title: 赢单, outcome: wonn}}
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("output_format", ["text", "json", "github", "sarif"])
def test_validate_speaks_chinese_for_a_chinese_playbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output_format: str
) -> None:
    """Every format carries the Chinese message of each diagnostic; codes stay codes."""
    path = tmp_path / "zh.yaml"
    path.write_text(_playbook("zh"), encoding="utf-8")
    code, out, _ = _run(capsys, "validate", "--format", output_format, str(path))
    assert code == 1
    assert "PB204" in out
    expected = "stages[1].outcome 是 'wonn'，不在以下可选值中：open、won、lost"
    if output_format in ("json", "sarif"):
        out = json.dumps(json.loads(out), ensure_ascii=False)
    assert expected in out
    assert "is 'wonn', which is not one of" not in out


def test_validate_text_summary_and_hint_are_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hint label and the closing summary line follow the playbook's language too."""
    path = tmp_path / "zh.yaml"
    path.write_text(_playbook("zh"), encoding="utf-8")
    _, out, _ = _run(capsys, "validate", str(path))
    assert "提示： 您是不是想写 'won'？" in out
    assert out.rstrip().endswith("共 1 个文件：1 个错误、0 个警告")


def test_validate_speaks_english_for_an_english_playbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same problems in English, with no Chinese word of ours."""
    path = tmp_path / "en.yaml"
    path.write_text(_playbook("en").replace("title: 赢单", "title: Won"), encoding="utf-8")
    code, out, _ = _run(capsys, "validate", str(path))
    assert code == 1
    assert "stages[1].outcome is 'wonn', which is not one of: open, won, lost" in out
    assert "hint: did you mean 'won'?" in out
    assert "1 error, 0 warnings in 1 file" in out
    assert not HAN.search(out.replace("线索", ""))


def test_a_command_loading_an_invalid_chinese_playbook_prints_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``playbook graph`` on an invalid zh playbook: the heading and diagnostics in Chinese."""
    path = tmp_path / "zh.yaml"
    path.write_text(_playbook("zh"), encoding="utf-8")
    code, _, err = _run(capsys, "graph", str(path))
    assert code == 2
    assert say("cli.invalid_playbook", "zh", file=str(path)) in err
    assert "不在以下可选值中" in err
    assert "which is not one of" not in err


def test_check_tells_a_deal_error_in_the_playbooks_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``playbook check`` on a zh playbook: a deal in an unknown stage is refused in Chinese."""
    playbook = tmp_path / "zh.yaml"
    playbook.write_text(_playbook("zh").replace("wonn", "won"), encoding="utf-8")
    deal = tmp_path / "deal.json"
    deal.write_text(json.dumps({"id": "D-1", "stage": "leed"}), encoding="utf-8")
    args = ["check", "--playbook", str(playbook), "--deal", str(deal), "--to", "won"]
    code, out, err = _run(capsys, *args, "--as", "sales", "--now", "2026-03-02T10:00:00Z")
    assert code == 2
    assert "商机 'D-1' 所在的阶段 'leed'，剧本 lang_zh@1 中没有定义这个阶段" in err
    code, out, _ = _run(capsys, *args, "--now", "2026-03-02T10:00:00Z", "--format", "json")
    error = json.loads(out)["error"]
    assert (error["code"], error["http_status"]) == ("PB502", 422)
    assert error["hint"] == "您是不是想写 'lead'？"
    code, out, _ = _run(
        capsys, *args, "--now", "2026-03-02T10:00:00Z", "--format", "json", "--lang", "en"
    )
    assert json.loads(out)["error"]["hint"] == "did you mean 'lead'?"


@pytest.mark.parametrize("how", ["option", "environment"])
def test_validate_speaks_the_chosen_language_where_the_file_cannot_say(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """A file that does not parse declares no language: --lang or $PLAYBOOK_LANG decides."""
    path = tmp_path / "broken.yaml"
    path.write_text("playbook: x\nversion: 1\nstages:\n  - id: a\n    probability：0.25\n", "utf-8")
    args = ["validate", str(path)]
    if how == "option":
        args += ["--lang", "zh"]
    else:
        monkeypatch.setenv("PLAYBOOK_LANG", "zh")
    code, out, _ = _run(capsys, *args)
    assert code == 1
    assert "全角冒号" in out
    assert "full-width colon" not in out
    assert out.rstrip().endswith("共 1 个文件：1 个错误、0 个警告")
