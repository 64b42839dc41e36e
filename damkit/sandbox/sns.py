"""The sandbox's AWS SNS: Bynder's asset-bank notifications, delivered over HTTP like SNS does.

What it reproduces (providers/bynder.md §7, AWS "HTTP/HTTPS notification JSON format"):

- an endpoint is subscribed to a topic and first receives a ``SubscriptionConfirmation`` whose
  ``SubscribeURL`` points at the sandbox; only after that URL was fetched do ``Notification``\\ s
  flow;
- every message is the real envelope (all values strings), POSTed as ``text/plain`` with the
  ``x-amz-sns-*`` headers, signed over the canonical string with RSA PKCS#1 v1.5: SHA1 for
  ``SignatureVersion`` "1", SHA256 for "2";
- the signing key is a sandbox RSA key with a self-signed certificate that the sandbox serves at
  ``SigningCertURL`` (under the sandbox, never ``sns.<region>.amazonaws.com``: a consumer must be
  told explicitly to trust it);
- delivery runs on a background thread with retries on non-2xx/transport errors (the same
  ``MessageId`` on every try), so publishing never blocks the API call that caused it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger("damkit.sandbox.sns")

#: The keys AWS signs, in its documented order, per message type ("Verifying the signatures of
#: Amazon SNS messages"). Written here on its own, not imported from the event consumer's
#: verifier: the sandbox is what checks that verifier, so it must not share its mistakes.
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]


def string_to_sign(message: dict[str, Any]) -> bytes:
    """AWS's canonical form: ``key\nvalue\n`` for each signed key present (Subject only when
    the message has one)."""
    return "".join(f"{k}\n{message[k]}\n" for k in _SIGNED[message["Type"]]
                   if k in message).encode("utf-8")

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CERT_NAME = "SimpleNotificationService-sandbox.pem"



@dataclass(frozen=True)
class SigningKey:
    """The sandbox's RSA key and its self-signed certificate (PEM)."""

    key: rsa.RSAPrivateKey
    cert_pem: bytes


@lru_cache(maxsize=1)
def signing_key() -> SigningKey:
    """One key per process: generating RSA keys is the slow part, and nothing depends on it
    being fresh (the certificate is served by whichever sandbox signs)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "damkit sandbox (not Amazon)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "sns.sandbox.invalid"),
    ])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return SigningKey(key=key, cert_pem=cert.public_bytes(serialization.Encoding.PEM))


def sign(message: dict[str, str], version: str = "1", key: SigningKey | None = None) -> str:
    """Base64 signature of ``message`` for SignatureVersion ``version`` ("1" SHA1, "2" SHA256)."""
    if version not in ("1", "2"):
        raise ValueError(f"SignatureVersion must be '1' or '2', not {version!r}")
    key = key or signing_key()
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    raw = key.key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    return base64.b64encode(raw).decode("ascii")


def timestamp(now: float | None = None) -> str:
    """SNS's timestamp format: ISO-8601 UTC with milliseconds, e.g. 2012-04-25T21:49:25.719Z."""
    moment = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Subscription:
    arn: str
    topic_arn: str
    endpoint: str
    token: str
    signature_version: str = "1"
    confirmed: bool = False
    deliveries: int = 0  # POSTs answered 2xx
    failures: int = 0  # POSTs that failed (non-2xx or transport error), retries included
    dropped: int = 0  # messages given up after the last retry
    messages: list[str] = field(default_factory=list)  # MessageIds delivered, in order

    def public(self) -> dict[str, Any]:
        return {"SubscriptionArn": self.arn if self.confirmed else "PendingConfirmation",
                "arn": self.arn, "TopicArn": self.topic_arn, "Endpoint": self.endpoint,
                "Protocol": "https" if self.endpoint.startswith("https") else "http",
                "confirmed": self.confirmed, "signature_version": self.signature_version,
                "deliveries": self.deliveries, "failures": self.failures,
                "dropped": self.dropped, "messages": list(self.messages)}


class SnsPublisher:
    """Topics, subscriptions and a delivery thread, for one sandbox emulator.

    ``base_url`` is where the SNS routes are mounted (``…/bynder/_sns``): the certificate, the
    confirmation and the unsubscribe URLs live there.
    """

    def __init__(
        self,
        base_url: str,
        *,
        topic_name: str = "bynder-sandbox",
        retries: int = 3,
        retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        duplicate: bool = False,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name}"
        self.retries = retries
        self.retry_delays = retry_delays
        self.duplicate = duplicate  # deliver every notification twice (same MessageId)
        self.timeout = timeout
        self.subscriptions: dict[str, Subscription] = {}
        #: the last messages built (tests, debugging); bounded for a long-running sandbox
        self.published: deque[dict[str, str]] = deque(maxlen=1000)
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[dict[str, str] | None]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stopped = threading.Event()
        self.idle_exit = 10.0  # seconds a delivery thread waits for more before ending

    # --- URLs ----------------------------------------------------------------------------------

    @property
    def cert_url(self) -> str:
        return f"{self.base_url}/{CERT_NAME}"

    def subscribe_url(self, sub: Subscription) -> str:
        query = urlencode({"Action": "ConfirmSubscription", "TopicArn": sub.topic_arn,
                           "Token": sub.token})
        return f"{self.base_url}/confirm?{query}"

    def unsubscribe_url(self, sub: Subscription) -> str:
        query = urlencode({"Action": "Unsubscribe", "SubscriptionArn": sub.arn})
        return f"{self.base_url}/unsubscribe?{query}"

    # --- subscriptions -------------------------------------------------------------------------

    def subscribe(self, endpoint: str, *, topic_arn: str | None = None,
                  signature_version: str = "1") -> Subscription:
        """Register ``endpoint`` and send it a SubscriptionConfirmation (in the background)."""
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError("endpoint must be an http(s) URL")
        if signature_version not in ("1", "2"):
            raise ValueError("signature_version must be '1' or '2'")
        topic = topic_arn or self.topic_arn
        if topic != self.topic_arn:
            raise ValueError(f"unknown topic {topic}; this sandbox publishes {self.topic_arn}")
        sub = Subscription(arn=f"{topic}:{uuid.uuid4()}", topic_arn=topic, endpoint=endpoint,
                           token=uuid.uuid4().hex + uuid.uuid4().hex,
                           signature_version=signature_version)
        with self._lock:
            self.subscriptions[sub.arn] = sub
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": sub.token,
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the "
                       "subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": self.subscribe_url(sub),
            "Timestamp": timestamp(),
        }
        self._enqueue(sub, self._finish(message, sub))
        return sub

    def confirm(self, topic_arn: str, token: str) -> Subscription | None:
        with self._lock:
            for sub in self.subscriptions.values():
                if sub.topic_arn == topic_arn and sub.token == token:
                    sub.confirmed = True
                    return sub
        return None

    def unsubscribe(self, arn: str) -> Subscription | None:
        with self._lock:
            sub = self.subscriptions.pop(arn, None)
            pending = self._queues.get(arn)
        if pending is not None:
            pending.put(None)  # its delivery thread ends
        return sub

    # --- publishing ----------------------------------------------------------------------------

    def publish(self, subject: str | None, body: dict[str, Any]) -> list[str]:
        """Send a Notification to every confirmed subscription; returns the MessageIds.

        Never blocks on delivery: the message is queued for the delivery thread.
        """
        with self._lock:
            targets = [s for s in self.subscriptions.values() if s.confirmed]
        ids = []
        for sub in targets:
            message: dict[str, str] = {
                "Type": "Notification",
                "MessageId": str(uuid.uuid4()),
                "TopicArn": sub.topic_arn,
            }
            if subject is not None:
                message["Subject"] = subject
            message["Message"] = json.dumps(body)
            message["Timestamp"] = timestamp()
            message = self._finish(message, sub)
            message["UnsubscribeURL"] = self.unsubscribe_url(sub)
            self._enqueue(sub, message)
            if self.duplicate:
                self._enqueue(sub, message)
            ids.append(message["MessageId"])
        return ids

    def _finish(self, message: dict[str, str], sub: Subscription) -> dict[str, str]:
        message["SignatureVersion"] = sub.signature_version
        message["Signature"] = sign(message, sub.signature_version)
        message["SigningCertURL"] = self.cert_url
        with self._lock:
            self.published.append(dict(message))
        return message

    # --- delivery ---------------------------------------------------------------------------

    def _enqueue(self, sub: Subscription, message: dict[str, str]) -> None:
        """One queue and thread per subscription: a slow or failing endpoint delays only its own
        messages, which stay in order (a retried message holds back the ones after it)."""
        with self._lock:
            pending = self._queues.setdefault(sub.arn, queue.Queue())
            pending.put(message)
            thread = self._threads.get(sub.arn)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._run, args=(sub, pending),
                                          name="damkit-sandbox-sns", daemon=True)
                self._threads[sub.arn] = thread
                thread.start()

    def _run(self, sub: Subscription, pending: queue.Queue[dict[str, str] | None]) -> None:
        """Deliver until stopped, unsubscribed, or idle for ``idle_exit`` seconds (the next
        message starts a new thread; the check and the exit happen under the lock)."""
        idle_since = time.monotonic()
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while not self._stopped.is_set():
                try:
                    message = pending.get(timeout=0.25)
                except queue.Empty:
                    with self._lock:
                        gone = sub.arn not in self.subscriptions
                        idle = time.monotonic() - idle_since > self.idle_exit
                        if (gone or idle) and pending.empty():
                            self._threads.pop(sub.arn, None)
                            if gone:
                                self._queues.pop(sub.arn, None)
                            return
                    continue
                if message is None:
                    return
                self._deliver(client, sub, message)
                idle_since = time.monotonic()

    def _deliver(self, client: httpx.Client, sub: Subscription, message: dict[str, str]) -> None:
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
            "x-amz-sns-message-type": message["Type"],
            "x-amz-sns-message-id": message["MessageId"],
            "x-amz-sns-topic-arn": message["TopicArn"],
        }
        if message["Type"] == "Notification":
            headers["x-amz-sns-subscription-arn"] = sub.arn
        body = json.dumps(message, indent=2)
        for attempt in range(self.retries + 1):
            try:
                response = client.post(sub.endpoint, content=body, headers=headers)
                ok, reason = 200 <= response.status_code < 300, str(response.status_code)
            except httpx.HTTPError as exc:
                ok, reason = False, type(exc).__name__
            with self._lock:
                if ok:
                    sub.deliveries += 1
                    sub.messages.append(message["MessageId"])
                    return
                sub.failures += 1
            if attempt < self.retries:
                delay = self.retry_delays[min(attempt, len(self.retry_delays) - 1)]
                log.info("SNS delivery of %s failed (%s); retry %d in %.1fs",
                         message["MessageId"], reason, attempt + 1, delay)
                if self._stopped.wait(delay):
                    return
        with self._lock:
            sub.dropped += 1
        log.warning("SNS delivery of %s dropped after %d tries", message["MessageId"],
                    self.retries + 1)

    def stop(self) -> None:
        """Stop delivering (sandbox reset or shutdown); pending messages are dropped."""
        self._stopped.set()
        with self._lock:
            queues = list(self._queues.values())
        for pending in queues:
            pending.put(None)


def make_listener(publisher: SnsPublisher, subjects: Callable[[str], list[str]],
                  media_id: Callable[[Any], str]) -> Callable[[str, Any], None]:
    """A ``Catalog.listeners`` entry: each catalog change becomes 0..n notifications."""

    def listener(kind: str, asset: Any) -> None:
        for subject in subjects(kind):
            publisher.publish(subject, {"media_id": media_id(asset)})

    return listener


# --- routes (mounted under the emulator: ``/bynder/_sns/...``) -------------------------------------

_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


def _xml(status: int, body: str) -> Response:
    return Response(body, status_code=status, media_type="text/xml")


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"message": message, "statuscode": 400}, status_code=400)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def sns_routes(publisher: Callable[[], SnsPublisher]) -> list[BaseRoute]:
    """The SNS routes; ``publisher`` returns the current publisher (a reset replaces it).

    ``POST _sns/subscribe`` ``{"endpoint", "topic"?, "signature_version"?}``,
    ``GET _sns/confirm`` (SubscribeURL), ``GET _sns/unsubscribe`` (UnsubscribeURL),
    ``GET _sns/<cert>.pem`` (SigningCertURL), and for tests and the demo ``GET _sns/topic``,
    ``GET _sns/subscriptions``, ``POST _sns/publish`` ``{"media_id", "subject"}``.
    """

    async def subscribe(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("endpoint"), str):
            return _bad('send JSON: {"endpoint": url, "topic": arn?, "signature_version": '
                        '"1"|"2"?}')
        try:
            sub = publisher().subscribe(body["endpoint"], topic_arn=body.get("topic"),
                                        signature_version=str(body.get("signature_version", "1")))
        except ValueError as exc:
            return _bad(str(exc))
        return JSONResponse({"SubscriptionArn": "pending confirmation", "arn": sub.arn,
                             "TopicArn": sub.topic_arn})

    async def confirm(request: Request) -> Response:
        q = request.query_params
        sub = publisher().confirm(q.get("TopicArn", ""), q.get("Token", ""))
        if sub is None:
            return _xml(404, "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code>"
                             "<Message>Subscription not found</Message></Error></ErrorResponse>")
        return _xml(200, f'<ConfirmSubscriptionResponse xmlns="{_XMLNS}"><ConfirmSubscriptionResult>'
                         f"<SubscriptionArn>{sub.arn}</SubscriptionArn></ConfirmSubscriptionResult>"
                         "</ConfirmSubscriptionResponse>")

    async def unsubscribe(request: Request) -> Response:
        sub = publisher().unsubscribe(request.query_params.get("SubscriptionArn", ""))
        if sub is None:
            return _xml(404, "<ErrorResponse><Error><Code>NotFound</Code></Error></ErrorResponse>")
        return _xml(200, f'<UnsubscribeResponse xmlns="{_XMLNS}"><ResponseMetadata/>'
                         "</UnsubscribeResponse>")

    async def subscriptions(request: Request) -> Response:
        return JSONResponse([s.public() for s in list(publisher().subscriptions.values())])

    async def topic(request: Request) -> Response:
        current = publisher()
        return JSONResponse({"TopicArn": current.topic_arn, "SigningCertURL": current.cert_url})

    async def publish(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("media_id"), str):
            return _bad('send JSON: {"media_id": id, "subject": event}')
        ids = publisher().publish(body.get("subject") or "asset_bank.media.meta_updated",
                                  {"media_id": body["media_id"]})
        return JSONResponse({"MessageIds": ids})

    async def cert(request: Request) -> Response:
        return Response(signing_key().cert_pem, media_type="application/x-x509-ca-cert")

    table = [("/_sns/subscribe", subscribe, "POST"), ("/_sns/confirm", confirm, "GET"),
             ("/_sns/unsubscribe", unsubscribe, "GET"),
             ("/_sns/subscriptions", subscriptions, "GET"), ("/_sns/topic", topic, "GET"),
             ("/_sns/publish", publish, "POST")]
    routes: list[BaseRoute] = [Route(f"/_sns/{CERT_NAME}", cert, methods=["GET"])]
    for path, handler, method in table:
        routes += [Route(path, handler, methods=[method]),
                   Route(path + "/", handler, methods=[method])]
    return routes
