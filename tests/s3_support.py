"""A real S3-compatible server for the tests: moto's server mode, in its own process on a free
loopback port (its own process, so it does not share the test's interpreter lock).

- ``s3_server`` (session scope): the endpoint URL (``http://127.0.0.1:<port>``).
- ``s3_library`` (function scope): a fresh bucket on it, the AWS environment pointed at throwaway
  credentials (whose secret key is :data:`SECRET_KEY`, so tests can search outputs for it) and
  away from any real AWS configuration; yields a :class:`Bucket`.

``tests/conftest.py`` imports both, so every test module can ask for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from damkit.workspace import Workspace

ACCESS_KEY = "AKIADAMKITTESTS00001"
SECRET_KEY = "s3-secret-9Qv7-never-print-this-value"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,  # never a developer's own AWS profile
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port (its output to ``log``);
    yields its endpoint URL and stops it after (the tests' fixture, and the benchmarks)."""
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # a generous guard against a hang, not a speed check
    while True:
        try:
            httpx.get(url + "/moto-api/", timeout=2)
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto's S3 server did not start: {log.read_text()[-2000:]}"
                                   ) from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@dataclass
class Bucket:
    endpoint: str
    name: str
    prefix: str
    client: Any  # a boto3 S3 client: the tests read the bucket without going through damkit

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    def use(self, ws: Workspace) -> None:
        """Make the bucket ``ws``'s library."""
        ws.set_config(library_url=self.url, s3_endpoint_url=self.endpoint)

    def keys(self) -> dict[str, int]:
        """Every object of the bucket (all prefixes): key -> size."""
        out: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        return out

    def md5(self, key: str) -> str:
        body = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return hashlib.md5(body, usedforsecurity=False).hexdigest()

    def key(self, conn: str, file: str) -> str:
        return f"{self.prefix}/{conn}/{file}"

    def unfinished_uploads(self) -> list[dict[str, Any]]:
        return list(self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", []))


@pytest.fixture
def s3_library(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "DAMKIT_LIBRARY_URL",
                 "DAMKIT_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    import boto3  # moto's dependency: only the tests that use a bucket pay for its import

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    name = f"damkit-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(s3_server, name, "team/library", client)


def assert_bucket_matches(ws: Workspace, conn: str, bucket: Bucket,
                          want: dict[str, tuple[str, str, int]], *,
                          kept: dict[str, str] | None = None) -> None:
    """The bucket holds exactly the eligible files of ``conn`` (plus ``kept``: provider id ->
    key of files of gone assets still kept), whole, under their library names; the index agrees;
    nothing lands in the workspace's local DAM Import folder; no unfinished upload."""
    records = {r["provider_id"]: r for r in ws.index.assets(connection=conn)}
    synced = {pid for pid, r in records.items() if r["status"] == "synced"}
    assert synced == set(want), (sorted(set(want) - synced)[:5], sorted(synced - set(want))[:5])
    keys = bucket.keys()
    wanted: dict[str, tuple[str, int]] = {}
    for pid, (_name, md5, size) in want.items():
        rec = records[pid]
        file = Path(rec["local_path"]).name
        assert rec["local_path"] == f"DAM Import/{conn}/{file}"
        wanted[bucket.key(conn, file)] = (md5, size)
    assert len(wanted) == len(want)  # one object per asset: no two share a name
    expected_keys = set(wanted) | set((kept or {}).values())
    assert set(keys) == expected_keys, sorted(set(keys) ^ expected_keys)[:5]
    for key, (md5, size) in wanted.items():
        assert keys[key] == size, key
        assert bucket.md5(key) == md5, key
    local = ws.root / "DAM Import" / conn
    assert not local.exists() or list(local.iterdir()) == []
    assert bucket.unfinished_uploads() == []
