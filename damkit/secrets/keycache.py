"""A session cache of the encrypted store's derived key, in the user's runtime directory.

Deriving the key (scrypt, N=2^15) costs 0.1-0.15 s, a third of a ``damkit check``. Like
gpg-agent and ssh-agent, damkit keeps the derived key for a short while, but only where that adds
no exposure: ``$XDG_RUNTIME_DIR`` (``/run/user/<uid>``: a per-user tmpfs, mode 0700, created at
login and wiped at logout and reboot, never in a backup or a copy of the workspace). Without such
a directory (containers, CI, cron without a session, macOS, Windows) nothing is cached. See
``docs/choices.md`` ("Secrets").

An entry is ``<runtime dir>/damkit-keys/<sha256 of salt and KDF parameters>.json`` (0600):
the key, an HMAC of the passphrase under that key (a different passphrase never gets the cached
key), and when it expires (:data:`TTL_SECONDS` after derivation, not extended by use). Any doubt
(wrong owner or mode, a symlink, bad content, expired) means "not cached": derive again.
``DAMKIT_KEY_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from collections.abc import Mapping
from pathlib import Path

ENV_KEY_CACHE = "DAMKIT_KEY_CACHE"
TTL_SECONDS = 600
"""A derived key is reused for at most this long (gpg-agent's default cache time)."""
FOLDER = "damkit-keys"
_OFF = frozenset({"0", "false", "no", "off"})


def _private_dir(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def cache_dir(env: Mapping[str, str]) -> Path | None:
    """The cache folder, created if needed; None when there is no safe place for it."""
    if os.name != "posix" or (env.get(ENV_KEY_CACHE) or "").strip().lower() in _OFF:
        return None
    runtime = env.get("XDG_RUNTIME_DIR")
    if not runtime or not os.path.isabs(runtime) or not _private_dir(Path(runtime)):
        return None
    folder = Path(runtime) / FOLDER
    with contextlib.suppress(FileExistsError, OSError):
        os.mkdir(folder, 0o700)
    return folder if _private_dir(folder) else None


def _entry(folder: Path, salt: bytes, n: int, r: int, p: int) -> Path:
    ident = hashlib.sha256(b"damkit-scrypt\0" + salt + f"\0{n}:{r}:{p}".encode()).hexdigest()
    return folder / f"{ident}.json"


def _proof(key: bytes, passphrase: str) -> bytes:
    return hmac.new(key, b"damkit-key-cache\0" + passphrase.encode("utf-8"), hashlib.sha256).digest()


def lookup(folder: Path, salt: bytes, n: int, r: int, p: int, passphrase: str) -> bytes | None:
    """The cached key for this salt, parameters and passphrase; None when not (safely) cached."""
    path = _entry(folder, salt, n, r, p)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077 or not stat.S_ISREG(st.st_mode):
            return None
        doc = json.loads(os.read(fd, 4096))
        key = base64.b64decode(doc["key"], validate=True)
        proof = base64.b64decode(doc["proof"], validate=True)
        expires = float(doc["expires"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        os.close(fd)
    if expires <= time.time() or len(key) != 32:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return key if hmac.compare_digest(proof, _proof(key, passphrase)) else None


def store(folder: Path, salt: bytes, n: int, r: int, p: int, passphrase: str, key: bytes) -> None:
    """Cache ``key`` (best effort: a failure only means the next process derives it again)."""
    path = _entry(folder, salt, n, r, p)
    doc = {"key": base64.b64encode(key).decode("ascii"),
           "proof": base64.b64encode(_proof(key, passphrase)).decode("ascii"),
           "expires": time.time() + TTL_SECONDS}
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, json.dumps(doc).encode("ascii"))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


__all__ = ["ENV_KEY_CACHE", "TTL_SECONDS", "cache_dir", "lookup", "store"]
