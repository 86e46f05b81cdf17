"""One language per playbook, everywhere: every command of the CLI, on a real SQLite store.

The walk runs every command that click's command tree lists (so that a new
command cannot be forgotten: the walk fails until it has an invocation here)
on a copy of the ``b2b`` sample playbook in a store seeded by ``deals
import``, once with ``language: zh`` and once with ``language: en``. In
Chinese no English word may be printed but ids, codes, file paths, numbers
and what the test itself typed (the allow-list is built from the playbook's
ids and the inputs); in English no CJK character may be printed.

Error lines on stderr (``error: ...``) are left out: exception and diagnostic
messages are converted to the catalogue by a parallel change. So are the
header rows of CSV outputs: they are column ids, the layout ``deals import``
reads back.
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
# Invalid playbooks, so that diagnostics (severity words, hints) are walked too.
INVALID = {
    "no-id.yaml": "version: 1\ntitle: t\nlanguage: {lang}\nstages:\n  - {{id: a, title: a}}\n",
    # A file that does not parse has no language of its own: --lang tells it.
    "broken.yaml": "playbook: p\nstages: [a, b\n",
}

_CODE = (
    # Mermaid and its colours and entities (#f9dada, #gt;), Markdown's code fence.
    "flowchart LR classDef fill stroke class br dada gt lt mermaid",
    # URLs, file suffixes, the zone name, the currency, condition syntax.
    "sqlite db csv json jsonl yaml md html Asia Shanghai CNY has len and or not in true false",
    # The format's name, in "YAML 语法错误" (a YAML syntax error).
    "YAML",
    # A value `paths` shows as Python writes it, and the command names.
    "True playbook docs test",
    # The actor the importer records, and KPI statuses (CSV cells are ids).
    "import met missed at risk no data",
)
CODE_WORDS = frozenset(word for line in _CODE for word in line.split())
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z]{2,}")
CODE = re.compile(r"\bPB\d{3}\b|\bpbt_[\w-]+")  # error codes, and API tokens (random)


@dataclass
class Workspace:
    """The folder of one walk: the playbook, its scenarios, the deals and the store."""

    root: Path
    lang: str
    playbook: Playbook = field(init=False)

    def __post_init__(self) -> None:
        self.playbook = playbook_from_file(self.root / "acme.yaml")[0]

    def path(self, name: str) -> str:
        """A file of the workspace, as the command line names it."""
        return str(self.root / name)


def _workspace(root: Path, lang: str) -> Workspace:
    root.mkdir()
    assert main(["init", "acme", "--template", "b2b", "--dir", str(root)]) == 0
    path = root / "acme.yaml"
    text = path.read_text(encoding="utf-8").replace("language: zh", f"language: {lang}")
    text = text.replace("values: [key, normal, potential]", TITLED_TIER) + APPROVAL
    path.write_text(text, encoding="utf-8")
    newer = text.replace("\nversion: 1\n", "\nversion: 2\n")  # for diff and migrate
    (root / "acme2.yaml").write_text(newer, encoding="utf-8")
    maker = "王总" if lang == "zh" else "Mr Wang"
    (root / "deals.csv").write_text(DEALS.format(maker=maker), encoding="utf-8")
    (root / "deal.json").write_text(DEAL_JSON, encoding="utf-8")
    (root / "people.yaml").write_text(PEOPLE, encoding="utf-8")
    (root / "calls.csv").write_text(CALLS, encoding="utf-8")
    (root / "calls.yaml").write_text(CALLS_MAPPING, encoding="utf-8")
    for name, invalid in INVALID.items():
        (root / name).write_text(invalid.format(lang=lang), encoding="utf-8")
    return Workspace(root, lang)


APPROVAL = """
approvals:
  - id: big_deal
    title: {en: Large deal approval, zh: 大额审批}
    when: "amount >= 1100000 and amount < 1500000"
    stages: solution
    invalidate_on: [amount]
    steps:
      - {id: manager, title: {en: Manager, zh: 经理}, role: sales_manager, due: {working_days: 1}}
      - {id: finance, title: {en: Finance, zh: 财务}, role: finance}
"""

PEOPLE = """people:
  - {name: li, email: li@example.com, team: east, roles: [sales_manager]}
  - {name: zhao, team: east, manager: li, roles: [sales_rep]}
"""

CALLS = (
    "id,deal,at,who,summary\nC-1,D-1,2026-11-19 10:00,wang,ok\nC-2,D-2,2026-11-18 15:30,zhao,ok\n"
)
CALLS_MAPPING = """source: calls
id: id
deal: {external_id: deal}
kind: call
at: at
actor: who
note: summary
date_formats: ["%Y-%m-%d %H:%M"]
"""

NOT_WALKED = {"serve": "a server that runs until stopped; tests/integration/test_serve.py runs it"}


def _invocations(ws: Workspace) -> dict[str, list[list[str]]]:
    """Each command path, and the argument lists the walk runs it with, in order."""
    book, newer, deal = ws.path("acme.yaml"), ws.path("acme2.yaml"), ws.path("deal.json")
    sales = ["--as", "sales_rep", "--actor", "wang", "--now"]
    manager = ["--as", "sales_manager", "--actor", "li", "--reason", "ok", "--now"]
    migrate = ["--from-version", "1", "--to-version", "2", "--dry-run", "--playbook"]
    worker = ["--max-sweeps", "1", "--every", "1s", "--sink", f"jsonl:{ws.path('sent.jsonl')}"]
    return {
        "db init": [["db", "init"]],
        "db upgrade": [["db", "upgrade"]],
        "db current": [["db", "current"]],
        "deals import": [["deals", "import", ws.path("deals.csv"), "--playbook", book]],
        "deals list": [["deals", "list"], ["deals", "list", "--format", "csv"]],
        "sweep": [["sweep", "--playbook", book, "--now", NOW, "--sink", "console"]],
        "worker": [["worker", "--playbook", book, *worker]],
        "escalations list": [["escalations", "list"]],
        "escalations ack": [["escalations", "ack", "5", *manager, LATER]],
        "escalations snooze": [["escalations", "snooze", "6", "--until", "3d", *manager, LATER]],
        # After the escalations are handled: imported follow-ups change what a sweep fires.
        "activities import": [
            ["activities", "import", ws.path("calls.csv"), "--mapping", ws.path("calls.yaml")],
            ["activities", "import", ws.path("calls.csv"), "--mapping", ws.path("calls.yaml")],
        ],
        "actions export": [
            ["actions", "export", "--format", "csv", "--now", NOW],
            ["actions", "export", "--format", "csv", "--board", "trello", "--now", NOW],
            ["actions", "export", "--format", "csv", "--board", "asana", "--now", NOW],
        ],
        "deals export": [["deals", "export", "-o", ws.path("out.csv")]],
        "deals show": [["deals", "show", "D-1", "--now", NOW]],
        "deals log": [["deals", "log", "D-1", "--kind", "call", "--actor", "wang", "--now", NOW]],
        "deals complete": [["deals", "complete", "D-1", "first_visit", *sales, NOW]],
        "deals advance": [
            ["deals", "advance", "D-1", "--to", "needs_analysis", *sales, NOW],
            ["deals", "advance", "D-1", "--to", "lost", *sales, NOW],
        ],
        "deals reassign": [
            ["deals", "reassign", "D-1", "--owner", "li", "--team", "east", *manager, NOW]
        ],
        "deals history": [["deals", "history", "D-1"]],
        "deals set": [
            ["deals", "set", "D-1", "amount=1200", "--as", "wang:sales_rep", "--now", NOW]
        ],
        "approvals list": [["approvals", "list", "D-2", "--now", NOW]],
        "approvals request": [
            ["approvals", "request", "D-2", "big_deal", "--as", "wang:sales_rep"]
        ],
        "approvals delegate": [
            ["approvals", "delegate", "D-2", "big_deal", "--as", "li:sales_manager", "--to", "zhou"]
        ],
        "approvals grant": [
            ["approvals", "grant", "D-2", "big_deal", "--as", "wang:sales_rep"],
            ["approvals", "grant", "D-2", "big_deal", "--as", "zhou:sales_rep"],
        ],
        "approvals reject": [
            ["approvals", "reject", "D-2", "big_deal", "--as", "qian:finance", "--reason", "x"]
        ],
        "people import": [["people", "import", ws.path("people.yaml")]],
        "people add": [["people", "add", "zhou", "--team", "east", "--roles", "sales_rep"]],
        "people set": [["people", "set", "zhou", "--manager", "li"]],
        "people list": [["people", "list"]],
        "tokens create": [["tokens", "create", "zhou", "--expires", "30", "--now", NOW]],
        "tokens list": [["tokens", "list"]],
        "tokens revoke": [["tokens", "revoke", "1"]],
        "people remove": [["people", "remove", "zhao"]],
        "deals delete": [["deals", "delete", "D-2", *manager, NOW]],
        "kpi": [
            ["kpi", "--period", "2026-Q4", "--now", NOW],
            ["kpi", "--period", "2026-Q4", "--now", NOW, "--format", "csv"],
        ],
        "review": [["review", "--owner", "wang", "--week", "2026-W47", "--now", NOW]],
        "audit": [["audit"]],
        "validate": [
            ["validate", book, "--summary"],
            *(["validate", ws.path(name), "--lang", ws.lang] for name in INVALID),
        ],
        "check": [["check", "--playbook", book, "--deal", deal, "--to", "initial_contact"]],
        "next": [["next", "--playbook", book, "--deal", deal, "--now", NOW]],
        "decide": [["decide", "--playbook", book, "--deal", deal]],
        "test": [["test", ws.path("acme.test.yaml"), "--coverage"]],
        "paths": [["paths", book, "--now", NOW]],
        "diff": [["diff", book, newer, "--db", f"sqlite:///{ws.path('store.db')}"]],
        "migrate": [["migrate", *migrate, newer]],
        # After migrate registered v2: v1 is made active again (an ops role is recorded).
        "activate": [["activate", "acme", "1", "--reason", "ok", "--as", "li:ops", "--now", NOW]],
        "graph": [["graph", book]],
        "docs": [["docs", book]],
        # The sample playbooks are Chinese: `init` speaks theirs unless told otherwise.
        "init": [["init", "other", "--dir", ws.path("new"), "--lang", ws.lang]],
    }


def _leaves(group: click.Group, prefix: str = "") -> Iterator[str]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _leaves(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def _allowed(ws: Workspace) -> set[str]:
    """The words a reader may see untranslated: ids, conditions, inputs, paths, code."""
    book = ws.playbook
    texts = [book.id, *book.roles, *book.fields]
    for stage in book.stages:
        criteria = (*stage.entry, *stage.exit)
        texts += [stage.id, *(a.id for a in stage.actions), *(c.id for c in criteria)]
        texts += [item.condition.text for item in criteria]
        texts += [action.when.text for action in stage.actions if action.when is not None]
    texts += [item for kpi in book.kpis for item in (kpi.id, kpi.metric, kpi.unit or "")]
    texts += [rule.id for rule in book.escalations]
    texts += [value for spec in book.fields.values() for value in spec.type.values or ()]
    texts += [move.guard.text for move in book.transitions if move.guard is not None]
    texts += [rule.when.text for rule in book.rules if rule.when is not None]
    typed = [DEALS, DEAL_JSON, PEOPLE, (ws.root / "acme.test.yaml").read_text(encoding="utf-8")]
    typed += list(INVALID.values())  # the source lines under the diagnostics
    typed += [arg for runs in _invocations(ws).values() for args in runs for arg in args]
    return {word for text in texts + typed for word in WORD.findall(text)} | CODE_WORDS


def _walk(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """Run every command; yield (command line, what it printed but error lines and CSV headers)."""
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{ws.path('store.db')}")
    monkeypatch.setenv("PLAYBOOK_ACTOR", "wang")
    monkeypatch.delenv("PLAYBOOK_LANG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(ws.root)
    invocations = _invocations(ws)
    walked = set(_leaves(cli)) - set(NOT_WALKED)
    assert set(invocations) == walked, "every command needs an invocation here"
    # A store that knows the playbook: `db` commands then speak its language too.
    assert main(["db", "init"]) == 0
    assert main(invocations["deals import"][0]) == 0
    runner = CliRunner()
    for name, runs in invocations.items():
        for args in runs:
            with runner.isolation() as (out, err, _):
                code = main(args)
                stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
            assert code in (0, 1), (args, code, stdout, stderr)
            if name == "deals export":
                stdout = (ws.root / "out.csv").read_text(encoding="utf-8")
            if "csv" in args or name == "deals export":
                stdout = "\n".join(stdout.splitlines()[1:])  # the header: column ids
            kept = [line for line in stderr.splitlines() if not line.startswith("error")]
            yield " ".join(args), stdout + "\n" + "\n".join(kept)


def test_chinese_playbook_speaks_chinese_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command on a ``language: zh`` playbook prints no English word but ids and inputs."""
    ws = _workspace(tmp_path / "zh", "zh")
    allowed = _allowed(ws)
    offenders = {}
    for command, printed in _walk(ws, monkeypatch):
        found = {word for word in WORD.findall(CODE.sub("", printed)) if word not in allowed}
        if found:
            offenders[command] = sorted(found)
    assert not offenders, offenders


def test_english_playbook_prints_no_chinese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command on a ``language: en`` playbook prints no CJK character."""
    ws = _workspace(tmp_path / "en", "en")
    offenders = {}
    for command, printed in _walk(ws, monkeypatch):
        found = CJK.findall(printed)
        if found:
            offenders[command] = "".join(found)
    assert not offenders, offenders


def test_every_command_has_the_one_lang_option() -> None:
    """Each command takes the shared ``--lang en|zh``, read from ``PLAYBOOK_LANG`` when absent."""
    context = click.Context(cli)
    for path in _leaves(cli):
        command: click.Command | None = cli
        for name in path.split():
            assert isinstance(command, click.Group)
            command = command.get_command(context, name)
        assert command is not None
        options = [p for p in command.params if "--lang" in getattr(p, "opts", ())]
        assert len(options) == 1, path
        assert options[0].envvar == "PLAYBOOK_LANG", path
        assert isinstance(options[0].type, click.Choice), path
        assert list(options[0].type.choices) == ["en", "zh"], path


def test_playbook_lang_overrides_the_playbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``PLAYBOOK_LANG=en`` makes a Chinese playbook's commands speak English; --lang wins."""
    ws = _workspace(tmp_path / "zh", "zh")
    capsys.readouterr()
    monkeypatch.setenv("PLAYBOOK_LANG", "en")
    assert main(["graph", ws.path("acme.yaml")]) == 0
    out = capsys.readouterr().out
    assert "entry: has(industry) and has(customer_tier)" in out
    assert not CJK.search(out)
    assert main(["graph", ws.path("acme.yaml"), "--lang", "zh"]) == 0
    assert "进入条件：has(industry) and has(customer_tier)" in capsys.readouterr().out
