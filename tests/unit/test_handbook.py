"""The rep-facing handbook: plain-word conditions, both languages, both formats, staleness."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from playbook.authoring.handbook import condition_words, is_stale, render_handbook
from playbook.conditions import parse_condition
from playbook.definition.validate import load

REPO = Path(__file__).resolve().parents[2]
B2B = REPO / "playbooks" / "b2b-project-sales.yaml"


@pytest.mark.parametrize(
    ("condition", "lang", "words"),
    [
        ("amount > 0", "en", "Estimated amount (CNY) is more than 0"),
        ("amount >= 1000000", "zh", "预计金额（元） 不低于 1,000,000"),
        ("has(decision_maker)", "en", "Decision maker is filled in"),
        ("has(decision_maker)", "zh", "已填写关键决策人"),
        ("budget_confirmed", "zh", "预算已确认：是"),
        (
            "amount < 5 or site_visits >= 1",
            "en",
            "Estimated amount (CNY) is less than 5 or Site surveys done is at least 1",
        ),
        ("not has(lost_reason)", "en", "not (Reason lost is filled in)"),
    ],
)
def test_condition_words(condition: str, lang: str, words: str) -> None:
    """Conditions read as sentences with the fields' titles in the handbook's language."""
    playbook = load(B2B)
    types = {name: spec.type for name, spec in playbook.fields.items()}
    assert condition_words(parse_condition(condition, types), playbook, lang) == words


@pytest.mark.parametrize(
    ("lang", "needles"),
    [
        (
            "zh",
            [
                "销售作业手册",
                "### 3. 需求分析 (`needs_analysis`)",
                "| 与客户进行技术交流 | 售前工程师 |",
                "进入阶段后 10 个工作日 内",
                "## 考核指标",
                "```mermaid",
            ],
        ),
        (
            "en",
            [
                "Sales handbook",
                "#### To enter this stage",
                "| Sign the contract | Sales rep |",
                "notify the deal owner",
                "then the owner's manager after 2 working days",
                "| Win rate | at least 30% | quarter |",
            ],
        ),
    ],
)
def test_markdown_handbook(lang: str, needles: list[str]) -> None:
    """Each stage has its goal, criteria, actions with owner and deadline; KPIs and diagram."""
    text = render_handbook(load(B2B), "markdown", lang)
    for needle in needles:
        assert needle in text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta",):
            self.stack.append(tag)
        self.seen.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag


def test_html_handbook_is_well_formed() -> None:
    """The HTML version nests its tags properly and escapes the playbook's text."""
    text = render_handbook(load(B2B), "html", "zh")
    parser = _Tags()
    parser.feed(text)
    assert parser.stack == []
    assert {"h1", "h3", "table", "svg", "rect", "polyline"} <= set(parser.seen)
    # The diagram is drawn inline: no script, nothing fetched from the network.
    assert "<script" not in text
    assert re.findall(r"https?://[^\s\"']+", text) == ["http://www.w3.org/2000/svg"]
    # One box per stage, titled in the language asked for.
    assert text.count("<rect") == len(load(B2B).stages)
    assert "需求分析" in text


def test_stale_handbook(tmp_path: Path) -> None:
    """A handbook matching the playbook is fresh; any difference or a missing file is stale."""
    playbook = load(B2B)
    target = tmp_path / "handbook.md"
    assert is_stale(playbook, target, "markdown", "en")
    target.write_text(render_handbook(playbook, "markdown", "en"), encoding="utf-8")
    assert not is_stale(playbook, target, "markdown", "en")
    assert is_stale(playbook, target, "markdown", "zh")
