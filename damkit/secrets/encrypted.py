"""The encrypted file store, ``<workspace>/secrets.enc``: scrypt + AES-256-GCM over the whole file."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from ..errors import SecretStoreError
from . import keycache
from .filestore import FileBackend, check_data

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1  # 32 MiB, 0.1-0.15 s per derivation

KeyId = tuple[bytes, int, int, int]


class EncryptedBackend(FileBackend):
    """scrypt(passphrase, salt) → 256-bit key; AES-256-GCM over the whole JSON document.

    File: ``{"format": "damkit-secrets", "version": 1, "kdf": {...salt...}, "cipher":
    "AES-256-GCM", "nonce": b64, "ciphertext": b64}``. The header (format, version, kdf) is the
    GCM associated data, so tampering with it fails like a wrong passphrase. A fresh nonce on every
    write; the key is derived once per salt and kept in memory for this process, and for a few
    minutes in the session's key cache when there is a safe place for one (``key_cache``, see
    :mod:`.keycache`).
    """

    kind = "encrypted"

    def __init__(self, path: Path, passphrase: str, *, key_cache: Path | None = None) -> None:
        super().__init__(path)
        self._passphrase = passphrase
        self._keys: dict[KeyId, bytes] = {}
        self._unproven: set[KeyId] = set()  # keys from the session cache, not yet used to decrypt
        self._key_cache = key_cache
        self._kdf: dict[str, Any] | None = None  # header of the file as last read or written

    def _key(self, salt: bytes, n: int, r: int, p: int, *, cached: bool = True) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        ident = (salt, n, r, p)
        if ident in self._keys:
            return self._keys[ident]
        if cached and self._key_cache is not None:
            key = keycache.lookup(self._key_cache, salt, n, r, p, self._passphrase)
            if key is not None:
                self._keys[ident] = key
                self._unproven.add(ident)
                return key
        kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
        self._keys[ident] = kdf.derive(self._passphrase.encode("utf-8"))
        return self._keys[ident]

    def _remember(self, salt: bytes, n: int, r: int, p: int) -> None:
        """The key opened (or made) the file: keep it in the session cache."""
        ident = (salt, n, r, p)
        if self._key_cache is not None and ident not in self._unproven:
            keycache.store(self._key_cache, salt, n, r, p, self._passphrase, self._keys[ident])
        self._unproven.discard(ident)

    @staticmethod
    def _aad(header: dict[str, Any]) -> bytes:
        return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def _decode(self, raw: bytes) -> dict[str, dict[str, str]]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        unreadable = SecretStoreError(
            f"{self.path} is not a damkit encrypted secrets file (or it is damaged)",
            hint="restore it from a backup, or move it away to start afresh",
        )
        try:
            doc = json.loads(raw.decode("utf-8"))
            kdf = doc["kdf"]
            if doc.get("format") != "damkit-secrets" or doc.get("version") != 1:
                raise ValueError("format")
            if kdf.get("name") != "scrypt" or doc.get("cipher") != "AES-256-GCM":
                raise ValueError("algorithm")
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            if not (2**10 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
                raise ValueError("kdf parameters out of range")
            salt = base64.b64decode(kdf["salt"], validate=True)
            nonce = base64.b64decode(doc["nonce"], validate=True)
            ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            raise unreadable from None
        header = {"format": doc["format"], "version": doc["version"], "kdf": kdf,
                  "cipher": doc["cipher"]}
        key = self._key(salt, n, r, p)
        try:
            try:
                plain = AESGCM(key).decrypt(nonce, ciphertext, self._aad(header))
            except (InvalidTag, ValueError):
                if (salt, n, r, p) not in self._unproven:
                    raise
                # a cached key that does not open the file: forget it, derive the real one
                del self._keys[(salt, n, r, p)]
                self._unproven.discard((salt, n, r, p))
                key = self._key(salt, n, r, p, cached=False)
                plain = AESGCM(key).decrypt(nonce, ciphertext, self._aad(header))
        except (InvalidTag, ValueError):
            raise SecretStoreError(
                f"wrong passphrase for {self.path} (or the file was altered); nothing was changed",
                hint="check DAMKIT_SECRETS_PASSPHRASE (or the passphrase you typed)",
            ) from None
        self._remember(salt, n, r, p)
        try:
            obj = json.loads(plain.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise unreadable from None
        self._kdf = kdf
        return check_data(obj, self.path)

    def _encode(self, data: dict[str, dict[str, str]]) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kdf = self._kdf or {
            "name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P,
            "salt": base64.b64encode(os.urandom(16)).decode("ascii"),
        }
        header = {"format": "damkit-secrets", "version": 1, "kdf": kdf, "cipher": "AES-256-GCM"}
        salt = base64.b64decode(kdf["salt"])
        key = self._key(salt, kdf["n"], kdf["r"], kdf["p"])
        self._remember(salt, kdf["n"], kdf["r"], kdf["p"])
        nonce = os.urandom(12)
        plain = json.dumps({"connections": data}, sort_keys=True).encode("utf-8")
        ciphertext = AESGCM(key).encrypt(nonce, plain, self._aad(header))
        doc = dict(header, nonce=base64.b64encode(nonce).decode("ascii"),
                   ciphertext=base64.b64encode(ciphertext).decode("ascii"))
        self._kdf = kdf
        return (json.dumps(doc, indent=1) + "\n").encode("utf-8")

    def load(self) -> None:
        with self._lock:
            if self._stat() is None:
                self._kdf = None  # file gone: a new one gets a new salt
            super().load()


__all__ = ["EncryptedBackend"]
