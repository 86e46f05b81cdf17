"""Benchmark of `playbook serve`: `check` throughput and latency against a bare endpoint.

    python bench/serve.py [--deals N] [--seconds S] [--clients C] [--rate R]
                          [--workers W] [--skip-postgres]

Real servers on loopback, driven by a keep-alive HTTP/1.1 load generator in
this process (plain asyncio streams, no client library in the way):

1. ``serve.<db>.bare_rps``: a bare FastAPI endpoint returning a constant, run by
   uvicorn with the same settings as `playbook serve` (the baseline, same run).
2. ``serve.<db>.check_rps`` with p50/p99: ``POST /api/v1/deals/{ref}/check`` on
   random deals of a store of N deals (default 100,000), C concurrent clients
   (default 32, closed loop), and its ratio to the bare endpoint
   (target >= 0.5).
3. ``serve.<db>.mixed_p99_ms``: an open-loop offered load of R requests/s
   (default 300): 80% ``check``, 20% ``advance``, each sent at its scheduled
   time whatever the server does (latency counts from that time, so a slow
   server cannot hide its queue); target p99 < 50 ms.

On SQLite (the store file is cached under out/bench/ between runs) and on
PostgreSQL (a throwaway server from the local binaries, or
$PLAYBOOK_TEST_POSTGRES_URL; skipped with a message when neither exists).
``main()`` returns 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "out" / "bench"
NOW = datetime(2025, 1, 6, tzinfo=UTC)
RATIO_TARGET = 0.5
P99_TARGET_MS = 50.0
MAX_CONNECTIONS = 256
"""Connections the open-loop load opens at most (a server that falls behind queues the rest)."""
ADVANCE_POOL = 4000
"""Deals the mixed load moves back and forth (lead <-> offer), apart from the checked ones."""

PLAYBOOK = """\
playbook: bench-serve
version: 1
title: {en: Service benchmark, zh: 服务基准}
roles:
  rep: {title: {en: Rep, zh: 销售代表}}
fields:
  amount: {type: decimal, min: 0, title: {en: Amount, zh: 金额}}
  product: {type: enum, values: [basic, pro, max], title: {en: Product, zh: 产品}}
stages:
  - id: lead
    title: {en: Lead, zh: 线索}
  - id: offer
    title: {en: Offer, zh: 报价}
    entry:
      - {id: priced, condition: "amount > 0", title: {en: Priced, zh: 已报价}}
      - {id: product_chosen, condition: "has(product)", title: {en: Product, zh: 已选产品}}
  - {id: won, title: {en: Won, zh: 赢单}, outcome: won}
  - {id: lost, title: {en: Lost, zh: 输单}, outcome: lost}
transitions:
  allow:
    - {from: offer, to: lead}
"""


def main() -> int:
    """Run the benchmark on SQLite and PostgreSQL; print one line per figure; 1 on a miss."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick = os.environ.get("PLAYBOOK_BENCH_QUICK") == "1"
    parser.add_argument("--deals", type=int, default=20_000 if quick else 100_000)
    parser.add_argument("--seconds", type=float, default=3.0 if quick else 10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=1, help="processes per server")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.bare is not None:
        return _run_bare(args.bare, args.workers)
    ok = True
    if not args.skip_sqlite:
        ok &= _bench("sqlite", _sqlite_store(args.deals), args)
    if not args.skip_postgres:
        ok &= _on_postgres(args)
    return 0 if ok else 1


# --- the store -------------------------------------------------------------------------------


@dataclass
class Store:
    """A database with N deals of the bench playbook, the person ``rep`` and a token of theirs."""

    url: str
    deals: int
    token: str = ""


def _sqlite_store(deals: int) -> Store:
    """The cached SQLite store of ``deals`` deals (built on first use), with a fresh token."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"serve-{deals}.db"
    if not path.exists():
        partial = CACHE / f"serve-{deals}.partial.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        _fill(f"sqlite:///{partial}", deals)
        partial.rename(path)
    else:
        _reset_moves(f"sqlite:///{path}")
    return _with_token(Store(f"sqlite:///{path}", deals))


def _fill(url: str, deals: int) -> None:
    """Build the store: schema, playbook, person, and ``deals`` deals through the bulk import."""
    from playbook.definition.files import playbook_from_text
    from playbook.store.db import open_database
    from playbook.store.importer import import_deals
    from playbook.store.people import add_person, person_record
    from playbook.store.repository import DealStore
    from playbook.store.schema import upgrade

    started = time.perf_counter()
    database = open_database(url, check_schema=False)
    upgrade(database)
    store = DealStore(database)
    playbook = playbook_from_text(PLAYBOOK, "bench-serve.yaml")
    store.register_playbook(playbook, PLAYBOOK, now=NOW)
    add_person(database, person_record({"name": "rep", "roles": ["rep"]}), now=NOW)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "deals.csv"
        _write_deals(source, deals)
        report = import_deals(store, playbook, source, now=NOW)
    database.dispose()
    assert report.created == deals, report
    print(f"   (built a store of {deals:,} deals in {time.perf_counter() - started:.1f} s)")


def _write_deals(path: Path, count: int) -> None:
    """``count`` deals in ``lead``: a third without amount or product (their check is blocked)."""
    rng = random.Random(14)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "owner", "stage", "amount", "product"])
        for n in range(count):
            priced = n < ADVANCE_POOL or n % 3 != 0
            amount = rng.randrange(100, 90_000) if priced else ""
            product = rng.choice(["basic", "pro", "max"]) if priced else ""
            writer.writerow([_ref(n), "rep", "lead", amount, product])


def _ref(n: int) -> str:
    return f"B{n:07d}"


def _reset_moves(url: str) -> None:
    """Put the deals the last run moved back in ``lead`` (a cached store is reused)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE playbook_deals SET stage = 'lead' WHERE stage != 'lead'"))
    engine.dispose()


def _with_token(store: Store) -> Store:
    from playbook.store.db import open_database
    from playbook.store.tokens import create_token

    database = open_database(store.url)
    store.token, _ = create_token(database, "rep", now=datetime.now(UTC))
    database.dispose()
    return store


def _on_postgres(args: argparse.Namespace) -> bool:
    from playbook.store.testing import ThrowawayPostgres, find_postgres_bin, fresh_database

    given = os.environ.get("PLAYBOOK_TEST_POSTGRES_URL")
    bin_dir = find_postgres_bin()
    if not given and bin_dir is None:
        print("serve.postgresql skipped: no PostgreSQL binaries (initdb, pg_ctl) found")
        return True
    with contextlib.ExitStack() as stack:
        if not given:
            assert bin_dir is not None
            given = stack.enter_context(ThrowawayPostgres(bin_dir)).url
        url = stack.enter_context(fresh_database(given))
        _fill(url, args.deals)
        return _bench("postgresql", _with_token(Store(url, args.deals)), args)
    return True  # pragma: no cover (the with block returns)


# --- the servers -----------------------------------------------------------------------------


def _run_bare(port: int, workers: int) -> int:
    """(in a child process) The baseline: a bare endpoint, served as `playbook serve` serves."""
    import uvicorn

    from playbook.cli.serve import uvicorn_options

    options = uvicorn_options(workers)
    if workers == 1:
        uvicorn.run(bare_app(), host="127.0.0.1", port=port, **options)
    else:  # worker processes import the app themselves
        here = str(Path(__file__).parent)
        target = f"{Path(__file__).stem}:bare_app"
        uvicorn.run(target, factory=True, app_dir=here, host="127.0.0.1", port=port, **options)
    return 0


def bare_app() -> FastAPI:
    """A FastAPI application with one endpoint that returns a constant."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/constant")
    async def constant() -> dict[str, bool]:
        return {"ok": True}

    return app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _server(command: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until it accepts connections, stop it afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[3:5]} stopped: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer on port {port} within 120 s")
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _serve_command(url: str, port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "playbook", "serve", "--db", url, "--port", str(port)]
    return [*command, "--workers", str(workers)] if workers > 1 else command


def _bare_command(port: int, workers: int) -> list[str]:
    return [sys.executable, __file__, "--bare", str(port), "--workers", str(workers)]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants (Linux; else 0)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = " ".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    except OSError:
        return 0.0
    own = sum(int(value) for value in fields[11:13]) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children.split())


# --- the load --------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one load produced: latencies (s) of the requests in the window, statuses, seconds."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu: float = 0.0
    requests: int = 0
    """Every request answered while the load ran (warm-up included), to share the CPU time."""

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def ms(self, quantile: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000

    def described(self) -> str:
        codes = ", ".join(f"{code}: {n:,}" for code, n in sorted(self.statuses.items()))
        return f"p50 {self.ms(0.5):.1f} ms, p99 {self.ms(0.99):.1f} ms; statuses {codes}"


class Connection:
    """One keep-alive HTTP/1.1 connection: send a prepared request, read the whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def call(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return int(head[9:12])

    def close(self) -> None:
        self.writer.close()


def _request(path: str, body: dict[str, object], token: str = "") -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
    )
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    return head.encode() + b"\r\n" + data


async def _closed_loop(
    port: int, make: Callable[[int], bytes], clients: int, seconds: float
) -> Figures:
    """``clients`` connections, each sending its next request as soon as the last is answered."""
    connections = [await Connection.open(port) for _ in range(clients)]
    figures = Figures(seconds=seconds)
    clock = time.perf_counter
    begin = clock() + min(2.0, seconds / 4)  # warm-up first: not counted
    end = begin + seconds

    async def client(connection: Connection, n: int) -> None:
        while (sent := clock()) < end:
            status = await connection.call(make(n))
            n += clients
            figures.requests += 1
            if sent >= begin and clock() <= end:
                figures.latencies.append(clock() - sent)
                figures.statuses[status] += 1

    await asyncio.gather(*(client(c, n) for n, c in enumerate(connections)))
    for connection in connections:
        connection.close()
    return figures


async def _open_loop(
    port: int, make: Callable[[int], bytes], rate: float, seconds: float
) -> Figures:
    """Requests sent at ``rate`` per second on schedule, each on an idle connection.

    A new connection is opened when none is idle, up to :data:`MAX_CONNECTIONS`;
    past that a request waits for one. Its latency runs from its scheduled time,
    so time spent waiting for a connection or for this process counts too (no
    coordinated omission).
    """
    warm = int(rate * min(2.0, seconds / 4))
    total = warm + int(rate * seconds)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = [await Connection.open(port) for _ in range(16)]
    for connection in opened:
        idle.put_nowait(connection)
    figures = Figures(seconds=seconds)
    clock = time.perf_counter
    start = clock() + 0.05

    async def one(n: int, due: float) -> None:
        if idle.empty() and len(opened) < MAX_CONNECTIONS:
            opened.append(await Connection.open(port))
            idle.put_nowait(opened[-1])
        connection = await idle.get()
        status = await connection.call(make(n))
        done = clock()
        idle.put_nowait(connection)
        if n >= warm:
            figures.latencies.append(done - due)
            figures.statuses[status] += 1

    tasks = []
    for n in range(total):
        due = start + n / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(n, due)))
    await asyncio.gather(*tasks)
    for connection in opened:
        connection.close()
    return figures


# --- the benchmark ---------------------------------------------------------------------------


def _bench(dialect: str, store: Store, args: argparse.Namespace) -> bool:
    """Bare endpoint, then check, then the mixed load, each on a server of its own."""
    rng = random.Random(5)
    checked = [rng.randrange(ADVANCE_POOL, store.deals) for _ in range(50_000)]
    check_requests = [
        _request(f"/api/v1/deals/{_ref(n)}/check", {"to": "offer"}, store.token) for n in checked
    ]

    def check(n: int) -> bytes:
        return check_requests[n % len(check_requests)]

    bare_request = _request("/constant", {})
    log = CACHE / f"serve-{dialect}.log"
    CACHE.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    with _server(_bare_command(port, args.workers), port, log) as process:
        bare = _measured(
            process, _closed_loop(port, lambda _n: bare_request, args.clients, args.seconds)
        )
    port = _free_port()
    with _server(_serve_command(store.url, port, args.workers), port, log) as process:
        checks = _measured(process, _closed_loop(port, check, args.clients, args.seconds))
        mixed = asyncio.run(_open_loop(port, _mixed(store, check), args.rate, args.seconds))
    return _report(dialect, bare, checks, mixed, args)


def _measured(process: subprocess.Popen[bytes], load: Coroutine[None, None, Figures]) -> Figures:
    """Run ``load``; its figures, with the server's CPU time per request meanwhile."""
    cpu = _cpu_seconds(process.pid)
    figures = asyncio.run(load)
    figures.cpu = (_cpu_seconds(process.pid) - cpu) / max(figures.requests, 1)
    return figures


def _mixed(store: Store, check: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """80% checks, 20% advances moving deals of the advance pool lead -> offer -> lead."""
    stages: dict[int, str] = {}
    advanced = 0

    def make(n: int) -> bytes:
        nonlocal advanced
        if n % 5 != 4:
            return check(n)
        deal = advanced % ADVANCE_POOL
        advanced += 1
        to = "lead" if stages.get(deal, "lead") == "offer" else "offer"
        stages[deal] = to
        return _request(f"/api/v1/deals/{_ref(deal)}/advance", {"to": to}, store.token)

    return make


def _report(
    dialect: str, bare: Figures, checks: Figures, mixed: Figures, args: argparse.Namespace
) -> bool:
    ratio = checks.rps / bare.rps if bare.rps else 0.0
    setting = f"{args.clients} clients, {args.seconds:g} s, {args.workers} worker(s)"
    print(
        f"serve.{dialect}.bare_rps {bare.rps:,.0f} (the baseline; {setting}; {bare.described()}; "
        f"server CPU {bare.cpu * 1e6:.0f} us per request)"
    )
    print(
        f"serve.{dialect}.check_rps {checks.rps:,.0f} ({ratio:.2f}x the bare endpoint, "
        f"target >= {RATIO_TARGET:g}; {checks.described()}; {args.deals:,} deals; server CPU "
        f"{checks.cpu * 1e6:.0f} us per check, {bare.cpu / checks.cpu if checks.cpu else 0:.2f}x "
        f"the bare endpoint's; load average {os.getloadavg()[0]:.1f})"
    )
    p99 = mixed.ms(0.99)
    print(
        f"serve.{dialect}.mixed_p99_ms {p99:.1f} (target < {P99_TARGET_MS:g}: "
        f"{p99 / P99_TARGET_MS:.2f} of it; {mixed.rps:,.0f} requests/s offered open-loop, "
        f"80% check, 20% advance; {mixed.described()})"
    )
    answered = all(code < 500 for code in [*checks.statuses, *mixed.statuses])
    return answered and ratio >= RATIO_TARGET and p99 < P99_TARGET_MS


def _cleanup_cache() -> None:  # pragma: no cover (a manual helper)
    shutil.rmtree(CACHE, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
