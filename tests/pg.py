"""A throwaway PostgreSQL cluster for tests: one per session, a fresh database per test.

The binaries come from ``/usr/lib/postgresql/<version>/bin`` (Debian's ``postgresql``
package; the newest version wins). As root, the cluster runs as the ``postgres``
user (``runuser``), in a temp folder it owns. It listens on 127.0.0.1 only and trusts
local connections; it is stopped with ``pg_ctl stop -m fast``, and by PID if that
fails. Use the ``pg_uri`` fixture (import it, with ``pg_cluster``, into a conftest).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import free_port, require

PG_GLOB = "/usr/lib/postgresql/*/bin"
WHY = "Debian package postgresql: the tracking tests on PostgreSQL"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``pg_ctl``."""
    found = [Path(p) for p in glob.glob(PG_GLOB) if (Path(p) / "pg_ctl").exists()]
    return max(found, key=lambda p: _version(p.parent.name)) if found else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


class PostgresCluster:
    """``initdb`` + ``pg_ctl start`` in a temp folder; ``stop()`` removes it all."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        # as root, a folder the postgres user can reach (pytest's own are private to root)
        where = "/tmp" if self._as_postgres else None
        self.home = Path(tempfile.mkdtemp(prefix="lockstep-pg-", dir=where))
        self.data = self.home / "data"
        self.log = self.home / "server.log"
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.home, user.pw_uid, user.pw_gid)

    def start(self) -> None:
        data = str(self.data)
        self._pg(
            "initdb",
            "-D",
            data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg("pg_ctl", "-D", data, "-l", str(self.log), "-o", options, "-w", "start")

    def _pg(self, tool: str, *args: str) -> None:
        argv = [str(self.bindir / tool), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} exited {done.returncode}: {done.stderr}{log}")

    def uri(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``; its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if not self.data.exists():
            shutil.rmtree(self.home, ignore_errors=True)
            return
        try:
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            self._kill()
        shutil.rmtree(self.home, ignore_errors=True)

    def _kill(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class _Shared:
    """One cluster for the whole session, even when several conftests import the fixture
    (pytest then holds one session fixture per place): started by the first, stopped
    when the last lets go."""

    cluster: PostgresCluster | None = None
    users = 0


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    if _Shared.cluster is None:
        bindir = find_bindir()
        require(str(bindir / "pg_ctl") if bindir else "pg_ctl", WHY)
        if os.geteuid() == 0:
            require("runuser", WHY)
        assert bindir is not None
        cluster = PostgresCluster(bindir)
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        _Shared.cluster = cluster
    _Shared.users += 1
    try:
        yield _Shared.cluster
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.cluster.stop()
            _Shared.cluster = None


@pytest.fixture
def pg_uri(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A new, empty database on the session's cluster; dropped after the test."""
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.uri(name)
    finally:
        pg_cluster.drop_database(name)
