"""A throwaway PostgreSQL + PostGIS server for tests and benchmarks.

Starts a private cluster in a temporary folder on a free port of 127.0.0.1 (Unix socket inside that
folder too), creates a database with the PostGIS extension and removes everything on :meth:`PgServer.stop`
(also at interpreter exit). Uses the Debian packages ``postgresql`` and ``postgis``; when run as root the
cluster belongs to the ``postgres`` system user (PostgreSQL refuses to run as root).

Examples
--------
>>> with PgServer() as pg:                        # doctest: +SKIP
...     engine = sqlalchemy.create_engine(pg.url)  # postgresql+psycopg://postgres@127.0.0.1:PORT/gis_test

Command line (prints the URL and keeps the server until Enter/Ctrl-C)::

    python -m gis_planner.devtools.pgserver
"""
from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PgServerUnavailable(RuntimeError):
    """PostgreSQL binaries are not installed (tests skip with this reason)."""


def find_bindir() -> Path:
    """Folder of ``initdb``/``pg_ctl``: ``$PG_BINDIR``, ``pg_config --bindir`` or the newest Debian one."""
    env = os.environ.get("PG_BINDIR")
    candidates = [Path(env)] if env else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                           key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                                           reverse=True)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
            candidates.append(Path(out))
        except (subprocess.CalledProcessError, OSError):
            pass
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise PgServerUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found; "
                              "install the Debian packages postgresql and postgis")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A private PostgreSQL cluster with a PostGIS database (see module docstring)."""

    def __init__(self, dbname: str = "gis_test", extensions: tuple[str, ...] = ("postgis",)):
        self.dbname = dbname
        self.extensions = extensions
        self.bindir = find_bindir()
        self.tmp: Path | None = None
        self.port: int | None = None
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0

    # the URL SQLAlchemy (psycopg 3) uses
    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(a) for a in args]
        if self._as_root:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def _run(self, *args: str, timeout: float = 120) -> str:
        res = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
        return res.stdout

    def start(self) -> "PgServer":
        self.tmp = Path(tempfile.mkdtemp(prefix="gis_planner_pg_"))
        data = self.tmp / "data"
        if self._as_root:
            shutil.chown(self.tmp, "postgres", "postgres")
        self._run(self.bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        last = None
        for _attempt in range(5):  # the free port may be taken between probing and binding
            self.port = free_port()
            opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.tmp} "
                    f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 "
                    f"-c shared_buffers=32MB")
            try:
                self._run(self.bindir / "pg_ctl", "-D", data, "-o", opts, "-l", self.tmp / "server.log",
                          "-w", "-t", "60", "start")
                break
            except RuntimeError as exc:
                last = exc
                time.sleep(0.2)
        else:
            raise RuntimeError(f"cannot start PostgreSQL: {last}; log: {self.log_tail()}")
        atexit.register(self.stop)
        psql = self.bindir / "psql" if (self.bindir / "psql").exists() else Path(shutil.which("psql") or "psql")
        self._run(self.bindir / "createdb", "-h", self.tmp, "-p", self.port, "-U", "postgres", self.dbname)
        for ext in self.extensions:
            self._run(psql, "-h", self.tmp, "-p", self.port, "-U", "postgres", "-d", self.dbname, "-v",
                      "ON_ERROR_STOP=1", "-c", f"CREATE EXTENSION IF NOT EXISTS {ext}")
        return self

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join((self.tmp / "server.log").read_text(errors="replace").splitlines()[-n:])
        except (OSError, TypeError):
            return ""

    def stop(self) -> None:
        if self.tmp is None:
            return
        data = self.tmp / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run(self.bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def __enter__(self) -> "PgServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:  # pragma: no cover - manual use
    with PgServer() as pg:
        print(pg.url, flush=True)
        try:
            input("PostgreSQL is running; press Enter to stop and remove it\n")
        except (KeyboardInterrupt, EOFError):
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
