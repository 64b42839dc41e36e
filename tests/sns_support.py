"""SNS signing for the event tests, written from AWS's description, independently of the
consumer's own canonical form (so a mistake there cannot hide in both)."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
