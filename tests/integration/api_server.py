"""A `playbook serve` for the API tests: two playbooks, CRM mappings, people with every role.

Built like test_serve's server (people and tokens made with the CLI, the server
a subprocess on a free loopback port) plus what the webhook, KPI, playbook
and authorization tests need: ``--mapping`` for both playbooks, an
integration account (``crm``) and an operator (``olga``). Import
:func:`api_server` into a test module to use the fixture there.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_serve import PLAYBOOK, Server, _cli, _free_port, _wait_until_up

from playbook.store.testing import fresh_database

KPI_PLAYBOOK = """\
playbook: serve-kpi
version: 1
title: {en: KPI test, zh: 指标测试}
roles:
  rep: {title: {en: Rep, zh: 销售代表}}
fields:
  amount: {type: decimal, min: 0, title: {en: Amount, zh: 金额}}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}}
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
  - {id: lost, title: {en: Lost, zh: 输单}, outcome: lost}
kpis:
  - id: win_rate
    title: {en: Win rate, zh: 赢单率}
    metric: win_rate
    target: {min: 0.5}
    period: quarter
    by: [owner]
  - id: won_value
    title: {en: Won value, zh: 赢单金额}
    metric: won_value
    field: amount
    target: {min: 1000}
    period: quarter
"""

MAPPING = """\
external_id: id
owner: owner
stage:
  column: stage
  values: {Lead: lead, Offer: offer, Won: won, Lost: lost}
stage_dates:
  offer: offer_on
created: created_on
updated: modified_at
on_empty: keep
fields:
  amount: amount
  minutes: {column: notes, keep_newer: true}
"""

KPI_MAPPING = """\
external_id: id
owner: owner
stage: stage
stage_dates: {won: closed_on, lost: closed_on}
created: created_on
fields:
  amount: amount
"""

PEOPLE = """\
- {name: rita, email: rita@example.com, team: east, manager: mara, roles: [rep], language: en}
- {name: mara, email: mara@example.com, team: east, roles: [manager, rep], language: zh}
- {name: otto, team: audit, roles: [auditor]}
- {name: crm, roles: [integration]}
- {name: olga, roles: [ops], language: zh}
"""


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server with serve-test and serve-kpi registered and CRM mappings for both.

    Tokens: rita (rep), mara (manager, rep), otto (auditor), crm (integration),
    olga (ops), revoked (rita's, revoked), expired (rita's, expired in 2020).
    """
    folder = tmp_path_factory.mktemp(f"api-{request.param}")
    (folder / "playbooks").mkdir()
    (folder / "playbooks" / "serve-test.yaml").write_text(PLAYBOOK, "utf-8")
    (folder / "playbooks" / "serve-kpi.yaml").write_text(KPI_PLAYBOOK, "utf-8")
    (folder / "people.yaml").write_text(PEOPLE, "utf-8")
    (folder / "mapping.yaml").write_text(MAPPING, "utf-8")
    (folder / "kpi-mapping.yaml").write_text(KPI_MAPPING, "utf-8")
    if request.param == "sqlite":
        yield from _serving(folder, f"sqlite:///{folder / 'store.db'}")
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with fresh_database(admin) as url:
        yield from _serving(folder, url)


def _serving(folder: Path, url: str) -> Iterator[Server]:
    _cli(url, "db", "init")
    _cli(url, "people", "import", str(folder / "people.yaml"))
    tokens = {who: _cli(url, "tokens", "create", who) for who in ("rita", "mara", "otto", "crm")}
    tokens["olga"] = _cli(url, "tokens", "create", "olga")
    tokens["revoked"] = _cli(url, "tokens", "create", "rita")
    listed = _cli(url, "tokens", "list", "--person", "rita")
    _cli(url, "tokens", "revoke", listed.splitlines()[-1].split()[0])
    tokens["expired"] = _cli(
        url, "tokens", "create", "rita", "--expires", "1", "--now", "2020-01-01"
    )
    port = _free_port()
    args = ["--db", url, "--playbooks", "playbooks", "--port", str(port)]
    args += ["--mapping", "serve-test=mapping.yaml", "--mapping", "serve-kpi=kpi-mapping.yaml"]
    with (folder / "serve.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "playbook", "serve", *args],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, process)
            yield Server(base, url, folder, tokens)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
