"""The sync engine with an S3 bucket as the library (moto's S3 server, a real process on
loopback; the DAMs are the sandbox over real HTTP): every provider, a re-sync, renames, prune,
unfinished uploads, a SIGKILLed run resumed, settings errors, and no credential in any output."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from damkit.demo import login_sandbox_connections
from damkit.errors import SettingsError
from damkit.library import library_name
from damkit.sandbox import Sandbox
from damkit.storage import open_store
from damkit.storage.objects import CHUNK
from damkit.sync import sync_connection, sync_one
from damkit.workspace import Workspace

from s3_support import SECRET_KEY, Bucket, assert_bucket_matches
from sync_support import RATE, ROOT, connect, expected, kill_syncs, workspace

P = "percolate"


def in_a_bucket(fresh_sandbox: Callable[..., Sandbox], bucket: Bucket, tmp_path: Path,
                provider: str = P, **config: object) -> tuple[Sandbox, Workspace, str]:
    """A sandbox serving ``provider``, a workspace whose library is ``bucket``, a connection."""
    sb = fresh_sandbox(providers=(provider,), **config)
    ws = workspace(tmp_path)
    bucket.use(ws)
    return sb, ws, connect(ws, sb, provider)


def pick(sb: Sandbox, n: int) -> list[str]:
    catalog = sb.state.catalog(P)
    return [a.key for a in catalog.tagged(catalog.tag)][:n]


@pytest.mark.parametrize("provider", ["bynder", "canto", "percolate"])
async def test_sync_into_a_bucket(provider: str, fresh_sandbox: Callable[..., Sandbox],
                                  s3_library: Bucket, tmp_path: Path) -> None:
    sb, ws, conn = in_a_bucket(fresh_sandbox, s3_library, tmp_path, provider, assets=20,
                               rate_limit=None)
    if provider == "canto":
        assert await login_sandbox_connections(ws, [conn]) == [conn]
    want = expected(sb, provider)
    first = await sync_connection(ws, conn, rate=RATE)
    assert first.status == "ok", (first.error, first.errors[:3])
    assert first.downloaded == len(want) > 0
    assert first.bytes == sum(size for _n, _m, size in want.values())
    assert_bucket_matches(ws, conn, s3_library, want)
    before = s3_library.client.list_objects_v2(Bucket=s3_library.name)["Contents"]

    again = await sync_connection(ws, conn, rate=RATE)
    assert (again.status, again.plan.unchanged, again.downloaded, again.requests) == \
        ("ok", len(want), 0, 0)
    after = s3_library.client.list_objects_v2(Bucket=s3_library.name)["Contents"]
    assert [(o["Key"], o["ETag"], o["LastModified"]) for o in after] == \
        [(o["Key"], o["ETag"], o["LastModified"]) for o in before]  # not one object rewritten

    # the index forgets the files: with a checksum from the DAM, objects already whole in the
    # bucket are read back, verified and kept; without one they are fetched again
    ws.index.remove_assets(conn, sorted(want))
    third = await sync_connection(ws, conn, rate=RATE)
    assert third.status == "ok" and third.plan.new == len(want)
    checksums = all(r.get("checksum") for r in ws.index.assets(connection=conn))
    assert (third.adopted, third.downloaded) == ((len(want), 0) if checksums else (0, len(want)))
    assert_bucket_matches(ws, conn, s3_library, want)


async def test_renames_prune_and_unfinished_uploads_in_a_bucket(
        fresh_sandbox: Callable[..., Sandbox], s3_library: Bucket, tmp_path: Path) -> None:
    sb, ws, conn = in_a_bucket(fresh_sandbox, s3_library, tmp_path, assets=30)
    first = await sync_connection(ws, conn, rate=RATE)
    assert first.status == "ok"
    renamed, recased, untagged, changed = pick(sb, 4)
    names = {pid: ws.index.get_asset(conn, pid)["name"] for pid in (renamed, recased)}
    old = {pid: ws.index.get_asset(conn, pid)["local_path"] for pid in (renamed, recased)}
    sb.control("POST", f"{P}/assets/{renamed}/modify", json={"name": "brand new name.png"})
    sb.control("POST", f"{P}/assets/{recased}/modify", json={"name": names[recased].upper()})
    sb.control("POST", f"{P}/assets/{untagged}/untag", json={"tag": "Gelato"})
    sb.control("POST", f"{P}/assets/{changed}/modify", json={"size": 12_345})
    # an upload a killed run never completed: invisible, and aborted by the next run
    stray = s3_library.key(conn, "stray_upload.bin")
    upload = s3_library.client.create_multipart_upload(Bucket=s3_library.name, Key=stray)
    s3_library.client.upload_part(Bucket=s3_library.name, Key=stray, PartNumber=1,
                                  UploadId=upload["UploadId"], Body=b"x" * 1024)
    assert stray not in s3_library.keys()  # noqa: SIM118 (a method listing the bucket)

    second = await sync_connection(ws, conn, rate=RATE)
    assert second.status == "ok", (second.error, second.errors[:3])
    assert (second.plan.changed, second.plan.gone, second.downloaded) == (3, 1, 3)
    assert s3_library.unfinished_uploads() == []
    keys = s3_library.keys()
    for pid in (renamed, recased):
        new = ws.index.get_asset(conn, pid)["local_path"]
        assert new != old[pid]
        assert s3_library.key(conn, Path(new).name) in keys
        assert s3_library.key(conn, Path(old[pid]).name) not in keys  # the old name went
    new_recased = ws.index.get_asset(conn, recased)["local_path"]
    assert new_recased.casefold() == old[recased].casefold()  # a case-only rename
    gone = ws.index.get_asset(conn, untagged)
    assert gone["status"] == "gone" and gone["local_path"]  # marked, file kept
    kept = {untagged: s3_library.key(conn, Path(gone["local_path"]).name)}
    assert_bucket_matches(ws, conn, s3_library, expected(sb, P), kept=kept)

    pruned = await sync_connection(ws, conn, rate=RATE, prune=True)
    assert (pruned.status, pruned.pruned, pruned.downloaded) == ("ok", 1, 0)
    rec = ws.index.get_asset(conn, untagged)
    assert rec["status"] == "gone" and rec["local_path"] is None and rec["pruned"]
    assert_bucket_matches(ws, conn, s3_library, expected(sb, P))

    # one asset at a time (a change notification), as the event consumer does
    one = pick(sb, 6)[5]
    sb.control("POST", f"{P}/assets/{one}/modify", json={"name": "notified.png"})
    assert await sync_one(ws, conn, one) == "synced"
    assert await sync_one(ws, conn, one) == "unchanged"
    assert_bucket_matches(ws, conn, s3_library, expected(sb, P))

    ws.remove_connection(conn, delete_files=True)  # asked for explicitly: the files go too
    assert s3_library.keys() == {}


async def test_cancelled_runs_leave_no_object_unknown_to_the_index(
        fresh_sandbox: Callable[..., Sandbox], s3_library: Bucket, tmp_path: Path) -> None:
    """An upload under way when a run is cancelled is waited for and recorded: after each
    cancellation, every object in the bucket is a synced record's file."""
    sb, ws, conn = in_a_bucket(fresh_sandbox, s3_library, tmp_path, assets=40, latency_ms=10)
    want = expected(sb, P)
    for delay in (0.3, 0.5, 0.7):
        task = asyncio.create_task(sync_connection(ws, conn, rate=RATE))
        await asyncio.sleep(delay)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        recorded = {s3_library.key(conn, Path(r["local_path"]).name)
                    for r in ws.index.assets(connection=conn) if r["status"] == "synced"}
        assert set(s3_library.keys()) == recorded
        if delay == 0.3:
            assert ws.index.runs(connection=conn)[0]["status"] == "cancelled"
    rest = await sync_connection(ws, conn, rate=RATE)
    assert rest.status == "ok"
    assert_bucket_matches(ws, conn, s3_library, want)


async def test_sigkill_then_resume_into_a_bucket(fresh_sandbox: Callable[..., Sandbox],
                                                 s3_library: Bucket, tmp_path: Path) -> None:
    sb, ws, conn = in_a_bucket(fresh_sandbox, s3_library, tmp_path, assets=40, latency_ms=15)
    want = expected(sb, P)
    catalog = sb.state.catalog(P)
    whole = {s3_library.key(conn, library_name(a.name, a.key, a.ext)): catalog.md5(a)
             for a in catalog.tagged(catalog.tag)}

    def check() -> None:
        for key in s3_library.keys():  # noqa: SIM118 -- never part of a file under a final key
            assert key in whole, key
            assert s3_library.md5(key) == whole[key], key

    killed = kill_syncs(ws, conn, 6, random.Random(4321), check, most_events=12)
    assert killed >= 4
    objects_before = len(s3_library.keys())
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "ok", (report.error, report.errors[:3])
    assert report.plan.unchanged + report.downloaded == len(want)
    assert 0 < objects_before - 1 <= report.plan.unchanged  # what killed runs finished is kept
    assert_bucket_matches(ws, conn, s3_library, want)
    assert not (ws.root / "state" / conn / "partial").exists()  # the staging folder is tidied


def test_library_url_settings_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = workspace(tmp_path)
    for bad in ("http://bucket/prefix", "s3://", "s3://key:secret@bucket/p", "s3://b/../x"):
        with pytest.raises(SettingsError, match=r"Library location|library_url"):
            ws.set_config(library_url=bad)
    with pytest.raises(SettingsError, match="S3 endpoint"):
        ws.set_config(s3_endpoint_url="http://user:pw@127.0.0.1:9000")
    assert ws.config().library_url is None and ws.library_store().kind == "local"
    monkeypatch.setenv("DAMKIT_LIBRARY_URL", "ftp://elsewhere")
    with pytest.raises(SettingsError, match="DAMKIT_LIBRARY_URL"):
        open_store(ws.root)
    # a server's environment names the bucket (over the workspace's setting)
    ws.set_config(library_url="s3://from-config/lib")
    monkeypatch.setenv("DAMKIT_LIBRARY_URL", "s3://from-env/team/lib/")
    monkeypatch.setenv("DAMKIT_S3_ENDPOINT_URL", "http://127.0.0.1:9/")
    store = open_store(ws.root, library_url=ws.config().library_url)
    assert (store.kind, store.url) == ("s3", "s3://from-env/team/lib")
    assert repr(store) == "ObjectStore('s3://from-env/team/lib', endpoint_url='http://127.0.0.1:9')"
    # the extra not installed: importing s3fs fails as it would without damkit[server]
    # (uninstalling a package under a running test suite is not possible, so its import is
    # made to fail the way a missing package fails)
    monkeypatch.setenv("DAMKIT_LIBRARY_URL", "s3://bucket/prefix")
    monkeypatch.setitem(sys.modules, "s3fs", None)
    monkeypatch.delitem(sys.modules, "damkit.storage.objects", raising=False)
    with pytest.raises(SettingsError) as missing:
        open_store(ws.root)
    assert "not installed" in str(missing.value) and "damkit[server]" in (missing.value.hint or "")


def _damkit(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAMKIT_HOME": str(home), "DAMKIT_SECRET_STORE": "plaintext",
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "damkit", *args], capture_output=True,
                          text=True, env=env, cwd=str(ROOT), timeout=120)


async def test_bucket_credentials_never_shown(fresh_sandbox: Callable[..., Sandbox],
                                              s3_library: Bucket, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _sb, ws, conn = in_a_bucket(fresh_sandbox, s3_library, tmp_path, assets=10)
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "ok"
    store = ws.library_store()
    shown = [repr(store), store.url, report.model_dump_json(), caplog.text]
    assert s3_library.name in repr(store) and s3_library.endpoint in repr(store)

    ok = _damkit(ws.root, "sync", conn, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "ok"
    doctor = _damkit(ws.root, "doctor", "--json")
    assert json.loads(doctor.stdout)["library"] == s3_library.url
    ws.set_config(library_url=f"s3://no-such-bucket-{s3_library.name}/x")
    refused = _damkit(ws.root, "sync", conn, "--json")
    assert refused.returncode == 1
    data = json.loads(refused.stdout)
    assert "bucket" in data["error"] and "no-such-bucket" in data["error"], data
    shown += [ok.stdout, ok.stderr, doctor.stdout, doctor.stderr, refused.stdout, refused.stderr,
              (ws.root / "workspace.json").read_text()]
    for text in shown:
        assert SECRET_KEY not in text


PUBLISH_SCRIPT = """
import sys
import time
from pathlib import Path
from damkit.storage import open_store
from damkit.storage.objects import CHUNK
store = open_store(Path(sys.argv[1]), library_url=sys.argv[2], endpoint_url=sys.argv[3])
store.publish(Path(sys.argv[4]), sys.argv[5])
"""


def test_big_files_appear_only_when_their_multipart_upload_completes(
        s3_library: Bucket, tmp_path: Path) -> None:
    """Files of two parts or more go up as multipart uploads: a process killed after some parts
    leaves nothing under the key (and the next sweep aborts the upload); a finished one is
    whole."""
    ws = workspace(tmp_path)
    s3_library.use(ws)
    store = ws.library_store()
    big = tmp_path / "big.part"
    big.write_bytes(os.urandom(6 * CHUNK))
    rel = "DAM Import/acme/big_abcdefgh.bin"
    key = s3_library.key("acme", "big_abcdefgh.bin")
    proc = subprocess.Popen([sys.executable, "-c", PUBLISH_SCRIPT, str(ws.root), s3_library.url,
                             s3_library.endpoint, str(big), rel], env={**os.environ,
                                                                      "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60  # a guard against a hang
    while True:  # killed once the first part is stored
        uploads = s3_library.unfinished_uploads()
        if uploads and s3_library.client.list_parts(
                Bucket=s3_library.name, Key=key, UploadId=uploads[0]["UploadId"]).get("Parts"):
            break
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert key not in s3_library.keys()  # noqa: SIM118 -- nothing visible under the final key
    assert len(s3_library.unfinished_uploads()) == 1
    assert store.sweep("acme") == 1 and s3_library.unfinished_uploads() == []

    whole = tmp_path / "whole.part"
    body = os.urandom(2 * CHUNK + 1000)
    whole.write_bytes(body)
    store.publish(whole, rel)
    assert s3_library.keys() == {key: len(body)}
    assert s3_library.md5(key) == hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert "-" in s3_library.client.head_object(Bucket=s3_library.name, Key=key)["ETag"]  # multipart
    assert not whole.exists() and s3_library.unfinished_uploads() == []
