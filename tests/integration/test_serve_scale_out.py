"""Several `playbook serve` processes on one database: no lost update, nothing stale.

Two server processes on PostgreSQL (one on SQLite, which is served by one
process) and 16 clients moving the same 200 deals back and forth at once,
each request sent to either process (no sticky sessions). Afterwards the
history is read back with plain SQL and held against what the clients were
told: every move answered 200 is stored exactly once, versions have no gap,
each deal's stage is the last move of its history, and every 409/412 answer
came after another client's move had changed the deal. Tokens revoked and
playbook versions registered while the servers run take effect in every
process at once.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from test_serve import Server, _cli, _free_port, _serving, _wait_until_up

from playbook.definition.files import playbook_from_text
from playbook.i18n import say
from playbook.store.db import open_database
from playbook.store.repository import DealStore
from playbook.store.testing import fresh_database

PLAYBOOK = """\
playbook: scale-test
version: 1
title: {en: Scale-out test, zh: 多进程测试}
roles:
  rep: {title: {en: Rep, zh: 销售代表}}
  manager: {title: {en: Manager, zh: 销售经理}}
fields:
  amount: {type: decimal, min: 0, title: {en: Amount, zh: 金额}}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}}
  - id: offer
    title: {en: Offer, zh: 报价}
    entry: ["amount > 0"]
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
  - {id: lost, title: {en: Lost, zh: 输单}, outcome: lost}
transitions:
  allow:
    - {from: offer, to: lead}
"""
PEOPLE = """\
- {name: rita, email: rita@example.com, team: east, manager: mara, roles: [rep], language: en}
- {name: mara, email: mara@example.com, team: east, roles: [manager, rep], language: zh}
- {name: otto, team: audit, roles: [auditor]}
"""
DEALS = 200
CLIENTS = 16
ATTEMPTS = 30
"""Moves each client tries; half of them on ten "hot" deals, so that clients do collide."""


@dataclass(frozen=True)
class Attempt:
    """One client's try: the deal as it read it, the stage it asked for, what it was answered."""

    client: int
    ref: str
    read_version: int
    to: str
    status: int
    version: int | None
    code: str | None


@dataclass
class Cluster:
    """The servers of one database: their base URLs, its URL and the tokens made for it."""

    bases: list[str]
    db_url: str
    tokens: dict[str, str]
    folder: Path

    def client(self, index: int, who: str) -> httpx.Client:
        """A client of server ``index`` signed in as ``who``."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        base = self.bases[index % len(self.bases)] + "/api/v1"
        return httpx.Client(base_url=base, headers=headers, timeout=120)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two `playbook serve` on a fresh PostgreSQL database (the second with two workers),
    or one on SQLite."""
    folder = tmp_path_factory.mktemp(f"scale-{request.param}")
    (folder / "playbooks").mkdir()
    (folder / "playbooks" / "scale-test.yaml").write_text(PLAYBOOK, "utf-8")
    (folder / "people.yaml").write_text(PEOPLE, "utf-8")
    if request.param == "sqlite":
        with _serving(folder, f"sqlite:///{folder / 'store.db'}") as first:
            yield Cluster([first.base], first.db_url, first.tokens, folder)
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with (
        fresh_database(admin) as url,
        _serving(folder, url) as first,
        _another(first) as second,
    ):
        yield Cluster([first.base, second], url, first.tokens, folder)


@pytest.fixture(scope="module")
def moved(cluster: Cluster) -> list[Attempt]:
    """The 200 deals made, then 16 clients moving them at once: every attempt, as answered."""
    with cluster.client(0, "rita") as client:
        for n in range(DEALS):
            body = {"playbook": "scale-test", "external_id": _ref(n), "fields": {"amount": 10}}
            assert client.post("/deals", json=body).status_code == 201
    with ThreadPoolExecutor(CLIENTS) as pool:
        runs = list(pool.map(lambda index: _moves(cluster, index), range(CLIENTS)))
    return [attempt for run in runs for attempt in run]


class _another:
    """A second `playbook serve` on the database of ``server``, itself two worker processes."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        port = _free_port()
        self.log = (self.server.folder / "serve-2.log").open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [*_SERVE, "--db", self.server.db_url, "--port", str(port), "--workers", "2"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, self.process)
        return base

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


_SERVE = (sys.executable, "-m", "playbook", "serve")


def _ref(n: int) -> str:
    return f"S-{n:03d}"


def _moves(cluster: Cluster, index: int) -> list[Attempt]:
    """Read a deal, ask to move it to the other stage; even clients send If-Match."""
    rng = random.Random(index)
    clients = [cluster.client(index + n, ("rita", "mara")[index % 2]) for n in range(2)]
    done = []
    try:
        for n in range(ATTEMPTS):
            ref = _ref(rng.randrange(10) if n % 2 else rng.randrange(DEALS))
            reader, writer = clients[n % 2], clients[(n + 1) % 2]  # never the same process twice
            deal = reader.get(f"/deals/{ref}").json()
            to = "lead" if deal["stage"] == "offer" else "offer"
            headers = {"If-Match": f'"{deal["version"]}"'} if index % 2 == 0 else {}
            answer = writer.post(f"/deals/{ref}/advance", json={"to": to}, headers=headers)
            body = answer.json()
            done.append(
                Attempt(
                    index,
                    ref,
                    deal["version"],
                    to,
                    answer.status_code,
                    body["deal"]["version"] if answer.status_code == 200 else None,
                    body.get("error", {}).get("code") if answer.status_code != 200 else None,
                )
            )
    finally:
        for client in clients:
            client.close()
    return done


def _history(cluster: Cluster) -> dict[str, list[tuple[int, str | None, str, str]]]:
    """Each deal's stored moves, by plain SQL: (version, from, to, actor), oldest first."""
    rows = Server(cluster.bases[0], cluster.db_url, cluster.folder, {}).rows(
        "SELECT d.external_id, c.deal_version, c.from_stage, c.to_stage, c.actor "
        "FROM playbook_stage_changes c JOIN playbook_deals d ON d.id = c.deal_id "
        "WHERE d.external_id LIKE 'S-%' ORDER BY d.external_id, c.deal_version"
    )
    found: dict[str, list[tuple[int, str | None, str, str]]] = {}
    for ref, version, before, after, actor in rows:
        found.setdefault(ref, []).append((version, before, after, actor))
    return found


def test_every_answered_move_is_stored_exactly_once(cluster: Cluster, moved: list[Attempt]) -> None:
    """A 200 names a version; the history holds that move at that version, and no other move."""
    history = _history(cluster)
    stored = Counter(
        (ref, version, after) for ref, rows in history.items() for version, _, after, _ in rows[1:]
    )
    answered = Counter((a.ref, a.version, a.to) for a in moved if a.status == 200)
    assert answered, "no move went through"
    assert stored == answered
    assert max(stored.values()) == 1


def test_versions_are_contiguous_and_the_stage_is_the_last_move(
    cluster: Cluster, moved: list[Attempt]
) -> None:
    """Versions 1..N without gap, each move starting where the last one ended; the row agrees."""
    history = _history(cluster)
    assert set(history) == {_ref(n) for n in range(DEALS)}
    rows = Server(cluster.bases[0], cluster.db_url, cluster.folder, {}).rows(
        "SELECT external_id, stage, version FROM playbook_deals WHERE external_id LIKE 'S-%'"
    )
    assert len(rows) == DEALS
    for ref, stage, version in rows:
        steps = history[ref]
        assert [step[0] for step in steps] == list(range(1, version + 1)), ref
        assert steps[0][1:3] == (None, "lead")
        for earlier, later in itertools.pairwise(steps):
            assert later[1] == earlier[2], (ref, earlier, later)
        assert stage == steps[-1][2]


def test_conflicts_are_answered_only_where_another_move_came_between(
    cluster: Cluster, moved: list[Attempt]
) -> None:
    """409/412 only when the deal had moved past the version the client read; no other answer."""
    history = _history(cluster)
    refused = [a for a in moved if a.status != 200]
    assert {a.status for a in moved} <= {200, 409, 412}, Counter(a.status for a in moved)
    assert refused, "the clients never collided: the test proves nothing"
    for attempt in refused:
        latest = max(step[0] for step in history[attempt.ref])
        assert latest > attempt.read_version, attempt
        # The deal moved on since the client read it: with If-Match, before the server
        # read it (412 PB609) or between its read and its write (409 PB602); without,
        # the stage asked for is already the deal's (409 PB540) or the write lost the race.
        expected = {"PB609", "PB602"} if attempt.client % 2 == 0 else {"PB540", "PB602"}
        assert attempt.code in expected, attempt
        assert attempt.status == (412 if attempt.code == "PB609" else 409), attempt


def test_a_revoked_token_is_refused_by_every_process_at_once(cluster: Cluster) -> None:
    """Revoked from the CLI while the servers run: the next request to each one is 401."""
    secret = _cli(cluster.db_url, "tokens", "create", "rita")
    for index in range(len(cluster.bases)):
        with _signed(cluster, index, secret) as client:
            assert client.get("/me").status_code == 200
    listed = _cli(cluster.db_url, "tokens", "list", "--person", "rita")
    _cli(cluster.db_url, "tokens", "revoke", listed.splitlines()[-1].split()[0])
    for index in range(len(cluster.bases)):
        with _signed(cluster, index, secret) as client:
            answer = client.get("/me")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "PB532"


def test_a_version_registered_elsewhere_is_active_in_every_process(cluster: Cluster) -> None:
    """Another process registers version 2: new deals made through any server follow it."""
    for index in range(len(cluster.bases)):
        with cluster.client(index, "rita") as client:
            made = client.post(
                "/deals", json={"playbook": "scale-test", "external_id": f"V1-{index}"}
            )
        assert made.json()["playbook_version"] == 1
    text = PLAYBOOK.replace("version: 1", "version: 2")
    database = open_database(cluster.db_url)
    try:
        model = playbook_from_text(text, "scale-test.yaml")
        DealStore(database).register_playbook(model, text, now=datetime.now(UTC))
    finally:
        database.dispose()
    for index in range(len(cluster.bases)):
        with cluster.client(index, "rita") as client:
            made = client.post(
                "/deals", json={"playbook": "scale-test", "external_id": f"V2-{index}"}
            )
            listed = client.get("/playbooks").json()["playbooks"]
        assert made.status_code == 201, made.text
        assert made.json()["playbook_version"] == 2
        assert {(item["id"], item["version"]) for item in listed} >= {("scale-test", 2)}


def test_sqlite_is_served_by_one_process(tmp_path: Path) -> None:
    """``--workers 2`` on an SQLite store stops before serving, with exit code 2 and why."""
    url = f"sqlite:///{tmp_path / 'one.db'}"
    _cli(url, "db", "init")
    done = subprocess.run(
        [*_SERVE, "--db", url, "--workers", "2", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert say("cli.serve.sqlite_one_process", "en") in done.stderr


def _signed(cluster: Cluster, index: int, secret: str) -> httpx.Client:
    base = cluster.bases[index % len(cluster.bases)] + "/api/v1"
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=60)
