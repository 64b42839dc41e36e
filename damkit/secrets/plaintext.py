"""The plaintext file store, ``<workspace>/secrets.json`` (0600): only on explicit opt-in."""

from __future__ import annotations

import json

from ..errors import SecretStoreError
from .filestore import FileBackend, check_data


class PlaintextBackend(FileBackend):
    kind = "plaintext"

    def _decode(self, raw: bytes) -> dict[str, dict[str, str]]:
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SecretStoreError(f"{self.path} is not valid JSON",
                                   hint="restore it from a backup, or move it away") from None
        return check_data(obj, self.path)

    def _encode(self, data: dict[str, dict[str, str]]) -> bytes:
        doc = {"format": "damkit-secrets-plaintext", "version": 1, "connections": data}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1  # 32 MiB, ~0.1 s per derivation


__all__ = ["PlaintextBackend"]
