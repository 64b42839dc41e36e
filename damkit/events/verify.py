"""Verification of AWS SNS HTTP(S) messages (Bynder's change notifications).

The checks, in this order (the reliability notes §3, ``bynder.md`` §7.3):

1. the body is one UTF-8 JSON object without duplicate keys (:func:`parse_body`);
2. ``TopicArn`` is a string on the allow-list, *before* any other work or I/O;
3. ``Type`` is one of the three SNS types and every field it signs (plus ``SignatureVersion``,
   ``Signature``, ``SigningCertURL``) is present and a string (a JSON ``null`` or number fails);
4. ``SigningCertURL`` is exactly ``https://sns.<region of the TopicArn>.amazonaws.com/
   SimpleNotificationService-<hex>.pem`` (``.amazonaws.com.cn`` for ``aws-cn``), matched on
   the raw string, so look-alikes (``sns.s3-…``, ``…amazonaws.com.evil``, userinfo, ports,
   other paths, ``http://``, percent-escapes, whitespace) never reach a parser or a fetch. A
   host named in ``trusted_cert_hosts`` (the sandbox) is accepted only when configured;
5. ``Timestamp`` is within ``max_age`` (1 h: SNS's retry window) and at most 5 min ahead;
6. the certificate (fetched with a bounded timeout, no redirects, cached by URL) verifies the
   RSA PKCS#1 v1.5 signature over the canonical string: SHA1 for ``SignatureVersion`` "1",
   SHA256 for "2";
7. for the two confirmation types, ``SubscribeURL`` points at the same SNS host.

Every failure raises :class:`VerificationError` (never ``assert``, which ``python -O`` strips).
Its message names the check, never a value that could be replayed (``Token``, the URLs,
``Signature``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import DamkitError
from ..settings import SNS_TOPIC_ARN_RE, is_loopback_host

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

#: Signed keys per message type, in signing order (AWS "Verifying the signatures of Amazon SNS
#: messages"). ``Subject`` is signed only when present.
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")
SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: NOTIFICATION_KEYS,
    SUBSCRIPTION_CONFIRMATION: CONFIRMATION_KEYS,
    UNSUBSCRIBE_CONFIRMATION: CONFIRMATION_KEYS,
}
ENVELOPE_KEYS = ("SignatureVersion", "Signature", "SigningCertURL")

TOPIC_ARN_RE = SNS_TOPIC_ARN_RE  # the workspace's sns_topics setting checks the same form
CERT_FILE_RE = r"SimpleNotificationService-[A-Za-z0-9]{1,128}\.pem"
TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z")
#: Characters a trusted sandbox certificate path may use (no escapes, no dot segments).
_PATH_SEGMENT = r"/[A-Za-z0-9_\-]{1,64}"

MAX_AGE_SECONDS = 3600.0
MAX_FUTURE_SECONDS = 300.0
CERT_TIMEOUT_SECONDS = 5.0
MAX_CERT_BYTES = 16 * 1024
CERT_CACHE_SIZE = 32
FAILURE_TTL_SECONDS = 5.0  # a failed certificate fetch is not retried for this long

CertFetcher = Callable[[str], bytes | Awaitable[bytes]]


class VerificationError(DamkitError):
    """An SNS message that must not be acted on. ``reason`` is a short, safe code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def fail(reason: str, message: str) -> VerificationError:
    return VerificationError(reason, message)


@dataclass(frozen=True)
class SnsMessage:
    """A verified SNS message. ``raw`` holds every field; don't log it (Token, URLs)."""

    type: str
    message_id: str
    topic_arn: str
    timestamp: float
    subject: str | None
    message: str
    raw: dict[str, Any]

    @property
    def subscribe_url(self) -> str | None:
        value = self.raw.get("SubscribeURL")
        return value if isinstance(value, str) else None

    def safe(self) -> dict[str, Any]:
        """What may be logged: no Token, no URLs, no Signature."""
        return {"type": self.type, "message_id": self.message_id, "topic": self.topic_arn,
                "subject": self.subject}


# --- parsing ----------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")
        out[key] = value
    return out


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of an SNS POST body (SNS sends ``text/plain``: the type is not checked).

    Duplicate keys are refused: two parsers could disagree on which value was signed.
    """
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise fail("not_json", "the body is not a JSON object") from None
    if not isinstance(data, dict):
        raise fail("not_json", "the body is not a JSON object")
    return data


# --- URL pinning -------------------------------------------------------------------------------


def sns_host(topic_arn: str) -> str:
    """``sns.<region>.amazonaws.com`` (``.cn`` in China) for a topic ARN."""
    match = TOPIC_ARN_RE.fullmatch(topic_arn)
    if match is None:
        raise fail("bad_topic", "TopicArn is not an SNS topic ARN")
    suffix = ".amazonaws.com.cn" if match["partition"] == "aws-cn" else ".amazonaws.com"
    return f"sns.{match['region']}{suffix}"


@dataclass(frozen=True)
class TrustedHost:
    """An extra certificate host (the sandbox): ``scheme://netloc`` plus an optional path prefix."""

    scheme: str
    netloc: str
    prefix: str = ""

    @classmethod
    def parse(cls, entry: str) -> TrustedHost:
        """``127.0.0.1:8765``, ``http://127.0.0.1:8765/bynder/_sns`` or ``https://sns.test``.

        Without a scheme, https is assumed except for loopback hosts (http). Plain http is refused
        for anything but loopback.
        """
        text = entry.strip()
        if "://" not in text:
            host = urlsplit(f"//{text}").hostname or ""
            text = f"{'http' if is_loopback_host(host) else 'https'}://{text}"
        parts = urlsplit(text)
        host = parts.hostname or ""
        if (parts.scheme not in ("http", "https") or not host or parts.username
                or parts.password or parts.query or parts.fragment):
            raise ValueError(f"not a certificate host: {entry!r}")
        if parts.scheme == "http" and not is_loopback_host(host):
            raise ValueError(f"plain http is allowed only for loopback hosts: {entry!r}")
        prefix = parts.path.rstrip("/")
        if prefix and not re.fullmatch(f"(?:{_PATH_SEGMENT})+", prefix):
            raise ValueError(f"bad path prefix in {entry!r}")
        return cls(parts.scheme, parts.netloc.lower(), prefix)

    def cert_pattern(self) -> re.Pattern[str]:
        base = f"{re.escape(self.scheme)}://{re.escape(self.netloc)}{re.escape(self.prefix)}"
        return re.compile(f"{base}(?:{_PATH_SEGMENT}){{0,4}}/{CERT_FILE_RE}")

    def origin_pattern(self) -> re.Pattern[str]:
        """SubscribeURL on the same host, under the same prefix."""
        return re.compile(f"{re.escape(self.scheme)}://{re.escape(self.netloc)}"
                          f"{re.escape(self.prefix)}(?:/[A-Za-z0-9_\\-./]*)?(?:\\?[^#\\s]*)?")


def _printable_ascii(value: str) -> bool:
    return all(0x21 <= ord(ch) <= 0x7E for ch in value)


def check_cert_url(url: str, topic_arn: str,
                   trusted: Sequence[TrustedHost] = ()) -> TrustedHost | None:
    """Refuse any ``SigningCertURL`` but the pinned one; returns the trusted host that matched
    (``None`` for the real SNS host). Matched on the raw string, no URL parser in between."""
    if not _printable_ascii(url):
        raise fail("cert_url", "SigningCertURL has characters outside printable ASCII")
    host = sns_host(topic_arn)
    if re.fullmatch(f"https://{re.escape(host)}/{CERT_FILE_RE}", url):
        return None
    for entry in trusted:
        if entry.cert_pattern().fullmatch(url):
            return entry
    raise fail("cert_url", f"SigningCertURL is not https://{host}/SimpleNotificationService-….pem")


def check_subscribe_url(url: str, topic_arn: str, anchor: TrustedHost | None) -> None:
    """``SubscribeURL`` must point at the same SNS host as the certificate (no SSRF)."""
    if not _printable_ascii(url):
        raise fail("subscribe_url", "SubscribeURL has characters outside printable ASCII")
    if anchor is None:
        host = sns_host(topic_arn)
        if re.fullmatch(f"https://{re.escape(host)}/\\?[^#\\s]*", url):
            return
    elif anchor.origin_pattern().fullmatch(url):
        if not _escapes_prefix(url):
            return
        raise fail("subscribe_url", "SubscribeURL has a '.' or '..' path segment: it could "
                   "leave the trusted path prefix")
    raise fail("subscribe_url", "SubscribeURL is not on the topic's SNS host")


def _escapes_prefix(url: str) -> bool:
    """A ``.`` or ``..`` path segment, literal or percent-encoded (``%2e``, ``%2E%2e``, also
    double-encoded): a server that normalises the path would leave the trusted prefix."""
    path = urlsplit(url).path
    for _ in range(3):  # decode %25xx layers too; the pattern allows no '%' today, this stays safe
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return any(segment in (".", "..") for segment in path.replace("\\", "/").split("/"))


# --- certificates ------------------------------------------------------------------------------


class CertCache:
    """Public keys by exact certificate URL (bounded LRU). Concurrent misses share one fetch."""

    def __init__(self, fetch: CertFetcher, *, size: int = CERT_CACHE_SIZE,
                 now: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._size = size
        self._now = now
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed: dict[str, tuple[float, VerificationError]] = {}
        self.fetches = 0

    async def public_key(self, url: str) -> rsa.RSAPublicKey:
        key = self._keys.get(url)
        if key is not None:
            self._keys.move_to_end(url)
            return key
        failed = self._failed.get(url)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_TTL_SECONDS:
            # a burst against a broken certificate host waits once, not N times
            raise fail(failed[1].reason, failed[1].message)
        lock = self._locks.setdefault(url, asyncio.Lock())
        try:
            async with lock:
                key = self._keys.get(url)
                if key is None:
                    failed = self._failed.get(url)
                    if failed is not None and time.monotonic() - failed[0] < FAILURE_TTL_SECONDS:
                        raise fail(failed[1].reason, failed[1].message)
                    try:
                        key = await self._load(url)
                    except VerificationError as exc:
                        self._failed[url] = (time.monotonic(), exc)
                        if len(self._failed) > self._size:
                            self._failed.pop(next(iter(self._failed)))
                        raise
                    self._failed.pop(url, None)
                    self._keys[url] = key
                    while len(self._keys) > self._size:
                        self._keys.popitem(last=False)
        finally:
            if not lock.locked():
                self._locks.pop(url, None)
        return key

    async def _load(self, url: str) -> rsa.RSAPublicKey:
        self.fetches += 1
        try:
            result = self._fetch(url)
            pem = await result if inspect.isawaitable(result) else result
        except VerificationError:
            raise
        except Exception as exc:  # noqa: BLE001 - any fetch failure is a refusal, named safely
            raise fail("cert_fetch", f"the signing certificate could not be fetched "
                                     f"({type(exc).__name__})") from None
        if not isinstance(pem, bytes) or len(pem) > MAX_CERT_BYTES:
            raise fail("cert_fetch", "the signing certificate is missing or too large")
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise fail("cert", "the signing certificate is not a PEM certificate") from None
        now = datetime.fromtimestamp(self._now(), UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise fail("cert", "the signing certificate is not valid now")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise fail("cert", "the signing certificate has no RSA key")
        return key


def http_cert_fetcher(timeout: float = CERT_TIMEOUT_SECONDS) -> Callable[[str], Awaitable[bytes]]:
    """Fetch a PEM over HTTP(S): bounded timeout, no redirects, size-capped, two tries."""
    from ..http import HttpClient

    async def fetch(url: str) -> bytes:
        async with HttpClient(timeout=timeout, connect_timeout=timeout, retries=1,
                              backoff=0.2, max_connections=2) as client:
            response = await client.request("GET", url, follow_redirects=False, ok=(200,))
        body = response.content
        if len(body) > MAX_CERT_BYTES:
            raise fail("cert_fetch", "the signing certificate is too large")
        return body

    return fetch


# --- the verifier ------------------------------------------------------------------------------


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical ``Key\\nValue\\n`` string of the message's type (signed keys only)."""
    keys = SIGNED_KEYS[message["Type"]]
    return "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode("utf-8")


def parse_timestamp(value: str) -> float:
    if not TIMESTAMP_RE.fullmatch(value):
        raise fail("timestamp", "Timestamp is not an ISO-8601 UTC time")
    try:  # the shape is checked above; this finds impossible dates (thirty times strptime's speed)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail("timestamp", "Timestamp is not an ISO-8601 UTC time") from None
    return moment.timestamp()


class SnsVerifier:
    """Verifies SNS messages for an allow-list of topics.

    ``fetch_cert(url) -> bytes`` (sync or async) may be injected (tests); by default the PEM is
    fetched over HTTPS with :func:`http_cert_fetcher`. ``trusted_cert_hosts`` adds hosts besides
    ``sns.<region>.amazonaws.com`` (only the sandbox should ever be listed).
    """

    def __init__(
        self,
        topics: Iterable[str],
        *,
        trusted_cert_hosts: Iterable[str] = (),
        fetch_cert: CertFetcher | None = None,
        max_age: float = MAX_AGE_SECONDS,
        max_future: float = MAX_FUTURE_SECONDS,
        require_v2: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.topics = frozenset(topics)
        for topic in self.topics:
            sns_host(topic)  # a malformed ARN in the configuration is an error now, not later
        self.trusted = tuple(TrustedHost.parse(h) for h in trusted_cert_hosts)
        self.max_age = max_age
        self.max_future = max_future
        self.require_v2 = require_v2
        self.now = now
        self.certs = CertCache(fetch_cert or http_cert_fetcher(), now=now)

    def check_topic(self, data: dict[str, Any]) -> str:
        topic = data.get("TopicArn")
        if not isinstance(topic, str):
            raise fail("bad_topic", "TopicArn is missing or not a string")
        if topic not in self.topics:
            raise fail("unknown_topic", "TopicArn is not on the allow-list")
        return topic

    def check_fields(self, data: dict[str, Any]) -> str:
        kind = data.get("Type")
        if not isinstance(kind, str) or kind not in SIGNED_KEYS:
            raise fail("bad_type", "Type is not an SNS message type")
        for key in SIGNED_KEYS[kind] + ENVELOPE_KEYS:
            if key == "Subject" and key not in data:
                continue
            value = data.get(key)
            if not isinstance(value, str):
                raise fail("bad_field", f"{key} is missing or not a string")
        message_id = data["MessageId"]
        if not 0 < len(message_id) <= 256 or not _printable_ascii(message_id):
            raise fail("bad_field", "MessageId is not a short printable identifier")
        if kind != NOTIFICATION and "Subject" in data:
            raise fail("bad_field", "Subject is not part of a confirmation message")
        version = data["SignatureVersion"]
        if version not in ("1", "2") or (self.require_v2 and version != "2"):
            raise fail("signature_version", "SignatureVersion is not supported")
        return kind

    def check_time(self, data: dict[str, Any]) -> float:
        moment = parse_timestamp(data["Timestamp"])
        now = self.now()
        if moment < now - self.max_age:
            raise fail("stale", "Timestamp is older than the replay window")
        if moment > now + self.max_future:
            raise fail("future", "Timestamp is in the future")
        return moment

    async def verify(self, data: dict[str, Any], *, header_type: str | None = None) -> SnsMessage:
        """Verify a parsed message; returns it or raises :class:`VerificationError`."""
        topic = self.check_topic(data)  # first: an unknown topic costs nothing
        kind = self.check_fields(data)
        if header_type is not None and header_type != kind:
            raise fail("bad_type", "x-amz-sns-message-type does not match Type")
        anchor = check_cert_url(data["SigningCertURL"], topic, self.trusted)
        moment = self.check_time(data)
        if kind != NOTIFICATION:
            check_subscribe_url(data["SubscribeURL"], topic, anchor)
        try:
            signature = base64.b64decode(data["Signature"], validate=True)
        except (binascii.Error, ValueError):
            raise fail("signature", "Signature is not base64") from None
        key = await self.certs.public_key(data["SigningCertURL"])
        algorithm = hashes.SHA1() if data["SignatureVersion"] == "1" else hashes.SHA256()
        try:
            key.verify(signature, string_to_sign(data), padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise fail("signature", "the signature does not verify") from None
        return SnsMessage(type=kind, message_id=data["MessageId"], topic_arn=topic,
                          timestamp=moment, subject=data.get("Subject"),
                          message=data["Message"], raw=data)


__all__ = [
    "CertCache", "SnsMessage", "SnsVerifier", "TrustedHost", "VerificationError",
    "check_cert_url", "check_subscribe_url", "http_cert_fetcher", "parse_body", "sns_host",
    "string_to_sign",
]
