"""A throwaway PostgreSQL server on loopback, for the tests and the benchmarks.

Real PostgreSQL, no mock: ``initdb`` into a temporary folder, ``postgres`` on a free port of
127.0.0.1 with trust authentication (loopback only, one user, a folder that is deleted after).

Where the binaries come from, first found wins:
1. ``DAMKIT_TEST_PG_BIN`` (a folder holding ``initdb`` and ``postgres``);
2. ``pg_config --bindir`` and ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package);
3. the ``pgserver`` wheel from PyPI, which carries its own build (installed by the ``test`` extra,
   so that a machine with no system PostgreSQL still runs the suite with no manual step).

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user when it
exists, else as ``nobody``, through ``setpriv`` (util-linux, on every Debian).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgServer", "find_bindir", "postgres_server"]


def find_bindir() -> Path:
    """The folder of ``initdb``/``postgres``; raises RuntimeError naming what to install."""
    candidates: list[str] = []
    if os.environ.get("DAMKIT_TEST_PG_BIN"):
        candidates.append(os.environ["DAMKIT_TEST_PG_BIN"])
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                 check=True).stdout.strip()
            candidates.append(out)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if (Path(c) / "initdb").is_file() and (Path(c) / "postgres").is_file():
            return Path(c)
    with contextlib.suppress(ImportError):
        import pgserver  # type: ignore[import-not-found,unused-ignore]

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (bundled / "initdb").is_file():
            return bundled
    raise RuntimeError(
        "no PostgreSQL server binaries found: install Debian's `postgresql` package, or "
        "`pip install pgserver` (the `test` extra does), or set DAMKIT_TEST_PG_BIN to the folder "
        "holding initdb and postgres")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> tuple[list[str], int | None, int | None]:
    """The command prefix and uid/gid to own the data folder, when running as root."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pw = pwd.getpwnam(name)
            prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
            return prefix, pw.pw_uid, pw.pw_gid
    raise RuntimeError("running as root with neither a `postgres` nor a `nobody` user")


@dataclass
class PgServer:
    """A running server; ``url`` is a libpq URL of its ``postgres`` database."""

    url: str
    port: int
    datadir: Path
    process: subprocess.Popen[bytes]

    def database_url(self, name: str) -> str:
        """Create database ``name`` (if missing) and return its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: clients are cut, data kept
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def postgres_server(*, timeout: float = 60.0) -> Iterator[PgServer]:
    """Start a fresh server in a temporary folder; stop it and delete the folder after."""
    bindir = find_bindir()
    prefix, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="damkit-pg-"))
    datadir = root / "data"
    sockdir = root / "sock"
    datadir.mkdir()
    sockdir.mkdir()
    if uid is not None and gid is not None:
        for p in (root, datadir, sockdir):
            os.chown(p, uid, gid)
    user = "damkit"
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-U", user, "-A", "trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, capture_output=True)
        port = _free_port()
        log = (root / "postgres.log").open("wb")
        os.chmod(root / "postgres.log", 0o666)
        # fsync stays on: the crash tests rely on the server's real durability.
        proc = subprocess.Popen(
            [*prefix, str(bindir / "postgres"), "-D", str(datadir), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockdir}",
             "-c", "max_connections=200", "-c", "shared_buffers=64MB"],
            stdout=subprocess.DEVNULL, stderr=log)
        url = f"postgresql://{user}@127.0.0.1:{port}/postgres"
        server = PgServer(url=url, port=port, datadir=datadir, process=proc)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                err = (root / "postgres.log").read_text(errors="replace")
                raise RuntimeError(f"PostgreSQL did not start: {err[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                import psycopg

                try:
                    psycopg.connect(url, connect_timeout=2).close()
                    break
                except psycopg.OperationalError:
                    pass  # still starting ("the database system is starting up")
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"PostgreSQL did not answer on port {port} in {timeout:.0f} s")
            time.sleep(0.05)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
