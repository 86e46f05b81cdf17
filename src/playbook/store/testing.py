"""A throwaway PostgreSQL server for tests and benchmarks, started from the local binaries.

:class:`ThrowawayPostgres` runs ``initdb`` and ``pg_ctl`` on a temporary
folder, listens only on a Unix socket in that folder (no TCP port to collide
with), trusts local connections, and removes everything when stopped.
PostgreSQL refuses to run as root: when the current user is root, the server
runs as the ``postgres`` system user (created by Debian's ``postgresql``
package), or as ``nobody`` when there is no such user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from sqlalchemy import create_engine, text

__all__ = ["ThrowawayPostgres", "find_postgres_bin", "fresh_database"]

_SETTINGS = (
    "listen_addresses=''",
    "fsync=off",  # a throwaway server: durability buys nothing here
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=60",
)


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest installed version), or None."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


class ThrowawayPostgres:
    """A private PostgreSQL server in a temporary folder; use it as a context manager."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="playbook-pg-"))
        self.data = self.folder / "data"
        self._user = _server_user()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``postgres`` maintenance database."""
        return f"postgresql+psycopg://postgres@/postgres?host={self.folder}"

    def start(self) -> None:
        """Create the cluster and start the server; raises RuntimeError with its log on failure."""
        if self._user is not None:
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = " ".join(f"-c {setting}" for setting in _SETTINGS)
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            f"-k {self.folder} {options}",
        )

    def stop(self) -> None:
        """Stop the server (immediately) and delete its folder."""
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data))
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        user = None if self._user is None else self._user.pw_uid
        group = None if self._user is None else self._user.pw_gid
        done = subprocess.run(  # noqa: S603 (fixed programs, arguments built here)
            command,
            capture_output=True,
            text=True,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
            cwd=self.folder,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{server_log}"
            )


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and neither a `postgres` nor a `nobody` user exists")


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``, dropped afterwards; yields its URL."""
    name = f"playbook_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
