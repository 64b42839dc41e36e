"""Shared set-up of the event tests: SNS signing, written from AWS's description independently
of the consumer's own canonical form (so a mistake there cannot hide in both), and the
sandbox's SNS wired to a workspace's consumer."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from damkit.sandbox import Sandbox
from damkit.sandbox.server import free_port
from damkit.workspace import Workspace

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")


def sign_message(msg: dict[str, Any], key: rsa.RSAPrivateKey, version: str) -> dict[str, Any]:
    """Set ``SignatureVersion`` and ``Signature`` (1: SHA1withRSA, 2: SHA256withRSA)."""
    keys = NOTIFICATION_KEYS if msg["Type"] == "Notification" else CONFIRMATION_KEYS
    text = "".join(f"{k}\n{msg[k]}\n" for k in keys if k in msg).encode()
    algo = hashes.SHA1() if version == "1" else hashes.SHA256()
    msg["SignatureVersion"] = version
    msg["Signature"] = base64.b64encode(key.sign(text, padding.PKCS1v15(), algo)).decode()
    return msg


def wait_for(check: Callable[[], Any], timeout: float, every: float = 0.02) -> Any:
    """Poll ``check`` until it returns something true or ``timeout`` passes (a guard against a
    hang, never a speed figure); returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def use_sandbox_sns(ws: Workspace, sb: Sandbox) -> int:
    """Point the workspace's event consumer at the sandbox's SNS: allow its topic, trust its
    certificate host, and give the workspace a public URL on a free loopback port, which the
    consumer is to listen on (returned)."""
    topic = httpx.get(f"{sb.url}/bynder/_sns/topic").json()["TopicArn"]
    port = free_port()
    ws.set_config(public_url=f"http://127.0.0.1:{port}", sns_topics=[topic],
                  sns_trusted_cert_hosts=[f"127.0.0.1:{sb.port}"])
    return port


def subscribe(sb: Sandbox, endpoint: str, timeout: float, **options: Any) -> list[dict[str, Any]]:
    """Subscribe ``endpoint`` to the sandbox's topic and wait until the consumer confirmed it;
    the confirmed subscriptions (empty if it never did)."""
    httpx.post(f"{sb.url}/bynder/_sns/subscribe",
               json={"endpoint": endpoint, **options}).raise_for_status()
    return wait_for(lambda: [s for s in httpx.get(f"{sb.url}/bynder/_sns/subscriptions").json()
                             if s["confirmed"]], timeout)
