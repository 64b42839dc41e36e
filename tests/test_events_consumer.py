"""The event consumer over real HTTP (uvicorn on a loopback port, in a thread).

- end to end against the sandbox's SNS: subscribe, confirm, then tag / untag / modify an asset in
  the sandbox and watch the library follow;
- forged and bad messages refused with nothing written; replays answered 200 and ignored;
- coalescing, retries, restart resume, a 1,000-notification burst;
- the derived URL and the request text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from damkit.demo import add_sandbox_connections, demo_workspace
from damkit.errors import SettingsError
from damkit.events.request import event_url_info, portal_key, request_text
from damkit.events.server import ConsumerServer
from damkit.events.store import ConsumerBusyError, EventStore
from damkit.workspace import Workspace

from sns_support import sign_message, subscribe, use_sandbox_sns, wait_for

TOPIC = "arn:aws:sns:us-east-1:123456789012:bynder-acme"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem"
SUBSCRIBE = ("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
             f"{TOPIC}&Token=")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EVIL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
_now = dt.datetime.now(dt.UTC)
CERT = (x509.CertificateBuilder().subject_name(_name).issuer_name(_name)
        .public_key(KEY.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_now - dt.timedelta(days=1)).not_valid_after(_now + dt.timedelta(days=9))
        .sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
PORTAL = "acme.bynder.com"


# --- helpers -------------------------------------------------------------------------------------


def ts(offset: float = 0.0) -> str:
    moment = dt.datetime.fromtimestamp(time.time() + offset, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def signed(msg: dict[str, Any], key: rsa.RSAPrivateKey = KEY, version: str = "2",
           cert_url: str = CERT_URL) -> dict[str, Any]:
    sign_message(msg, key, version)
    msg["SigningCertURL"] = cert_url
    if msg["Type"] == "Notification":
        msg["UnsubscribeURL"] = ("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&"
                                 f"SubscriptionArn={TOPIC}:unsub-secret-{uuid.uuid4().hex}")
    return msg


def note(media_id: str, *, topic: str = TOPIC, offset: float = 0.0, key: rsa.RSAPrivateKey = KEY,
         cert_url: str = CERT_URL, message_id: str | None = None) -> dict[str, Any]:
    return signed({"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()),
                   "TopicArn": topic, "Subject": "asset_bank.media.meta_updated",
                   "Message": json.dumps({"media_id": media_id}), "Timestamp": ts(offset)},
                  key=key, cert_url=cert_url)


def confirmation(kind: str = "SubscriptionConfirmation", topic: str = TOPIC) -> dict[str, Any]:
    token = "tok" + uuid.uuid4().hex * 2
    url = SUBSCRIBE.replace(TOPIC, topic) + token
    return signed({"Type": kind, "MessageId": str(uuid.uuid4()), "Token": token,
                   "TopicArn": topic, "Message": "You have chosen to subscribe.\nConfirm.",
                   "SubscribeURL": url.replace("sns.us-east-1", "sns." + topic.split(":")[3]),
                   "Timestamp": ts()})


def make_ws(root: Path, portal: str = PORTAL, name: str = "acme") -> Workspace:
    ws = demo_workspace(root)
    ws.add_connection("bynder", name, {
        "domain": portal, "tag": "Gelato", "consumer_key": "ck-test-1234",
        "consumer_secret": "cs-test-1234", "token_key": "tk-test-1234",
        "token_secret": "ts-test-1234"})
    ws.set_config(public_url="https://dam.example.com")
    return ws


class FakeSync:
    """Records calls and concurrency per asset; can be slow or fail a number of times."""

    def __init__(self, delay: float = 0.0, fail: int = 0,
                 gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.fail = fail
        self.gate = gate  # the first call waits until it is set
        self.calls: list[tuple[str, str, float]] = []
        self.active: dict[str, int] = {}
        self.max_same = 0

    async def __call__(self, ws: Workspace, name: str, asset_id: str) -> str:
        self.calls.append((name, asset_id, time.monotonic()))
        self.active[asset_id] = self.active.get(asset_id, 0) + 1
        self.max_same = max(self.max_same, self.active[asset_id])
        try:
            while self.gate is not None and not self.gate.is_set():
                await asyncio.sleep(0.005)
            await asyncio.sleep(self.delay)
            if self.fail > 0:
                self.fail -= 1
                raise RuntimeError("provider answered 503")
            return "synced"
        finally:
            self.active[asset_id] -= 1


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = make_ws(tmp_path / "ws")
    yield workspace
    workspace.close()


def server(ws: Workspace, sync: FakeSync | None = None, **kw: Any) -> ConsumerServer:
    kw.setdefault("settle_seconds", 0.0)
    kw.setdefault("topics", [TOPIC])
    kw.setdefault("fetch_cert", lambda url: CERT)
    return ConsumerServer(ws, sync=sync or FakeSync(), **kw)


def post(srv: ConsumerServer, msg: Any, portal: str = PORTAL, **kw: Any) -> httpx.Response:
    body = msg if isinstance(msg, (bytes, str)) else json.dumps(msg)
    headers = {"Content-Type": "text/plain; charset=UTF-8"}
    if isinstance(msg, dict) and "Type" in msg:
        headers["x-amz-sns-message-type"] = str(msg["Type"])
    return httpx.post(srv.url_for(portal), content=body, headers=headers, timeout=10, **kw)


def log_bytes(ws: Workspace) -> bytes:
    path = ws.root / "events" / "log.jsonl"
    return path.read_bytes() if path.exists() else b""


# --- end to end against the sandbox ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_end_to_end_with_sandbox_sns(fresh_sandbox: Callable[..., Any], tmp_path: Path,
                                     version: str) -> None:
    sb = fresh_sandbox(assets=40, providers=("bynder",))
    ws = demo_workspace(tmp_path / "ws")
    name = next(n for n in add_sandbox_connections(ws, sb.url) if n.endswith("bynder"))
    port = use_sandbox_sns(ws, sb)
    url = ws.event_consumer_url(name)
    assert url == f"http://127.0.0.1:{port}/events/bynder/127.0.0.1_{sb.port}"
    tag = sb.manifest()["providers"]["bynder"]["tag"]
    control = f"{sb.url}/_sandbox/bynder/assets"
    with ConsumerServer(ws, port=port, settle_seconds=0.0) as srv:  # the real sync_one
        subs = subscribe(sb, url, 5, signature_version=version)
        assert subs and subs[0]["signature_version"] == version
        assets = httpx.get(control, params={"limit": 100}).json()["assets"]
        target = next(a for a in assets if tag not in a["tags"] and a["state"] == "live")
        key = target["key"]
        assert ws.index.get_asset(name, key) is None

        # tag -> in the library (how fast: benchmarks/events_bench.py; 30 s guards a hang)
        httpx.post(f"{control}/{key}/tag", json={"tag": tag}).raise_for_status()
        rec = wait_for(lambda: (r := ws.index.get_asset(name, key)) and r.get("status") == "synced"
                       and r, 30.0)
        assert rec, "the tagged asset was never synced"
        path = ws.root / rec["local_path"]
        md5 = httpx.get(f"{control}/{key}").json()["md5"]
        import hashlib

        assert hashlib.md5(path.read_bytes()).hexdigest() == md5

        # untag -> marked gone
        httpx.post(f"{control}/{key}/untag", json={"tag": tag}).raise_for_status()
        assert wait_for(lambda: ws.index.get_asset(name, key)["status"] == "gone", 30.0)

        # tag again, then modify -> re-downloaded
        httpx.post(f"{control}/{key}/tag", json={"tag": tag}).raise_for_status()
        assert wait_for(lambda: ws.index.get_asset(name, key)["status"] == "synced", 30.0)
        modified = httpx.post(f"{control}/{key}/modify", json={"size": 7777}).json()

        def redownloaded() -> bool:
            r = ws.index.get_asset(name, key)
            p = ws.root / r["local_path"] if r.get("local_path") else None
            return bool(p and p.exists() and hashlib.md5(p.read_bytes()).hexdigest()
                        == modified["md5"])

        assert wait_for(redownloaded, 30.0)
        stats = srv.consumer.snapshot()
        assert stats["confirmed"] == 1 and stats["refused"] == {}
        assert stats["max_concurrent_same_asset"] == 1
    ws.close()


# --- refusals ------------------------------------------------------------------------------------


def test_forged_and_bad_messages_refused_with_nothing_written(ws: Workspace) -> None:
    sync = FakeSync()
    events_before = ws.index.events()
    with server(ws, sync) as srv:
        snapshot = (ws.root / "events" / "state.json").read_bytes()
        tampered = note("ASSET-1")
        tampered["Message"] = json.dumps({"media_id": "ASSET-2"})
        stale = note("ASSET-1", offset=-3700)
        cases: list[tuple[str, Any, int]] = [
            ("bad signature", note("ASSET-1", key=EVIL_KEY), 403),
            ("tampered field", tampered, 403),
            ("unknown topic", note("ASSET-1", topic="arn:aws:sns:us-east-1:999999999999:x"), 403),
            ("stale timestamp", stale, 403),
            ("future timestamp", note("ASSET-1", offset=3600), 403),
            ("non-JSON", b"hello", 400),
            ("JSON array", b"[1, 2]", 400),
            ("duplicate keys", b'{"Type": "Notification", "Type": "Notification"}', 400),
        ]
        for url in [
            "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
            "https://sns.s3-us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
            "https://sns.us-east-1.amazonaws.com.evil/SimpleNotificationService-0123abcd.pem",
            "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-0123abcd.pem",
            "https://u:p@sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
            "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0123abcd.pem",
            "https://sns.us-east-1.amazonaws.com/x/SimpleNotificationService-0123abcd.pem",
        ]:
            cases.append((url, note("ASSET-1", cert_url=url), 403))
        for label, msg, status in cases:
            response = post(srv, msg)
            assert response.status_code == status, (label, response.text)
        # size, method, portal
        big = note("ASSET-1")
        big["Message"] = json.dumps({"media_id": "ASSET-1", "pad": "x" * 70_000})
        assert post(srv, big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
            for _ in range(100):
                yield b"x" * 1024

        response = httpx.post(srv.url_for(PORTAL), content=chunks(), timeout=10)
        assert response.status_code == 413
        for method in ("GET", "PUT", "DELETE"):
            response = httpx.request(method, srv.url_for(PORTAL), timeout=10)
            assert response.status_code == 405 and response.headers["allow"] == "POST"
        assert post(srv, note("ASSET-1"), portal="other.bynder.com").status_code == 404
        assert log_bytes(ws) == b""  # nothing written
        assert (ws.root / "events" / "state.json").read_bytes() == snapshot
        assert srv.wait_idle(5)
        assert sum(srv.consumer.stats.refused.values()) == len(cases) + 2 + 3 + 1
        status = httpx.get(f"{srv.url}/events/status").json()
        assert status["refused"]["unknown_topic"] == 1 and status["accepted"] == 0
        proxied = httpx.get(f"{srv.url}/events/status", headers={"X-Forwarded-For": "1.2.3.4"})
        assert proxied.status_code == 404  # counters only for loopback, not through the proxy
    assert sync.calls == []
    assert ws.index.events() == events_before


def test_replayed_message_id_is_acknowledged_and_ignored(ws: Workspace) -> None:
    sync = FakeSync()
    msg = note("ASSET-1")
    with server(ws, sync) as srv:
        first = post(srv, msg)
        assert first.status_code == 200 and first.json()["queued"] == 1
        assert srv.wait_idle(5)
        written = log_bytes(ws)
        for _ in range(3):
            again = post(srv, msg)
            assert again.status_code == 200 and again.json()["duplicate"] is True
        assert srv.wait_idle(5)
        assert log_bytes(ws) == written  # nothing more written
    assert [c[1] for c in sync.calls] == ["ASSET-1"]
    # kept across restarts
    sync2 = FakeSync()
    with server(ws, sync2) as srv:
        assert post(srv, msg).json().get("duplicate") is True
        assert srv.wait_idle(5)
    assert sync2.calls == []


def test_subscription_confirmed_only_after_verification(ws: Workspace,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    confirmed: list[str] = []

    async def confirm(url: str) -> int:
        confirmed.append(url)
        return 200

    other = "arn:aws:sns:us-east-1:999999999999:attacker"
    good = confirmation()
    forged = confirmation()
    forged["Token"] = "tok-forged"  # the signature no longer matches
    foreign = confirmation(topic=other)
    foreign = signed(foreign)
    unsub = confirmation("UnsubscribeConfirmation")
    with server(ws, confirm=confirm) as srv:
        assert post(srv, forged).status_code == 403
        assert post(srv, foreign).status_code == 403
        assert post(srv, good).status_code == 200
        assert post(srv, good).json().get("duplicate") is True
        assert srv.wait_idle(5)
        assert confirmed == [good["SubscribeURL"]]
        assert post(srv, unsub).status_code == 200
        assert post(srv, note("ASSET-1")).status_code == 200
        assert srv.wait_idle(5)
        assert confirmed == [good["SubscribeURL"]]  # no re-subscribe after an unsubscribe
        stats = srv.consumer.snapshot()
    kinds = [e["kind"] for e in ws.index.events()]
    assert "events.subscribed" in kinds and "events.unsubscribed" in kinds
    assert stats["store"]["unsubscribed"] == [TOPIC]
    # nothing secret or replay-useful in logs or recorded events
    recorded = json.dumps(ws.index.events()) + caplog.text + log_bytes(ws).decode()
    for msg in (good, forged, unsub):
        for field in ("Token", "SubscribeURL", "Signature"):
            assert msg[field] not in recorded, field
    assert "unsub-secret" not in recorded


# --- the worker ----------------------------------------------------------------------------------


class SettleGate:
    """The consumer's wait before a run (its ``sleep``), held until the test opens it: what
    happens "during the settle delay" then does not depend on how fast a loaded machine posts."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        while not self.opened.is_set():
            await asyncio.sleep(0.005)


HANG = 30.0  # guard against a hang only: every wait below normally ends in milliseconds


def test_burst_for_one_asset_collapses(ws: Workspace) -> None:
    gate = threading.Event()
    sync = FakeSync(gate=gate)
    with server(ws, sync) as srv:
        assert post(srv, note("ASSET-X")).status_code == 200
        assert wait_for(lambda: len(sync.calls) == 1, HANG)
        for _ in range(10):  # while the first sync runs
            assert post(srv, note("ASSET-X")).status_code == 200
        assert len(sync.calls) == 1
        gate.set()
        assert srv.wait_idle(HANG)
        assert srv.consumer.store.pending() == []
    assert [c[1] for c in sync.calls] == ["ASSET-X", "ASSET-X"]  # at most one more after it
    assert sync.max_same == 1
    sync = FakeSync()
    settle = SettleGate()
    # a notification during the settle delay joins the waiting run
    with server(ws, sync, settle_seconds=3.0, sleep=settle.sleep) as srv:
        for _ in range(5):
            assert post(srv, note("ASSET-Z")).status_code == 200
        assert wait_for(lambda: settle.waits, HANG) == [3.0]  # one run waits, the rest joined it
        assert sync.calls == []
        settle.opened.set()
        assert srv.wait_idle(HANG)
        assert srv.consumer.store.pending() == []
    assert [c[1] for c in sync.calls] == ["ASSET-Z"]


def test_notification_handed_over_late_is_covered_by_the_run_it_preceded(ws: Workspace) -> None:
    """Under load a notification is accepted (its generation written) but its hand-over to the
    worker arrives after the settled run already started: that run re-reads the asset after the
    notification came, so it covers it, and no second run follows. The two halves of taking a
    notification (``store.accept``, then ``schedule``) are called apart to force that order."""
    gate = threading.Event()
    sync = FakeSync(gate=gate)
    settle = SettleGate()
    key = ("acme", "ASSET-L")
    with server(ws, sync, settle_seconds=3.0, sleep=settle.sleep) as srv:
        assert post(srv, note("ASSET-L")).status_code == 200
        assert wait_for(lambda: settle.waits, HANG) == [3.0]
        consumer = srv.consumer
        assert srv.call(consumer.store.accept(str(uuid.uuid4()), [key]))  # accepted...
        settle.opened.set()
        assert wait_for(lambda: len(sync.calls) == 1, HANG)  # ...before the run started
        consumer.schedule(key)  # ...and handed over while it runs
        gate.set()
        assert srv.wait_idle(HANG)
        assert consumer.store.pending() == []
    assert [c[1] for c in sync.calls] == ["ASSET-L"]


def test_notification_during_a_run_waits_the_settle_delay_before_the_next(ws: Workspace) -> None:
    """A notification while its asset syncs means the asset is changing now: the next run waits
    Bynder's settle delay too (not at once, while the change may still be under way), and the
    notifications meanwhile join that run instead of each costing one."""
    gate = threading.Event()
    sync = FakeSync(gate=gate)
    settle = SettleGate()
    settle.opened.set()  # the first run's wait passes at once
    with server(ws, sync, settle_seconds=3.0, sleep=settle.sleep) as srv:
        assert post(srv, note("ASSET-S")).status_code == 200
        assert wait_for(lambda: len(sync.calls) == 1, HANG)
        settle.opened.clear()  # from here on a wait holds until the test opens it
        for _ in range(3):  # while the first run syncs
            assert post(srv, note("ASSET-S")).status_code == 200
        gate.set()
        assert wait_for(lambda: len(settle.waits) == 2, HANG)  # the next run waits...
        for _ in range(3):  # ...and what comes meanwhile joins it
            assert post(srv, note("ASSET-S")).status_code == 200
        assert len(sync.calls) == 1
        settle.opened.set()
        assert srv.wait_idle(HANG)
        assert srv.consumer.store.pending() == []
    assert settle.waits == [3.0, 3.0]
    assert [c[1] for c in sync.calls] == ["ASSET-S", "ASSET-S"]


def test_failures_retried_with_backoff_and_recorded(ws: Workspace) -> None:
    sync = FakeSync(fail=2)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the real wait, recorded (not the wall clock:
        waits.append(seconds)                 # a loaded machine stretches every gap)
        await asyncio.sleep(seconds)

    with server(ws, sync, retry_base=0.05, sleep=sleep) as srv:
        assert post(srv, note("ASSET-R")).status_code == 200
        assert srv.wait_idle(HANG)
        assert not srv.consumer.store.pending()
    assert len(sync.calls) == 3
    assert len(waits) == 2 and all(0.75 * 0.05 <= w <= 1.25 * 0.1 for w in waits)
    assert waits[1] > waits[0] * 1.1  # exponential backoff (jitter at most +-25 %)
    assert all(b[2] - a[2] >= w for (a, b), w in zip(itertools.pairwise(sync.calls), waits, strict=True))
    failures = [e for e in ws.index.events() if e["kind"] == "events.sync_failed"]
    assert sorted(f["attempt"] for f in failures) == [1, 2]
    assert failures[0]["asset"] == "ASSET-R" and "503" in failures[0]["detail"]


def test_pending_work_survives_a_restart(ws: Workspace) -> None:
    failing = FakeSync(fail=10**6)
    with server(ws, failing, retry_base=30.0) as srv:
        for asset in ("ASSET-A", "ASSET-B"):
            assert post(srv, note(asset)).status_code == 200
        assert wait_for(lambda: len(failing.calls) >= 2, 5)
    store = EventStore(ws.root / "events").open()
    assert sorted(store.pending()) == [("acme", "ASSET-A"), ("acme", "ASSET-B")]
    store.close()
    working = FakeSync()
    with server(ws, working) as srv:
        assert wait_for(lambda: len(working.calls) == 2, 5)
        assert srv.wait_idle(5)
        assert srv.consumer.store.pending() == []
    assert sorted(c[1] for c in working.calls) == ["ASSET-A", "ASSET-B"]


def test_one_consumer_per_workspace(ws: Workspace) -> None:
    with server(ws):
        with pytest.raises(ConsumerBusyError):
            EventStore(ws.root / "events").open()
        second = server(ws)
        with pytest.raises(ConsumerBusyError):
            second.start(timeout=5)  # its lifespan fails: the first one holds the workspace
        second.stop()


async def test_burst_of_1000_notifications_for_200_assets(ws: Workspace) -> None:
    sync = FakeSync(delay=0.002)
    assets = [f"ASSET-{i:04d}" for i in range(200)]
    messages = [note(assets[i % 200]) for i in range(1000)]
    times: list[float] = []
    accepted_at: dict[str, float] = {}
    with server(ws, sync, settle_seconds=0.05, concurrency=8) as srv:
        limit = asyncio.Semaphore(10)
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=10)) as client:

            async def send(msg: dict[str, Any]) -> int:
                async with limit:
                    start = time.monotonic()
                    response = await client.post(srv.url_for(PORTAL), content=json.dumps(msg))
                    times.append(time.monotonic() - start)
                    media = json.loads(msg["Message"])["media_id"]
                    accepted_at[media] = max(accepted_at.get(media, 0.0), start)
                    return response.status_code

            statuses = await asyncio.gather(*(send(m) for m in messages))
        assert statuses == [200] * 1000
        assert await asyncio.to_thread(srv.wait_idle, 20)
        assert srv.consumer.store.pending() == []
    synced = {c[1] for c in sync.calls}
    assert synced == set(assets)  # each asset synced, nothing lost
    assert sync.max_same == 1  # never twice at once
    last_start = {}
    for _, asset, at in sync.calls:
        last_start[asset] = max(last_start.get(asset, 0.0), at)
    assert all(last_start[a] >= accepted_at[a] - 0.5 for a in assets)
    assert len(sync.calls) < 1000  # coalesced
    times.sort()
    # Answering throughout: no answer waits for the syncs. The bounds are loose on purpose (a
    # loaded CI machine); the measured figure lives in benchmarks/events_bench.py.
    assert times[int(len(times) * 0.95)] < 2.0
    assert srv.consumer.snapshot()["response_ms"]["p95"] < 1000


# --- URL and request text -------------------------------------------------------------------------


def test_url_is_derived_same_portal_same_url(tmp_path: Path) -> None:
    ws1 = make_ws(tmp_path / "one", portal="https://Acme.Bynder.com/", name="acme")
    ws1.add_connection("bynder", "acme-2", {
        "domain": "acme.bynder.com", "tag": "Other", "consumer_key": "ck-test-9999",
        "consumer_secret": "cs-test-9999", "token_key": "tk-test-9999", "token_secret": "ts-99999"})
    ws2 = make_ws(tmp_path / "two", portal="acme.bynder.com", name="shop")
    url = ws1.event_consumer_url("acme")
    assert url == "https://dam.example.com/events/bynder/acme.bynder.com"
    assert ws1.event_consumer_url("acme-2") == url == ws2.event_consumer_url("shop")
    info = event_url_info(ws1, "acme")
    assert info["url"] == url and info["shared_with"] == ["acme-2"] and info["https"]
    assert any("only once" in n for n in info["notes"])
    text = request_text(ws1, "acme")
    assert f"Please send all notifications to {url} via https protocol" in text
    assert "Please activate all SNS notifications" in text and "asset_bank.media.create" in text
    assert "ck-test" not in text
    assert portal_key("http://127.0.0.1:8765/bynder") == "127.0.0.1_8765"
    assert portal_key("http://[::1]:8765/bynder") == "__1_8765"
    ws1.set_config(public_url=None)
    with pytest.raises(SettingsError):
        request_text(ws1, "acme")
    assert event_url_info(ws1, "acme")["url"] is None
    ws1.set_config(public_url="http://127.0.0.1:9000")
    with pytest.raises(SettingsError):
        request_text(ws1, "acme")  # Bynder delivers to https only
    ws1.close()
    ws2.close()


def test_sns_topics_config_is_validated(ws: Workspace) -> None:
    ws.set_config(sns_topics=[TOPIC, f" {TOPIC}", ""])  # as `config set` splits "a, a,"
    assert ws.config().sns_topics == [TOPIC]
    with pytest.raises(SettingsError):
        ws.set_config(sns_topics=["arn:aws:s3:::bucket"])
    ws.set_config(sns_topics=[])
    with pytest.raises(SettingsError):
        ConsumerServer(ws, topics=None)  # no topic allowed: refuses to start


def test_store_survives_a_torn_last_line(tmp_path: Path) -> None:
    directory = tmp_path / "events"
    directory.mkdir()
    (directory / "log.jsonl").write_bytes(
        b'{"s": "m-1", "at": %f}\n{"w": ["acme", "A"], "g": 1}\n{"w": ["acme", "B"' % time.time())
    store = EventStore(directory).open()
    assert store.is_seen("m-1") and store.pending() == [("acme", "A")]
    store.close()
