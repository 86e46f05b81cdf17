"""A store for the web workspace's tests: a playbook, people, tokens, a blocked deal, an escalation.

Shared by test_workspace.py (in-process, over HTTP with httpx) and
test_workspace_browser.py (the real `playbook serve` in headless Chromium).
People and tokens are made with the CLI, as an operator would.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from playbook.cli import main
from playbook.definition.files import playbook_from_text
from playbook.store.db import open_database
from playbook.store.repository import DealStore
from playbook.values import Actor

PLAYBOOK = """\
playbook: ws-test
version: 1
language: zh
timezone: Asia/Shanghai
title: {en: Workspace test, zh: 工作台测试}
roles:
  rep: {title: {en: Rep, zh: 销售代表}}
  manager: {title: {en: Manager, zh: 销售经理}}
fields:
  amount: {type: decimal, min: 0, title: {en: Amount, zh: 金额}}
  minutes: {type: string, title: {en: Minutes, zh: 纪要}}
stages:
  - id: lead
    title: {en: Lead, zh: 线索}
    probability: 0.1
    actions:
      - {id: first_call, role: rep, evidence: minutes, title: {en: First call, zh: 首次通话}}
  - id: offer
    title: {en: Offer, zh: 报价}
    probability: 0.5
    entry: ["amount > 0"]
  - id: contract
    title: {en: Contract, zh: 合同}
    probability: 0.8
    entry: ["amount >= 100000"]
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won, probability: 1}
  - {id: lost, title: {en: Lost, zh: 输单}, outcome: lost, probability: 0}
overrides:
  roles: [manager]
escalations:
  - id: stale
    title: {en: Stale lead, zh: 线索停滞}
    trigger: {in_stage: {days: 1}}
    stages: [lead]
    levels:
      - notify: [owner]
        message: {en: Move it, zh: 请推进}
    max_lateness: {days: 30}
"""

PEOPLE = """\
- {name: rita, email: rita@example.com, team: east, manager: mara, roles: [rep], language: en}
- {name: mara, email: mara@example.com, team: east, roles: [manager, rep], language: zh}
- {name: otto, email: otto@example.com, team: audit, roles: [auditor]}
"""


@dataclass
class Site:
    """A prepared store: its URL, the playbook file and the tokens made for each person."""

    db_url: str
    playbook_file: Path
    tokens: dict[str, str]
    emails: dict[str, str]

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Rows of a query on the store (read independently of the server)."""
        engine = create_engine(self.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql), params))
        finally:
            engine.dispose()


def cli(db_url: str, *args: str) -> str:
    """Run a `playbook` command in this process and return what it printed (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--db", db_url])
    assert code == 0, (args, out.getvalue(), err.getvalue())
    return out.getvalue().strip()


def prepare(db_url: str, folder: Path, deals: tuple[str, ...] = ("W-1",)) -> Site:
    """Init the store, import people, make tokens, register the playbook, add ``deals`` (rita's,
    in ``lead`` for three days, no amount: blocked) and sweep them (one escalation each)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "playbooks").mkdir(exist_ok=True)
    playbook_file = folder / "playbooks" / "ws-test.yaml"
    playbook_file.write_text(PLAYBOOK, "utf-8")
    (folder / "people.yaml").write_text(PEOPLE, "utf-8")
    cli(db_url, "db", "init")
    cli(db_url, "people", "import", str(folder / "people.yaml"))
    tokens = {who: cli(db_url, "tokens", "create", who) for who in ("rita", "mara", "otto")}
    now = datetime.now(UTC)
    model = playbook_from_text(PLAYBOOK, str(playbook_file))
    database = open_database(db_url)
    try:
        store = DealStore(database)
        store.register_playbook(model, PLAYBOOK, now=now)
        for ref in deals:
            store.add_deal(
                model, actor=Actor("rita", frozenset({"rep"})), now=now - timedelta(days=3),
                external_id=ref, owner="rita", team="east", manager="mara",
                fields={"amount": "5000"},
            )  # fmt: skip
    finally:
        database.dispose()
    cli(db_url, "sweep", "--playbook", str(playbook_file))
    emails = {"rita": "rita@example.com", "mara": "mara@example.com", "otto": "otto@example.com"}
    return Site(db_url, playbook_file, tokens, emails)


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(site: Site, folder: Path, *extra: str) -> Iterator[str]:
    """`playbook serve` on ``site``'s store on a free loopback port; its base URL until the end."""
    port = free_port()
    log = (folder / "serve.log").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "playbook", "serve", "--db", site.db_url, "--port", str(port),
         *extra],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"playbook serve stopped with exit code {process.returncode}")
        try:
            httpx.get(base + "/sign-in", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError("playbook serve did not answer within 90 s")
