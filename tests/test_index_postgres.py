"""The index on PostgreSQL, as a workspace uses it: chosen by DAMKIT_INDEX_URL, a sandbox sync
into it, the per-connection sync lock across processes, migrations, and the errors a user sees.

Real PostgreSQL (the session's server, tests/pg_server.py) and the real sandbox over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from damkit import audit as core_audit
from damkit.errors import IndexLockedError, IndexUnavailableError, SettingsError, SyncError
from damkit.index import ENV_INDEX_URL, LibraryIndex, open_index
from damkit.index.postgres import MIGRATIONS, PgIndex
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection
from damkit.sync.engine import connection_lock

from index_support import empty_database
from sync_support import RATE, assert_library_matches, connect, expected, workspace

ROOT = Path(__file__).resolve().parent.parent
P = "percolate"


@pytest.fixture
def pg_url(postgres: Any) -> str:
    return empty_database(postgres)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


async def test_workspace_on_postgres_syncs_a_sandbox_connection(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path, pg_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_INDEX_URL, pg_url)
    sb = fresh_sandbox(assets=40, providers=(P,))
    ws = workspace(tmp_path)
    assert isinstance(ws.index, PgIndex) and not (ws.root / "index").exists()
    conn = connect(ws, sb, P)
    want = expected(sb, P)
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "ok", report.errors
    assert report.downloaded == len(want)
    assert_library_matches(ws, conn, want)
    again = await sync_connection(ws, conn, rate=RATE)
    assert (again.plan.unchanged, again.downloaded) == (len(want), 0)

    # the audit (the notebook's) reads the server index: live and offline, all current
    for live in (True, False):
        audit = await core_audit.audit(ws, conn, live=live)
        assert audit.counts()["current"] == len(want) == sum(audit.counts().values()), live

    # another machine's workspace (another folder) on the same database sees it all
    other = workspace(tmp_path / "elsewhere")
    assert [c["name"] for c in other.connections()] == [conn]
    assert other.index.asset_keys(conn) == set(ws.index.asset_keys(conn))
    assert [r.status for r in other.index.run_records(conn)] == ["ok", "ok"]
    assert other.library_stats()["by_status"] == {"synced": len(want)}

    # secrets stay in the secret store: no secret value is in any row of the database
    secret_values = [s for s in _strings(json.loads((ws.root / "secrets.json").read_text()))
                     if len(s) >= 8]
    assert secret_values
    with psycopg.connect(pg_url) as db:
        dump = " ".join(row[0] for table in ("connections", "assets", "runs", "events", "folders")
                        for row in db.execute(f"SELECT doc::text FROM damkit.{table}"))
    assert conn in dump
    assert not [s for s in secret_values if s in dump]
    other.close()
    ws.close()


LOCK_CHILD = textwrap.dedent(
    """
    import sys, time
    from damkit.index import open_index

    lock = open_index(sys.argv[1]).sync_lock("acme")
    print("held" if lock.try_acquire() else "refused", flush=True)
    time.sleep(60)
    """
)


def test_sync_lock_across_processes(index_location: str, tmp_path: Path) -> None:
    """One process holds the connection's sync lock: another process is refused, as is a
    second holder in the same process; when the holder is killed, the lock is free again."""
    script = tmp_path / "lock.py"
    script.write_text(LOCK_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, str(script), index_location],
                             stdout=subprocess.PIPE, env=env)
    ix = open_index(index_location)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"held"
        lock = ix.sync_lock("acme")
        assert lock.try_acquire() is False
        with pytest.raises(IndexLockedError), ix.sync_lock("acme"):
            pass
        with ix.sync_lock("beta"):  # another connection's lock is free
            assert ix.sync_lock("beta").try_acquire() is False  # not re-entrant
        child.kill()
        child.wait()
        deadline = time.monotonic() + 20  # the server ends the dead client's session
        while not lock.try_acquire():
            assert time.monotonic() < deadline, "the killed holder's lock was never released"
            time.sleep(0.05)
        assert ix.sync_lock("acme").try_acquire() is False
        lock.release()
        assert ix.sync_lock("acme").try_acquire() is True
    finally:
        child.kill()
        child.wait()
        ix.close()


async def test_the_sync_engine_asks_the_index_for_the_lock(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_INDEX_URL, pg_url)
    ws = workspace(tmp_path)
    other = open_index(pg_url)  # another machine's worker holds the lock
    with other.sync_lock("acme"), pytest.raises(SyncError, match="already running"):
        async with connection_lock(ws, "acme"):
            pass
    async with connection_lock(ws, "acme"):
        assert other.sync_lock("acme").try_acquire() is False
    other.close()
    ws.close()


def test_migrations_are_versioned_and_applied_once(pg_url: str) -> None:
    opened: list[PgIndex] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PgIndex.open(pg_url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]  # a new database, at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(opened) == 4
    with psycopg.connect(pg_url) as db:
        rows = db.execute("SELECT version, name FROM damkit.schema_migrations ORDER BY version").fetchall()
        assert rows == [(v, name) for v, name, _sql in MIGRATIONS]
        indexes = {r[0] for r in db.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'damkit' AND tablename = 'assets'")}
        assert {"assets_status", "assets_provider", "assets_tags"} <= indexes
        db.execute("INSERT INTO damkit.schema_migrations (version, name) VALUES (999, 'future')")
        db.commit()
    with pytest.raises(SettingsError, match="schema version 999"):
        PgIndex.open(pg_url)
    for ix in opened:
        ix.close()


def test_unreachable_database_names_it_without_the_password(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://damkit:hunter2-secret-pw@127.0.0.1:{port}/nowhere"
    with pytest.raises(IndexUnavailableError) as info:
        open_index(url)
    text = str(info.value)
    assert f"127.0.0.1:{port}/nowhere" in text and "hunter2-secret-pw" not in text
    assert "DAMKIT_INDEX_URL" in text
    assert "hunter2" not in repr(PgIndex(url))


def test_index_url_setting_and_environment(tmp_path: Path, pg_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from damkit.workspace import open_workspace

    monkeypatch.delenv(ENV_INDEX_URL, raising=False)
    ws = open_workspace(tmp_path / "ws")
    assert isinstance(ws.index, LibraryIndex)
    with pytest.raises(SettingsError) as info:
        ws.set_config(index_url="postgresql://damkit:pw-in-config@db.example.com/damkit")
    assert "PGPASSWORD" in str(info.value) and "pw-in-config" not in str(info.value)
    with pytest.raises(SettingsError):
        ws.set_config(index_url="mysql://db.example.com/damkit")
    ws.set_config(index_url=pg_url)
    ws.close()
    ws = open_workspace(tmp_path / "ws")
    assert isinstance(ws.index, PgIndex)
    ws.close()
    monkeypatch.setenv(ENV_INDEX_URL, "sqlite:///x.db")  # the environment wins, and is checked
    with pytest.raises(SettingsError, match=ENV_INDEX_URL):
        open_workspace(tmp_path / "ws")


def test_missing_server_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # psycopg is installed here; hiding it from the import system is the only way to see the
    # message a core install (no `server` extra) gets
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(SettingsError) as info:
        open_index("postgresql://damkit@127.0.0.1/damkit")
    assert "pip install 'damkit[server]'" in str(info.value)


def test_core_import_does_not_load_psycopg() -> None:
    code = ("import sys, damkit, damkit.index, damkit.workspace, damkit.sync; "
            "print('psycopg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "False"


def test_library_restore_says_the_database_has_its_own_backups(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAMKIT_HOME": str(tmp_path / "ws"),
           ENV_INDEX_URL: "postgresql://damkit@127.0.0.1:1/damkit"}
    out = subprocess.run([sys.executable, "-m", "damkit", "library", "restore"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "PostgreSQL database" in out.stdout + out.stderr
    assert not (tmp_path / "ws" / "index").exists()


def test_a_role_that_cannot_create_tables_uses_a_migrated_database(pg_url: str) -> None:
    PgIndex.open(pg_url).close()  # the owner migrates
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("DROP ROLE IF EXISTS damkit_app")
        db.execute("CREATE ROLE damkit_app LOGIN")
        db.execute("GRANT USAGE ON SCHEMA damkit TO damkit_app")
        db.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA damkit TO damkit_app")
        db.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA damkit TO damkit_app")
    url = pg_url.replace("postgresql://damkit@", "postgresql://damkit_app@")
    ix = open_index(url)
    ix.upsert_assets([{"connection": "c", "provider_id": "1"}])
    ix.add_event({"kind": "x"})
    assert ix.get_asset("c", "1") == {"connection": "c", "provider_id": "1"}
    with ix.sync_lock("c"):
        pass
    ix.close()


def test_a_session_the_server_ended_is_replaced(pg_url: str) -> None:
    """A read or a new transaction after the server dropped the idle session (a restart, an
    idle timeout) runs on a new session; nothing is lost."""
    ix = open_index(pg_url)
    ix.upsert_assets([{"connection": "c", "provider_id": "1"}])

    def end_session() -> None:
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("SELECT pg_terminate_backend(%s)", (ix._conn.info.backend_pid,))

    end_session()
    assert ix.get_asset("c", "1") == {"connection": "c", "provider_id": "1"}
    end_session()
    ix.upsert_assets([{"connection": "c", "provider_id": "2"}])
    assert ix.asset_keys("c") == {"1", "2"}
    ix.close()
