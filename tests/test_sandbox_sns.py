"""The sandbox's AWS SNS for Bynder: subscribe a local receiver, confirm, get signed
notifications for catalog changes, and verify SignatureVersion 1 and 2 with ``cryptography``."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from damkit.sandbox import Sandbox

# written here from the AWS doc, independently of damkit/sandbox/sns.py
SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SIGNED_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                       "Type")


class Receiver:
    """A tiny HTTP endpoint that records every POST; ``fail_next`` answers 500 first."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: queue.Queue[tuple[dict[str, str], dict[str, Any]]] = queue.Queue()
        self.fail_next = 0
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.messages.put((dict(self.headers.items()), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def next(self, timeout: float = 5.0) -> tuple[dict[str, str], dict[str, Any]]:
        return self.messages.get(timeout=timeout)

    def close(self, sb: Sandbox | None = None) -> None:
        if sb is not None:  # unsubscribe, so the sandbox stops delivering here
            for sub in httpx.get(f"{sb.url}/bynder/_sns/subscriptions").json():
                if sub["Endpoint"] == self.url:
                    httpx.get(f"{sb.url}/bynder/_sns/unsubscribe",
                              params={"SubscriptionArn": sub["arn"]})
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(providers=("bynder",), assets=60, rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture
def receiver(sb: Sandbox) -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close(sb)


def verify(message: dict[str, Any]) -> None:
    """Raises InvalidSignature unless ``message`` is signed by the served certificate."""
    pem = httpx.get(message["SigningCertURL"]).content
    cert = x509.load_pem_x509_certificate(pem)
    keys = SIGNED_NOTIFICATION if message["Type"] == "Notification" else SIGNED_CONFIRMATION
    data = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[message["SignatureVersion"]]
    cert.public_key().verify(base64.b64decode(message["Signature"]), data,  # type: ignore[union-attr]
                             padding.PKCS1v15(), algorithm)  # type: ignore[call-arg]


def subscribe(sb: Sandbox, receiver: Receiver, version: str = "1") -> dict[str, Any]:
    """Subscribe, check the SubscriptionConfirmation, confirm it; returns the confirmation."""
    answer = httpx.post(f"{sb.url}/bynder/_sns/subscribe",
                        json={"endpoint": receiver.url, "signature_version": version})
    assert answer.status_code == 200
    headers, confirmation = receiver.next()
    assert confirmation["Type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["Content-Type"].startswith("text/plain")
    assert all(isinstance(v, str) for v in confirmation.values())
    verify(confirmation)
    confirmed = httpx.get(confirmation["SubscribeURL"])
    assert confirmed.status_code == 200 and "<SubscriptionArn>" in confirmed.text
    return confirmation


def drain_until(receiver: Receiver, media_id: str, subject: str) -> tuple[dict[str, str], dict[str, Any]]:
    deadline = time.monotonic() + 30  # guards a hang only: a delivery takes milliseconds
    while time.monotonic() < deadline:
        headers, message = receiver.next(timeout=max(0.1, deadline - time.monotonic()))
        if json.loads(message["Message"])["media_id"] == media_id and message["Subject"] == subject:
            return headers, message
    raise AssertionError(f"no {subject} for {media_id}")


def test_subscribe_confirm_and_signed_notification_v1(sb: Sandbox, receiver: Receiver) -> None:
    confirmation = subscribe(sb, receiver, "1")
    topic = httpx.get(f"{sb.url}/bynder/_sns/topic").json()
    assert confirmation["TopicArn"] == topic["TopicArn"]
    assert confirmation["SigningCertURL"] == topic["SigningCertURL"]
    assert confirmation["SigningCertURL"].startswith(f"{sb.url}/bynder/_sns/")
    key = sb.state.catalog("bynder").order[3]
    sb.control("POST", f"bynder/assets/{key}/tag", json={"tag": "Gelato"})
    headers, note = drain_until(receiver, key, "asset_bank.media.meta_updated")
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == note["MessageId"]
    assert set(note) == {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                         "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"}
    assert all(isinstance(v, str) for v in note.values())
    assert note["SignatureVersion"] == "1"
    assert json.loads(note["Message"]) == {"media_id": key}
    verify(note)
    tampered = dict(note, Message=json.dumps({"media_id": "SOMETHING-ELSE"}))
    with pytest.raises(InvalidSignature):
        verify(tampered)
    httpx.get(note["UnsubscribeURL"])


def test_signature_version_2_and_event_subjects(sb: Sandbox, receiver: Receiver) -> None:
    subscribe(sb, receiver, "2")
    catalog = sb.state.catalog("bynder")
    key = catalog.order[4]
    sb.control("POST", f"bynder/assets/{key}/modify", json={"size": 5000})
    _, updated = drain_until(receiver, key, "asset_bank.media.updated")
    assert updated["SignatureVersion"] == "2"
    verify(updated)
    with pytest.raises(InvalidSignature):  # a SHA256 signature is not a SHA1 one
        verify(dict(updated, SignatureVersion="1"))
    sb.control("POST", f"bynder/assets/{key}/archive", json={"archived": True})
    first = drain_until(receiver, key, "asset_bank.media.meta_updated")[1]
    second = receiver.next()[1]
    assert second["Subject"] == "asset_bank.media.archived"  # archiving sends two, in order
    assert first["Timestamp"] <= second["Timestamp"]
    made = sb.control("POST", "bynder/assets", json={"name": "new.png", "tags": ["Gelato"]})
    drain_until(receiver, made["key"], "asset_bank.media.create")
    sb.control("POST", f"bynder/assets/{made['key']}/delete")
    _, deleted = drain_until(receiver, made["key"], "asset_bank.media.deleted")
    verify(deleted)


def test_unconfirmed_subscription_gets_no_notifications(sb: Sandbox, receiver: Receiver) -> None:
    httpx.post(f"{sb.url}/bynder/_sns/subscribe", json={"endpoint": receiver.url})
    assert receiver.next()[1]["Type"] == "SubscriptionConfirmation"  # not confirmed
    key = sb.state.catalog("bynder").order[5]
    sb.control("POST", f"bynder/assets/{key}/tag", json={"tag": "Web"})
    with pytest.raises(queue.Empty):
        receiver.next(timeout=0.6)


def test_failed_delivery_is_retried_with_the_same_message_id(sb: Sandbox,
                                                             receiver: Receiver) -> None:
    subscribe(sb, receiver)
    receiver.fail_next = 2
    key = sb.state.catalog("bynder").order[6]
    sent = httpx.post(f"{sb.url}/bynder/_sns/publish",
                      json={"media_id": key, "subject": "asset_bank.media.meta_updated"})
    ids = sent.json()["MessageIds"]
    _, note = drain_until(receiver, key, "asset_bank.media.meta_updated")
    assert note["MessageId"] in ids
    subs = httpx.get(f"{sb.url}/bynder/_sns/subscriptions").json()
    mine = next(s for s in subs if s["Endpoint"] == receiver.url)
    assert mine["failures"] == 2 and mine["confirmed"] and note["MessageId"] in mine["messages"]


def test_publishing_does_not_block_the_control_call(sb: Sandbox, receiver: Receiver) -> None:
    subscribe(sb, receiver)
    receiver.delay = 10.0  # the endpoint now takes ten seconds to answer
    key = sb.state.catalog("bynder").order[7]
    sb.control("POST", f"bynder/assets/{key}/tag", json={"tag": "Print"})
    # The receiver records a message only after its 10 s delay: a control call that waited for
    # the delivery would return with the message already recorded. No clock is read.
    assert receiver.messages.empty()
    assert receiver.next(timeout=30)[1]["Subject"] == "asset_bank.media.meta_updated"


def test_bad_subscribe_requests(sb: Sandbox) -> None:
    url = f"{sb.url}/bynder/_sns/subscribe"
    assert httpx.post(url, json={"endpoint": "ftp://x"}).status_code == 400
    assert httpx.post(url, json={"endpoint": "http://127.0.0.1:9/x",
                                 "signature_version": "3"}).status_code == 400
    assert httpx.post(url, json={"endpoint": "http://127.0.0.1:9/x",
                                 "topic": "arn:aws:sns:eu-west-1:1:other"}).status_code == 400
    bad_confirm = httpx.get(f"{sb.url}/bynder/_sns/confirm",
                            params={"TopicArn": "x", "Token": "y"})
    assert bad_confirm.status_code == 404
