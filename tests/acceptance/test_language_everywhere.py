"""One language per playbook, everywhere: every command of the CLI, on a real SQLite store.

The walk runs every command that click's command tree lists (so that a new
command cannot be forgotten: the walk fails until it has an invocation here)
on a copy of the ``b2b`` sample playbook seeded by ``deals import``, once with
``language: zh`` and once with ``language: en``. In Chinese no English word
may be printed but ids, codes, file paths, numbers and what the test itself
typed (the allow-list is built from the playbook's ids and the inputs); in
English no CJK character may be printed.

Error lines on stderr (``error: ...``) are left out for now: exception and
diagnostic messages are converted to the catalogue by a parallel change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from playbook.cli import cli, main
from playbook.definition.files import playbook_from_file
from playbook.model import Playbook

NOW = "2026-11-20T10:00:00+08:00"
LATER = "2026-11-20T11:00:00+08:00"
DEALS = (
    "id,stage,owner,manager,region,created_at,stage_entered_at,amount,customer_tier,"
    "industry,decision_maker\n"
    "D-1,initial_contact,wang,li,east,2026-10-10T09:30:00+08:00,2026-10-10T09:30:00+08:00,"
    "480000,key,energy,{maker}\n"
    "D-2,needs_analysis,zhao,li,north,2026-10-12T10:00:00+08:00,2026-10-13T10:00:00+08:00,"
    "1200000,normal,chemicals,{maker}\n"
)
DEAL_JSON = '{"id": "D-9", "stage": "lead_identification", "fields": {"amount": "100"}}'
TITLED_TIER = (
    "values: [{id: key, title: {en: Key account, zh: 重点客户}}, "
    "{id: normal, title: {en: Regular customer, zh: 普通客户}}, potential]"
)

# The words of notations and formats that are code, not prose: Mermaid, Graphviz, SQL URLs,
# file suffixes, the time zone name and the currency code.
CODE_WORDS = frozenset(
    [
        "flowchart",
        "LR",
        "classDef",
        "fill",
        "stroke",
        "class",
        "br",
        "sqlite",
        "db",
        "csv",
        "json",
        "yaml",
        "md",
        "html",
        "Asia",
        "Shanghai",
        "CNY",
        "has",
        "len",
        "and",
        "or",
        "not",
        "in",
        "true",
        "false",
    ]
)
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z]{2,}")
CODE = re.compile(r"\bPB\d{3}\b")


@dataclass
class Workspace:
    """The folder of one walk: the playbook, its scenarios, the deals and the store."""

    root: Path
    lang: str
    playbook: Playbook = field(init=False)

    def __post_init__(self) -> None:
        self.playbook = playbook_from_file(self.root / "acme.yaml")[0]


def _workspace(root: Path, lang: str) -> Workspace:
    root.mkdir()
    assert main(["init", "acme", "--template", "b2b", "--dir", str(root)]) == 0
    path = root / "acme.yaml"
    text = path.read_text(encoding="utf-8").replace("language: zh", f"language: {lang}")
    text = text.replace("values: [key, normal, potential]", TITLED_TIER)
    path.write_text(text, encoding="utf-8")
    newer = text.replace("\nversion: 1\n", "\nversion: 2\n")  # for diff and migrate
    (root / "acme2.yaml").write_text(newer, encoding="utf-8")
    maker = "王总" if lang == "zh" else "Mr Wang"
    (root / "deals.csv").write_text(DEALS.format(maker=maker), encoding="utf-8")
    (root / "deal.json").write_text(DEAL_JSON, encoding="utf-8")
    return Workspace(root, lang)


def _invocations(ws: Workspace) -> dict[str, list[list[str]]]:
    """Each command path, and the argument lists the walk runs it with, in order."""
    book, newer = str(ws.root / "acme.yaml"), str(ws.root / "acme2.yaml")
    return {
        "db init": [["db", "init"]],
        "db upgrade": [["db", "upgrade"]],
        "db current": [["db", "current"]],
        "deals import": [["deals", "import", str(ws.root / "deals.csv"), "--playbook", book]],
        "deals list": [["deals", "list"], ["deals", "list", "--format", "csv"]],
        "sweep": [["sweep", "--playbook", book, "--now", NOW, "--sink", "console"]],
        "worker": [
            ["worker", "--playbook", book, "--max-sweeps", "1", "--every", "1s"]
            + ["--sink", f"jsonl:{ws.root / 'sent.jsonl'}"]
        ],
        "escalations list": [["escalations", "list"]],
        "escalations ack": [
            ["escalations", "ack", "5", "--as", "sales_manager", "--actor", "li"]
            + ["--reason", "ok", "--now", LATER]
        ],
        "escalations snooze": [
            ["escalations", "snooze", "6", "--as", "sales_manager", "--actor", "li"]
            + ["--reason", "ok", "--until", "3d", "--now", LATER]
        ],
        "deals export": [["deals", "export", "-o", str(ws.root / "out.csv")]],
        "deals show": [["deals", "show", "D-1", "--now", NOW]],
        "deals log": [["deals", "log", "D-1", "--kind", "call", "--actor", "wang", "--now", NOW]],
        "deals complete": [
            ["deals", "complete", "D-1", "first_visit", "--as", "sales_rep", "--actor", "wang"]
            + ["--now", NOW]
        ],
        "deals advance": [
            ["deals", "advance", "D-1", "--to", "needs_analysis", "--as", "sales_rep"]
            + ["--actor", "wang", "--now", NOW],
            ["deals", "advance", "D-1", "--to", "lost", "--as", "sales_rep", "--actor", "wang"]
            + ["--now", NOW],
        ],
        "deals history": [["deals", "history", "D-1"]],
        "kpi": [
            ["kpi", "--period", "2026-Q4", "--now", NOW],
            ["kpi", "--period", "2026-Q4", "--now", NOW, "--format", "csv"],
        ],
        "review": [["review", "--owner", "wang", "--week", "2026-W47", "--now", NOW]],
        "audit": [["audit"]],
        "validate": [["validate", book, "--summary"]],
        "check": [
            ["check", "--playbook", book, "--deal", str(ws.root / "deal.json")]
            + ["--to", "initial_contact", "--now", NOW]
        ],
        "next": [["next", "--playbook", book, "--deal", str(ws.root / "deal.json"), "--now", NOW]],
        "test": [["test", str(ws.root / "acme.test.yaml"), "--coverage"]],
        "paths": [["paths", book, "--now", NOW]],
        "diff": [["diff", book, newer, "--db", f"sqlite:///{ws.root / 'store.db'}"]],
        "migrate": [
            ["migrate", "--from-version", "1", "--to-version", "2", "--playbook", newer]
            + ["--dry-run"]
        ],
        "graph": [["graph", book]],
        "docs": [["docs", book]],
        "init": [["init", "other", "--dir", str(ws.root / "new")]],
    }


def _leaves(group: click.Group, prefix: str = "") -> Iterator[str]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _leaves(command, path + " ")
        else:
            yield path


def _allowed(ws: Workspace) -> set[str]:
    """The words a reader may see untranslated: ids, conditions, inputs, paths, code."""
    book = ws.playbook
    ids = [book.id, *book.roles, *book.fields]
    for stage in book.stages:
        ids.append(stage.id)
        ids += [action.id for action in stage.actions]
        ids += [item.id for item in (*stage.entry, *stage.exit)]
        ids += [item.condition.text for item in (*stage.entry, *stage.exit)]
        ids += [action.when.text for action in stage.actions if action.when is not None]
    ids += [kpi.id for kpi in book.kpis] + [rule.id for rule in book.escalations]
    for spec in book.fields.values():
        ids += list(spec.type.values or ())
    for move in book.transitions:
        ids += [move.guard.text] if move.guard is not None else []
    for rule in book.rules:
        ids += [rule.when.text] if rule.when is not None else []
    scenarios = (ws.root / "acme.test.yaml").read_text(encoding="utf-8")
    typed = [DEALS, DEAL_JSON, str(ws.root), scenarios, "wang li zhao ok"]
    return {word for text in ids + typed for word in WORD.findall(text)} | CODE_WORDS


def _english_words(text: str, allowed: set[str]) -> set[str]:
    return {word for word in WORD.findall(CODE.sub("", text)) if word not in allowed}


def _walk(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, str]]:
    """Run every command; yield (command line, stdout, stderr without error lines)."""
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{ws.root / 'store.db'}")
    monkeypatch.setenv("PLAYBOOK_ACTOR", "wang")
    monkeypatch.delenv("PLAYBOOK_LANG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(ws.root)
    invocations = _invocations(ws)
    assert set(invocations) == set(_leaves(cli)), "every command needs an invocation here"
    runner = CliRunner()
    for name, runs in invocations.items():
        for args in runs:
            with runner.isolation() as (out, err, _):
                code = main(args)
                stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
            assert code in (0, 1), (args, code, stdout, stderr)
            if name == "deals export":
                stdout += (ws.root / "out.csv").read_text(encoding="utf-8")
            kept = [line for line in stderr.splitlines() if not line.startswith("error")]
            yield " ".join(args), stdout, "\n".join(kept)


def test_chinese_playbook_speaks_chinese_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command on a ``language: zh`` playbook prints no English word but ids and inputs."""
    ws = _workspace(tmp_path / "zh", "zh")
    allowed = _allowed(ws)
    offenders = {}
    for command, out, err in _walk(ws, monkeypatch):
        found = _english_words(out + "\n" + err, allowed)
        if found:
            offenders[command] = sorted(found)
    assert not offenders, offenders


def test_english_playbook_prints_no_chinese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command on a ``language: en`` playbook prints no CJK character."""
    ws = _workspace(tmp_path / "en", "en")
    offenders = {}
    for command, out, err in _walk(ws, monkeypatch):
        found = CJK.findall(out + err)
        if found:
            offenders[command] = "".join(found)
    assert not offenders, offenders
