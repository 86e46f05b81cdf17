"""Every command of the README, given what a careless operator gives it: never an internal error.

Missing files, directories where a file is expected, garbage bytes, huge and
out-of-range values, and a read-only or locked database: each command prints
a coded error (``PBnnn``) or a usage error and exits with a documented code
(1 problems found, 2 bad input, 3 environment), never 70 (a bug) and never a
traceback. Run in a real process per case, as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "playbooks" / "b2b-project-sales.yaml"
NOW = "2026-11-20T18:00:00+08:00"


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a garbage file, a directory, a valid playbook and an initialised store."""
    here = tmp_path_factory.mktemp("bad-input")
    (here / "garbage.yaml").write_bytes(b"\x00\xff\xfe garbage \x1b[2J" * 50)
    (here / "garbage.json").write_bytes(b"{\x00\xff not json")
    (here / "dir.yaml").mkdir()
    shutil.copy(SAMPLE, here / "pb.yaml")
    (here / "deal.json").write_text(
        '{"id": "D-1", "stage": "lead_identification", "fields": {}}', "utf-8"
    )
    (here / "deals.csv").write_text("external_id,stage\nD-1,lead_identification\n", "utf-8")
    (here / "more.csv").write_text("external_id,stage\nD-2,lead_identification\n", "utf-8")
    (here / "acts.csv").write_text("id,deal,at\nA-1,D-1,2026-11-19 10:00\n", "utf-8")
    (here / "nodeal.csv").write_text("id,deal,at\nA-9,D-404,2026-11-19 10:00\n", "utf-8")
    (here / "acts.yaml").write_text(
        'id: id\ndeal: {external_id: deal}\nkind: call\nat: at\ndate_formats: ["%Y-%m-%d %H:%M"]\n',
        "utf-8",
    )
    done = _run(here, "db", "init")
    assert done.returncode == 0, done.stderr
    done = _run(here, "deals", "import", "deals.csv", "--playbook", "pb.yaml", "--now", NOW)
    assert done.returncode == 0, done.stderr
    return here


def _run(
    here: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PLAYBOOK_DB": f"sqlite:///{here / 'store.db'}", **(env or {})}
    environ.pop("PLAYBOOK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "playbook", *args],
        cwd=here,
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


BAD_FILES = ["missing.yaml", "dir.yaml", "garbage.yaml"]
HUGE = "9" * 5000

CASES: list[tuple[str, list[str]]] = [
    *[(f"validate {f}", ["validate", f]) for f in BAD_FILES],
    *[
        (f"check {f}", ["check", "--playbook", f, "--deal", "deal.json", "--to", "won"])
        for f in BAD_FILES
    ],
    (
        "check garbage deal",
        ["check", "--playbook", "pb.yaml", "--deal", "garbage.json", "--to", "won"],
    ),
    ("check deal dir", ["check", "--playbook", "pb.yaml", "--deal", "dir.yaml", "--to", "won"]),
    (
        "check huge now",
        [
            "check",
            "--playbook",
            "pb.yaml",
            "--deal",
            "deal.json",
            "--to",
            "won",
            "--now",
            "9999-12-31T23:59:59-12:00",
        ],
    ),
    *[(f"next {f}", ["next", "--playbook", f, "--deal", "deal.json"]) for f in BAD_FILES],
    *[
        (f"deals import {f}", ["deals", "import", f, "--playbook", "pb.yaml"])
        for f in [*BAD_FILES, "garbage.json"]
    ],
    (
        "deals import mapping garbage",
        ["deals", "import", "deals.csv", "--playbook", "pb.yaml", "--mapping", "garbage.yaml"],
    ),
    (
        "deals import unknown preset",
        ["deals", "import", "deals.csv", "--playbook", "pb.yaml", "--preset", "nope"],
    ),
    *[
        (f"activities import {f}", ["activities", "import", f, "--mapping", "acts.yaml"])
        for f in [*BAD_FILES, "garbage.json"]
    ],
    *[
        (f"activities import mapping {f}", ["activities", "import", "acts.csv", "--mapping", f])
        for f in [*BAD_FILES, "preset:nope", "pb.yaml"]
    ],
    (
        "activities import no such deal",
        ["activities", "import", "nodeal.csv", "--mapping", "acts.yaml", "--now", NOW],
    ),
    (
        "activities import before its rows",
        [
            "activities",
            "import",
            "acts.csv",
            "--mapping",
            "acts.yaml",
            "--now",
            "2001-01-01T00:00:00Z",
        ],
    ),
    ("actions export to dir", ["actions", "export", "--output", "dir.yaml"]),
    ("actions export bad board", ["actions", "export", "--board", "jira"]),
    ("actions export huge now", ["actions", "export", "--now", "0001-01-01T00:00:00+14:00"]),
    ("deals list huge limit", ["deals", "list", "--limit", HUGE]),
    ("deals show unknown", ["deals", "show", "NOPE"]),
    ("deals show huge id", ["deals", "show", HUGE]),
    ("deals history huge id", ["deals", "history", HUGE]),
    (
        "deals advance unknown stage",
        ["deals", "advance", "D-1", "--to", "nowhere", "--as", "sales_rep"],
    ),
    (
        "deals advance edited dir",
        ["deals", "advance", "D-1", "--to", "won", "--as", "sales_rep", "--playbook", "dir.yaml"],
    ),
    ("deals complete unknown", ["deals", "complete", "D-1", "nothing", "--as", "sales_rep"]),
    (
        "deals log huge now",
        ["deals", "log", "D-1", "--kind", "call", "--now", "0001-01-01T00:00:00+14:00"],
    ),
    ("deals export to dir", ["deals", "export", "--output", "dir.yaml"]),
    *[(f"sweep {f}", ["sweep", "--playbook", f]) for f in BAD_FILES],
    ("sweep huge now", ["sweep", "--playbook", "pb.yaml", "--now", "9999-12-31T23:59:59-12:00"]),
    (
        "sweep bad sink",
        ["sweep", "--playbook", "pb.yaml", "--sink", "jsonl:dir.yaml", "--now", NOW],
    ),
    (
        "sweep huge lease",
        ["sweep", "--playbook", "pb.yaml", "--delivery-lease", HUGE + "d", "--now", NOW],
    ),
    ("worker huge every", ["worker", "--playbook", "pb.yaml", "--every", HUGE + "d"]),
    ("worker tiny every", ["worker", "--playbook", "pb.yaml", "--every", "0s"]),
    ("escalations ack huge id", ["escalations", "ack", HUGE, "--reason", "x", "--as", "sales_rep"]),
    (
        "escalations snooze huge until",
        ["escalations", "snooze", "1", "--until", HUGE + "d", "--reason", "x", "--as", "sales_rep"],
    ),
    ("escalations list huge limit", ["escalations", "list", "--limit", HUGE]),
    *[(f"kpi {f}", ["kpi", "--playbook", f]) for f in BAD_FILES],
    ("kpi huge period", ["kpi", "--playbook", "pb.yaml", "--period", "99999-Q9"]),
    ("kpi period year 0", ["kpi", "--playbook", "pb.yaml", "--period", "0000"]),
    (
        "kpi huge from",
        ["kpi", "--playbook", "pb.yaml", "--from", "0001-01-01", "--to", "9999-12-31"],
    ),
    (
        "review huge week",
        ["review", "--playbook", "pb.yaml", "--owner", "x", "--week", "99999-W99"],
    ),
    *[(f"test {f}", ["test", f]) for f in BAD_FILES],
    *[(f"paths {f}", ["paths", f]) for f in BAD_FILES],
    *[(f"diff {f}", ["diff", "pb.yaml", f]) for f in BAD_FILES],
    *[(f"graph {f}", ["graph", f]) for f in BAD_FILES],
    *[(f"docs {f}", ["docs", f]) for f in BAD_FILES],
    ("init into a file", ["init", "x", "--dir", "garbage.yaml"]),
    ("migrate huge version", ["migrate", "--from-version", "1", "--to-version", HUGE, "--dry-run"]),
    ("activate huge version", ["activate", "pb", HUGE, "--reason", "x", "--as", "o:ops"]),
    ("activate unregistered", ["activate", "pb", "7", "--reason", "x", "--as", "o:ops"]),
    ("activate without a person", ["activate", "pb", "1", "--reason", "x", "--as", ":ops"]),
    ("audit huge since", ["audit", "--since", "9999-12-31T23:59:59-12:00"]),
    *[(f"db on {f}", ["db", "current", "--db", f"sqlite:///{f}/x.db"]) for f in ["dir.yaml/nope"]],
    ("db on garbage url", ["db", "current", "--db", "nonsense://\x01"]),
    ("people import garbage", ["people", "import", "garbage.json"]),
    ("people import a playbook", ["people", "import", "pb.yaml"]),
    ("people add bad email", ["people", "add", "x", "--email", "not-an-email"]),
    ("people set unknown", ["people", "set", "nobody", "--team", "t"]),
    ("people set clear unknown field", ["people", "set", "nobody", "--clear", "tema"]),
    ("tokens create unknown person", ["tokens", "create", "nobody"]),
    ("tokens revoke huge id", ["tokens", "revoke", HUGE]),
    ("tokens revoke unknown id", ["tokens", "revoke", "424242"]),
    ("tokens create huge expiry", ["tokens", "create", "nobody", "--expires", HUGE]),
    ("serve on a missing folder", ["serve", "--db", "sqlite:///dir.yaml/nope/x.db"]),
    ("serve garbage playbooks", ["serve", "--playbooks", "dir.yaml", "--port", "0"]),
    ("db on garbage file", ["deals", "list", "--db", "sqlite:///garbage.yaml"]),
]


@pytest.mark.parametrize(("name", "args"), CASES, ids=[name for name, _ in CASES])
def test_bad_input_gets_a_coded_error(place: Path, name: str, args: list[str]) -> None:
    """Exit 1, 2 or 3 with a coded or usage error; no traceback, no internal error."""
    done = _run(place, *args)
    output = done.stdout + done.stderr
    assert done.returncode in (1, 2, 3), (name, done.returncode, output[-2000:])
    assert "internal error" not in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    assert "PB" in output or "Error:" in output or "Usage:" in output, output[-2000:]


def _lock(path: Path) -> subprocess.Popen[bytes]:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == b"locked"
    return holder


WRITERS = [
    ["deals", "import", "more.csv", "--playbook", "pb.yaml", "--now", NOW],
    ["deals", "log", "D-1", "--kind", "call", "--now", NOW],
    [
        "deals",
        "advance",
        "D-1",
        "--to",
        "initial_contact",
        "--as",
        "sales_manager",
        "--override",
        "pilot",
        "--now",
        NOW,
    ],
    ["sweep", "--playbook", "pb.yaml", "--now", NOW],
    ["activities", "import", "acts.csv", "--mapping", "acts.yaml", "--now", NOW],
]
READERS = [
    ["actions", "export", "--now", NOW],
    ["deals", "list"],
    ["kpi", "--playbook", "pb.yaml", "--now", NOW],
    ["audit"],
    ["escalations", "list"],
]


def test_a_locked_database_is_pb606_for_writers_and_readable(place: Path) -> None:
    """Another process holds the write lock: writers exit 3 with PB606, readers still read (WAL)."""
    holder = _lock(place / "store.db")
    try:
        for args in WRITERS:
            done = _run(place, *args, env={"PLAYBOOK_BUSY_TIMEOUT_MS": "200"})
            output = done.stdout + done.stderr
            assert done.returncode == 3, (args, output[-1500:])
            assert "PB606" in output, (args, output[-1500:])
        for args in READERS:
            done = _run(place, *args, env={"PLAYBOOK_BUSY_TIMEOUT_MS": "200"})
            assert done.returncode in (0, 1), (args, done.stderr[-1500:])
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_a_read_only_database_reads_and_refuses_writes_with_pb607(place: Path) -> None:
    """Reading commands work on a read-only database; writing ones exit 3 with PB607."""
    url = f"sqlite:///file:{place / 'store.db'}?mode=ro&uri=true"
    for args in READERS:
        done = _run(place, *args, "--db", url)
        assert done.returncode in (0, 1), (args, done.stderr[-1500:])
    for args in WRITERS:
        done = _run(place, *args, "--db", url)
        output = done.stdout + done.stderr
        assert done.returncode == 3, (args, output[-1500:])
        assert "PB607" in output, (args, output[-1500:])
