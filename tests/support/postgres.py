"""A real, throwaway PostgreSQL server for tests: one cluster per test session, one fresh database per test.

``PostgresCluster().start()`` runs ``initdb`` into a new temporary directory and starts ``postgres`` on
127.0.0.1 (a free port) with durability switched off for speed; ``create_database`` clones a prepared
template, which takes milliseconds; ``stop()`` shuts the server down and removes the directory.

The server programs are found under /usr/lib/postgresql/*/bin (Debian and Ubuntu's packages, newest
version first), else through PATH. ``initdb``, ``pg_ctl`` and ``postgres`` refuse to run as root, so when
this process is root they run as the ``postgres`` system user (which the package creates), on a directory
owned by that user. Everything here uses the standard library and the cluster's own ``psql``; only the
``a``-prefixed helpers need asyncpg, imported when called.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self
from urllib.parse import quote

from tests.support.loopback import free_port

INSTALL_HINT = "apt-get install -y postgresql"
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
VERSIONED_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"  # the system user that runs the server when we are root
SUPERUSER = "chorus"  # the database superuser (trust authentication: no password)
TEMPLATE = "chorus_template"
MAX_IDENTIFIER = 63  # PostgreSQL cuts longer names silently (NAMEDATALEN - 1 bytes)

# Settings for a server whose data may be lost at any moment: tests never need a crash to be survivable.
TEST_SETTINGS: dict[str, object] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": 200,
}


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server programs (or the user to run them as) are missing from this machine."""


class PostgresStartError(RuntimeError):
    """The server was found but did not start; the message carries the end of its log."""


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,); 9.6 -> (9, 6); anything else sorts first."""
    try:
        return tuple(int(part) for part in bin_dir.parent.name.split("."))
    except ValueError:
        return ()


def _has_server(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in SERVER_PROGRAMS)


def find_postgres_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: the newest /usr/lib/postgresql/<version>/bin,
    else the real directory (symlinks followed) of the ``initdb`` found on PATH; None when there is none."""
    versioned = sorted((Path(p) for p in glob.glob(VERSIONED_BIN_GLOB)), key=_version_key, reverse=True)
    for bin_dir in versioned:
        if _has_server(bin_dir):
            return bin_dir
    on_path = shutil.which("initdb")
    if on_path:
        bin_dir = Path(on_path).resolve().parent
        if _has_server(bin_dir):
            return bin_dir
    return None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_name(name: str) -> str:
    if not name or "\x00" in name or len(name.encode()) > MAX_IDENTIFIER:
        raise ValueError(f"not a usable database name (1 to {MAX_IDENTIFIER} bytes, no NUL): {name!r}")
    return name


def _conf_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(the server log is empty)"


class PostgresCluster:
    """One throwaway PostgreSQL server. Synchronous on purpose: it is started and stopped from session
    fixtures, outside any event loop. Usable as a context manager."""

    def __init__(self, *, bin_dir: Path | None = None, settings: Mapping[str, object] | None = None,
                 start_timeout: float = 60.0) -> None:
        self.bin_dir = bin_dir
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self.start_timeout = start_timeout
        self.port = 0
        self.root: Path | None = None  # the temporary directory: data/, server.log
        self.startup_seconds = 0.0  # how long start() took (initdb, server start, template)
        self._psql = ""
        self._server_uid: int | None = None  # set when we are root: the postgres user's ids
        self._server_gid: int | None = None

    # -- paths and addresses ---------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "socket"

    @property
    def log_path(self) -> Path:
        return self._root() / "server.log"

    @property
    def dsn(self) -> str:
        """The superuser's DSN for the ``postgres`` maintenance database."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        if not self.port:
            raise RuntimeError("the cluster is not started")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{quote(database, safe='')}"

    @property
    def server_pid(self) -> int:
        """The postmaster's process id (from postmaster.pid)."""
        return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])

    @property
    def running(self) -> bool:
        return self.root is not None and (self.data_dir / "postmaster.pid").exists()

    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("the cluster is not started")
        return self.root

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self.root is not None:
            raise RuntimeError("the cluster is already started")
        began = time.perf_counter()
        bin_dir = self.bin_dir or find_postgres_bin()
        if bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found under "
                f"{VERSIONED_BIN_GLOB} nor on PATH. The tests start their own throwaway server; install it "
                f"with: {INSTALL_HINT}  (as root, or with sudo; .ci/run does this itself)")
        self.bin_dir = bin_dir
        psql = bin_dir / "psql"
        self._psql = str(psql) if os.access(psql, os.X_OK) else (shutil.which("psql") or "")
        if not self._psql:
            raise PostgresUnavailable(f"psql was not found in {bin_dir} nor on PATH; install it with: "
                                      f"{INSTALL_HINT}")
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, and PostgreSQL refuses to run as root, but there is no "
                    f"{SERVER_USER!r} system user to run it as; {INSTALL_HINT} creates it") from None
            self._server_uid, self._server_gid = user.pw_uid, user.pw_gid
        self.root = self._make_root()
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_server()
            self.psql(f"CREATE DATABASE {TEMPLATE} IS_TEMPLATE true")
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began
        return self

    def stop(self) -> None:
        """Shut the server down (fast, then immediate) and remove its directory. Safe to call twice."""
        root, self.root = self.root, None
        atexit.unregister(self.stop)
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                for mode in ("fast", "immediate"):
                    done = self._run([self._bin("pg_ctl"), "-D", str(root / "data"), "-m", mode, "-w", "-t", "30",
                                      "stop"], as_server=True, check=False, cwd=root)
                    if done.returncode == 0:
                        break
        finally:
            shutil.rmtree(root, ignore_errors=True)
            self.port = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """A new empty database cloned from the template; returns its DSN."""
        self.psql(self._create_sql(name))
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing any connection still open to it; no error if it is gone already."""
        self.psql(self._drop_sql(name))

    async def acreate_database(self, name: str) -> str:
        """``create_database`` over asyncpg, from inside an event loop."""
        await self.aexecute(self._create_sql(name))
        return self.dsn_for(name)

    async def adrop_database(self, name: str) -> None:
        await self.aexecute(self._drop_sql(name))

    async def aexecute(self, sql: str) -> None:
        import asyncpg  # only these helpers need it

        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql (unaligned, tuples only) as the superuser; returns its output."""
        done = self._run([self._psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER,
                          "-d", database, "-c", sql], check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}) on {sql!r}: {done.stdout.strip()}")
        return done.stdout

    @staticmethod
    def _create_sql(name: str) -> str:
        return f"CREATE DATABASE {quote_ident(_check_name(name))} TEMPLATE {TEMPLATE}"

    @staticmethod
    def _drop_sql(name: str) -> str:
        return f"DROP DATABASE IF EXISTS {quote_ident(_check_name(name))} WITH (FORCE)"

    # -- internals -------------------------------------------------------------------------------------

    def _bin(self, name: str) -> str:
        assert self.bin_dir is not None
        return str(self.bin_dir / name)

    def _make_root(self) -> Path:
        base = Path(tempfile.gettempdir())
        # The socket's path must stay under ~107 bytes; the server user must be able to reach the directory.
        if len(str(base)) > 40 or (self._server_uid is not None and not _reachable_by_others(base)):
            base = Path("/tmp")
        root = Path(tempfile.mkdtemp(prefix="chorus-pg-", dir=base))
        self._give_to_server(root)
        return root

    def _give_to_server(self, path: Path) -> None:
        if self._server_uid is not None and self._server_gid is not None:
            os.chown(path, self._server_uid, self._server_gid)

    def _initdb(self) -> None:
        done = self._run([self._bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust",
                          "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
                         as_server=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise PostgresStartError(f"initdb failed ({done.returncode}):\n{done.stdout.strip()}")
        self.socket_dir.mkdir()
        self._give_to_server(self.socket_dir)
        lines = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.socket_dir),
                 **self.settings}
        with (self.data_dir / "postgresql.conf").open("a") as conf:  # appended: ownership is unchanged
            conf.write("\n# tests/support/postgres.py\n")
            conf.writelines(f"{key} = {_conf_value(value)}\n" for key, value in lines.items())

    def _start_server(self, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            done = self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
                              "-o", f"-p {self.port}", "-w", "-t", str(int(self.start_timeout)), "start"],
                             as_server=True, check=False, cwd=self.root, timeout=self.start_timeout + 30)
            if done.returncode == 0:
                return
            log = _tail(self.log_path)
            # Another process may have taken the free port between our check and the server's bind.
            if attempt < attempts and "could not bind" in log and not self.running:
                continue
            raise PostgresStartError(
                f"PostgreSQL did not start (pg_ctl exited {done.returncode}): {done.stdout.strip()}\n"
                f"--- last lines of the server log ---\n{log}")

    def _run(self, cmd: list[str], *, as_server: bool = False, check: bool = True, cwd: Path | None = None,
             timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        if as_server and self._server_uid is not None:
            if shutil.which("runuser"):
                cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
            else:
                cmd = ["su", SERVER_USER, "-s", "/bin/sh", "-c", shlex.join(cmd)]
        # No PG* variable (PGHOST, PGDATA, PGOPTIONS...) from the caller's shell may redirect these commands.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        # start_new_session: a Ctrl-C meant for pytest must not reach the server (SIGINT is its fast shutdown);
        # the session fixture's teardown stops it.
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env, cwd=cwd, timeout=timeout, check=check, start_new_session=True)


def _reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach into ``path`` (o+x on it and every parent)."""
    return all(os.stat(part).st_mode & 0o001 for part in (path, *path.parents))
