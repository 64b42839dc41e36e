"""The SNS verifier refuses forged, tampered, stale and look-alike messages, accepts real ones.

Messages are signed here with a test RSA key (independently of the sandbox's signer); the
certificate is injected through ``fetch_cert``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from damkit.events.verify import (
    SnsVerifier,
    TrustedHost,
    VerificationError,
    check_cert_url,
    parse_body,
    sns_host,
)

from sns_support import sign_message

TOPIC = "arn:aws:sns:us-east-1:123456789012:bynder-acme"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem"
SUBSCRIBE = ("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
             f"{TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92")


def make_cert(key: rsa.RSAPrivateKey, days: int = 30, start: int = -1) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=start))
            .not_valid_after(now + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CERT = make_cert(KEY)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ts(offset: float = 0.0) -> str:
    moment = dt.datetime.fromtimestamp(time.time() + offset, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sign(msg: dict[str, Any], key: rsa.RSAPrivateKey = KEY, version: str = "1") -> dict[str, Any]:
    return sign_message(msg, key, version)


def notification(version: str = "1", **over: Any) -> dict[str, Any]:
    msg = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
           "Subject": "asset_bank.media.meta_updated",
           "Message": json.dumps({"media_id": "9542A933-2DF5-4999-9AB52701F33613C0"}),
           "Timestamp": ts()}
    msg.update({k: v for k, v in over.items() if not k.startswith("_")})
    msg = sign(msg, over.get("_key", KEY), version)
    msg["SigningCertURL"] = over.get("SigningCertURL", CERT_URL)
    msg["UnsubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1"
    return msg


def confirmation(kind: str = "SubscriptionConfirmation", **over: Any) -> dict[str, Any]:
    msg = {"Type": kind, "MessageId": str(uuid.uuid4()), "Token": "2336412f37fb687f5d51e6e2",
           "TopicArn": TOPIC, "Message": "You have chosen to subscribe to the topic.\nTo confirm",
           "SubscribeURL": SUBSCRIBE, "Timestamp": ts()}
    msg.update(over)
    msg = sign(msg, KEY, "2")
    msg["SigningCertURL"] = CERT_URL
    return msg


class Fetcher:
    def __init__(self, pem: bytes = CERT) -> None:
        self.pem = pem
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.pem


def verifier(fetch: Fetcher | None = None, **kw: Any) -> tuple[SnsVerifier, Fetcher]:
    fetch = fetch or Fetcher()
    return SnsVerifier([TOPIC], fetch_cert=fetch, **kw), fetch


async def refused(msg: dict[str, Any], reason: str, **kw: Any) -> Fetcher:
    v, fetch = verifier(**kw)
    with pytest.raises(VerificationError) as info:
        await v.verify(msg)
    assert info.value.reason == reason, info.value.message
    return fetch


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_valid_notification_v1_and_v2(version: str) -> None:
    v, fetch = verifier()
    msg = notification(version)
    result = await v.verify(msg)
    assert result.type == "Notification" and result.message_id == msg["MessageId"]
    assert result.subject == "asset_bank.media.meta_updated"
    await v.verify(notification(version))  # the certificate is cached by URL
    assert fetch.urls == [CERT_URL]


async def test_notification_without_subject() -> None:
    msg = notification()
    msg.pop("Subject")
    msg = sign(msg)  # re-signed without the Subject line
    v, _ = verifier()
    assert (await v.verify(msg)).subject is None


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_valid_confirmations(kind: str) -> None:
    v, _ = verifier()
    result = await v.verify(confirmation(kind))
    assert result.type == kind and result.subscribe_url == SUBSCRIBE
    assert "Token" not in json.dumps(result.safe()) and SUBSCRIBE not in json.dumps(result.safe())


async def test_values_with_escaped_newlines_are_signed_decoded() -> None:
    msg = notification(Message='{"media_id": "A-1"}\nsecond line "quoted"')
    raw = json.dumps(msg).encode()
    v, _ = verifier()
    assert (await v.verify(parse_body(raw))).message.endswith('"quoted"')


# --- forged or bad -------------------------------------------------------------------------------


async def test_bad_signature_other_key() -> None:
    await refused(notification(_key=OTHER_KEY), "signature")


@pytest.mark.parametrize("field,value", [
    ("Message", json.dumps({"media_id": "OTHER-ID"})), ("Subject", "asset_bank.media.deleted"),
    ("MessageId", "00000000-0000-0000-0000-000000000000"), ("Type", "SubscriptionConfirmation"),
])
async def test_tampered_field(field: str, value: str) -> None:
    msg = notification()
    msg[field] = value
    await refused(msg, "bad_field" if field == "Type" else "signature")


async def test_subject_added_or_removed_after_signing() -> None:
    msg = notification()
    msg.pop("Subject")
    await refused(msg, "signature")


async def test_signature_version_swapped() -> None:
    msg = notification("1")
    msg["SignatureVersion"] = "2"
    await refused(msg, "signature")
    msg["SignatureVersion"] = "3"
    await refused(msg, "signature_version")


async def test_require_v2() -> None:
    await refused(notification("1"), "signature_version", require_v2=True)


async def test_signature_not_base64() -> None:
    msg = notification()
    msg["Signature"] = "not base64!!"
    await refused(msg, "signature")


LOOKALIKES = [
    "https://sns.s3-us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
    "https://sns.s3-website-us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0123abcd.pem",  # other region
    "https://sns.us-east-1.amazonaws.com.evil/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-0123abcd.pem",
    "https://user:pw@sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
    "https://evil.com@sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazonaws.com/evil/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem?x=1",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem#x",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-../x.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem.evil",
    "https://sns.us-east-1.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com/%53impleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.com/SimpleNotificationService-0123abcd.pem",
    "https://sns.us-east-1.amazon\naws.com/SimpleNotificationService-0123abcd.pem",
    "https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-0123abcd.pem",
    "https://evil.com/SimpleNotificationService-0123abcd.pem",
    "https://s3.amazonaws.com/sns/SimpleNotificationService-0123abcd.pem",
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
    "//sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
    " https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
]


@pytest.mark.parametrize("url", LOOKALIKES)
async def test_cert_url_lookalikes_refused_before_fetch(url: str) -> None:
    fetch = await refused(notification(SigningCertURL=url), "cert_url")
    assert fetch.urls == []  # never fetched


async def test_cert_url_must_be_string() -> None:
    msg = notification()
    msg["SigningCertURL"] = None
    await refused(msg, "bad_field")


def test_sns_host_from_topic_partitions() -> None:
    assert sns_host(TOPIC) == "sns.us-east-1.amazonaws.com"
    assert sns_host("arn:aws-cn:sns:cn-north-1:123456789012:t") == "sns.cn-north-1.amazonaws.com.cn"
    assert sns_host("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t") == \
        "sns.us-gov-west-1.amazonaws.com"
    with pytest.raises(VerificationError):
        sns_host("arn:aws:sns:s3-us-east-1:123456789012:t")


def test_trusted_sandbox_host_only_when_configured() -> None:
    url = "http://127.0.0.1:8765/bynder/_sns/SimpleNotificationService-sandbox.pem"
    with pytest.raises(VerificationError):
        check_cert_url(url, TOPIC)
    trusted = [TrustedHost.parse("127.0.0.1:8765")]
    assert check_cert_url(url, TOPIC, trusted) == trusted[0]
    for bad in ("http://127.0.0.1:8766/bynder/_sns/SimpleNotificationService-sandbox.pem",
                "http://127.0.0.1:8765@evil.com/SimpleNotificationService-sandbox.pem",
                "http://127.0.0.1:8765/bynder/../SimpleNotificationService-sandbox.pem",
                "https://127.0.0.1:8765/bynder/_sns/SimpleNotificationService-sandbox.pem"):
        with pytest.raises(VerificationError):
            check_cert_url(bad, TOPIC, trusted)
    prefixed = [TrustedHost.parse("http://127.0.0.1:8765/bynder/_sns")]
    assert check_cert_url(url, TOPIC, prefixed) == prefixed[0]
    with pytest.raises(VerificationError):
        check_cert_url("http://127.0.0.1:8765/other/SimpleNotificationService-sandbox.pem", TOPIC,
                       prefixed)
    with pytest.raises(ValueError):
        TrustedHost.parse("http://evil.example.com")  # plain http only for loopback


async def test_unknown_topic_refused_first() -> None:
    msg = notification(TopicArn="arn:aws:sns:us-east-1:999999999999:attacker")
    msg["SigningCertURL"] = "https://evil.com/x.pem"
    msg["Timestamp"] = "garbage"
    fetch = await refused(msg, "unknown_topic")
    assert fetch.urls == []


async def test_topic_not_string() -> None:
    msg = notification()
    msg["TopicArn"] = [TOPIC]
    await refused(msg, "bad_topic")


@pytest.mark.parametrize("offset,reason", [(-3601, "stale"), (-2 * 86400, "stale"),
                                           (600, "future")])
async def test_timestamp_window(offset: float, reason: str) -> None:
    await refused(notification(Timestamp=ts(offset)), reason)


async def test_timestamp_format() -> None:
    await refused(notification(Timestamp="2024-01-01 00:00:00"), "timestamp")


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "Signature",
                                   "SignatureVersion", "Subject"])
@pytest.mark.parametrize("value", [None, 1, ["x"], {"a": "b"}])
async def test_every_signed_field_a_string(field: str, value: Any) -> None:
    msg = notification()
    msg[field] = value
    await refused(msg, "bad_field")


@pytest.mark.parametrize("field", ["Token", "SubscribeURL", "Message"])
async def test_confirmation_fields_required(field: str) -> None:
    msg = confirmation()
    msg.pop(field)
    await refused(msg, "bad_field")


@pytest.mark.parametrize("message_id", ["", "x" * 300, "id with space", "id\nline"])
async def test_message_id_shape(message_id: str) -> None:
    await refused(notification(MessageId=message_id), "bad_field")


async def test_unknown_type() -> None:
    msg = notification()
    msg["Type"] = "Surprise"
    await refused(msg, "bad_type")


async def test_header_type_mismatch() -> None:
    v, _ = verifier()
    with pytest.raises(VerificationError) as info:
        await v.verify(notification(), header_type="SubscriptionConfirmation")
    assert info.value.reason == "bad_type"


@pytest.mark.parametrize("url", [
    "https://evil.com/?Action=ConfirmSubscription",
    "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
    "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
    "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
    "https://sns.us-east-1.amazonaws.com@169.254.169.254/latest/meta-data/",
])
async def test_subscribe_url_pinned(url: str) -> None:
    await refused(confirmation(SubscribeURL=url), "subscribe_url")


async def test_expired_certificate_refused() -> None:
    await refused(notification(), "cert", fetch=Fetcher(make_cert(KEY, days=-1, start=-10)))


async def test_cert_fetch_failure_is_a_refusal() -> None:
    calls: list[str] = []

    def broken(url: str) -> bytes:
        calls.append(url)
        raise OSError("network down")

    v = SnsVerifier([TOPIC], fetch_cert=broken)
    for _ in range(5):
        with pytest.raises(VerificationError) as info:
            await v.verify(notification())
        assert info.value.reason == "cert_fetch"
    assert len(calls) == 1  # failures are remembered briefly: a burst does not hammer the host


async def test_async_fetcher_and_shared_fetch() -> None:
    import asyncio

    calls: list[str] = []

    async def fetch(url: str) -> bytes:
        calls.append(url)
        await asyncio.sleep(0.05)
        return CERT

    v = SnsVerifier([TOPIC], fetch_cert=fetch)
    await asyncio.gather(*(v.verify(notification()) for _ in range(20)))
    assert calls == [CERT_URL]


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b"\xff\xfe", b'"x"',
                                 b'{"Type": "Notification", "Type": "Notification"}', b""])
def test_parse_body_refuses_non_objects(raw: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        parse_body(raw)
    assert info.value.reason == "not_json"


def test_config_rejects_bad_topic() -> None:
    with pytest.raises(VerificationError):
        SnsVerifier(["not-an-arn"], fetch_cert=Fetcher())


def test_no_assert_in_verifier_source() -> None:
    import inspect

    import damkit.events.verify as module

    assert "assert " not in inspect.getsource(module)


def test_checks_hold_under_python_O() -> None:
    """``python -O`` strips asserts; the verifier's refusals must not depend on them."""
    import subprocess
    import sys

    script = (
        "import asyncio\n"
        "from damkit.events.verify import SnsVerifier, VerificationError\n"
        "v = SnsVerifier(['arn:aws:sns:us-east-1:123456789012:t'], fetch_cert=lambda u: b'')\n"
        "bad = {'Type': 'Notification', 'MessageId': 'm', 'TopicArn': "
        "'arn:aws:sns:us-east-1:123456789012:t', 'Message': 'x', 'Timestamp': "
        "'2030-01-01T00:00:00.000Z', 'SignatureVersion': '1', 'Signature': 'AA==', "
        "'SigningCertURL': 'https://evil.com/SimpleNotificationService-1.pem'}\n"
        "try:\n"
        "    asyncio.run(v.verify(bad))\n"
        "except VerificationError as e:\n"
        "    print('refused', e.reason)\n"
    )
    out = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "refused cert_url", out.stderr
