"""Where damkit keeps connection secrets: one :class:`SecretStore`, resolved once and explicitly.

Order (see the reliability notes §2.4):

1. **Environment variables**, read-only, consulted first on every :meth:`SecretStore.get`, on top
   of whichever writable store was chosen: ``DAMKIT_<CONNECTION>_<FIELD>``, upper-cased, ``-`` →
   ``_`` (``DAMKIT_ACME_BYNDER_CONSUMER_SECRET``). Writes never go there.
2. **The OS keyring**, when ``keyring.get_keyring()`` is a real backend (not the fail/null one, not
   a plaintext or self-prompting one) *and* a set/get/delete probe round-trip answers within
   ``probe_timeout`` seconds (a locked Secret Service waits for an unlock prompt nobody sees).
   Service ``damkit:<connection>``, username = field name.
3. **An encrypted file**, ``<workspace>/secrets.enc``: scrypt key derivation + AES-256-GCM over the
   whole file, atomic replace, mode 0600. Passphrase from the ``passphrase=`` argument,
   ``DAMKIT_SECRETS_PASSPHRASE``, or a prompt (only with ``interactive=True`` and a TTY on stdin;
   a TUI asks first and passes ``passphrase=``).
4. **A plaintext file**, ``<workspace>/secrets.json`` (0600), only on explicit opt-in
   (``DAMKIT_INSECURE_SECRETS=1`` or ``allow_plaintext=True``), with a warning on every start.

``DAMKIT_SECRET_STORE=keyring|encrypted|plaintext`` (or ``env``) forces one store; it is an
error when that store is unusable. Without a writable store the kind is ``env-only``: environment
reads work, writes raise :class:`~damkit.errors.SecretStoreError` naming the fixes.

Every value read or written is registered with :mod:`damkit.redact`. Messages and ``why`` lines
name connections and fields, never values.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import logging
import os
import secrets as _stdlib_secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import SecretStoreError
from .redact import register_secret

__all__ = [
    "ENCRYPTED_FILE",
    "PLAINTEXT_FILE",
    "SecretStore",
    "env_var_name",
    "resolve_secret_store",
]

log = logging.getLogger("damkit.secrets")

ENCRYPTED_FILE = "secrets.enc"
PLAINTEXT_FILE = "secrets.json"

ENV_STORE = "DAMKIT_SECRET_STORE"
ENV_PASSPHRASE = "DAMKIT_SECRETS_PASSPHRASE"
ENV_INSECURE = "DAMKIT_INSECURE_SECRETS"
#: damkit's own settings: never read as a secret even if a connection/field pair maps onto one.
_RESERVED_ENV = frozenset({ENV_STORE, ENV_PASSPHRASE, ENV_INSECURE, "DAMKIT_HOME"})

KINDS = ("keyring", "encrypted", "plaintext", "env-only")
_TRUE = frozenset({"1", "true", "yes", "on"})

#: Seconds a keyring call may take after the probe succeeded, before it is reported as hung.
KEYRING_CALL_TIMEOUT = 10.0
#: Seconds to wait for another process holding the secrets file lock.
FILE_LOCK_TIMEOUT = 10.0

FIXES = (
    "set DAMKIT_SECRETS_PASSPHRASE to use the encrypted file store, "
    "unlock an OS keyring (e.g. gnome-keyring in a D-Bus session), "
    "or opt in to a plaintext file with DAMKIT_INSECURE_SECRETS=1; "
    "DAMKIT_<CONNECTION>_<FIELD> environment variables are read in any case"
)

T = TypeVar("T")


def env_var_name(connection: str, field: str) -> str:
    """``DAMKIT_<CONNECTION>_<FIELD>``: upper-cased, ``-`` (and ``.``) → ``_``."""
    raw = f"DAMKIT_{connection}_{field}".upper()
    return raw.replace("-", "_").replace(".", "_")


def _check_names(connection: str, field: str) -> None:
    for what, value in (("connection", connection), ("field", field)):
        if not isinstance(value, str) or not value or value != value.strip():
            raise ValueError(f"secret store: invalid {what} name {value!r}")
        if any(c in value for c in "/\\:\n\r\t\0 "):
            raise ValueError(f"secret store: {what} name {value!r} may not contain '/', ':' or spaces")


# --- writable backends ------------------------------------------------------------------------


class _Backend:
    """No writable store (env-only). ``locked`` is a secrets file that exists but cannot be opened."""

    kind = "env-only"
    location: str | None = None

    def __init__(self, locked: Path | None = None) -> None:
        self.locked = locked

    def get(self, connection: str, field: str) -> str | None:
        return None

    def set(self, connection: str, field: str, value: str) -> None:
        raise SecretStoreError(
            f"cannot save secret '{field}' of connection '{connection}': no writable secret store "
            "on this machine",
            hint=FIXES,
        )

    def delete_many(self, connection: str, fields: list[str]) -> None:
        # Nothing can have been saved without a writable store: nothing to delete, unless a
        # locked secrets file may still hold them; then say so rather than leave them silently.
        if self.locked is not None and self.locked.exists():
            raise SecretStoreError(
                f"cannot delete secrets of connection '{connection}': {self.locked} is locked",
                hint=f"set {ENV_PASSPHRASE} to unlock it",
            )


def _call_with_deadline(fn: Callable[[], T], timeout: float, name: str) -> T:
    """Run ``fn`` in a daemon thread; raise TimeoutError when it does not return in time.

    A hung keyring call (a locked collection waiting for an unlock prompt) then costs one parked
    daemon thread instead of a frozen CLI or TUI.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class _KeyringBackend(_Backend):
    kind = "keyring"

    def __init__(self, backend: Any, call_timeout: float) -> None:
        self.backend = backend
        self.location = _backend_name(backend)
        self.call_timeout = call_timeout

    @staticmethod
    def service(connection: str) -> str:
        return f"damkit:{connection}"

    def _call(self, what: str, connection: str, field: str, fn: Callable[[], T]) -> T:
        try:
            return _call_with_deadline(fn, self.call_timeout, f"damkit-keyring-{what}")
        except Exception as exc:  # keyring, D-Bus and backend errors alike (notes §2.4.3)
            raise SecretStoreError(
                f"the OS keyring ({self.location}) failed to {what} secret '{field}' of connection "
                f"'{connection}': {type(exc).__name__}",
                hint="unlock the keyring, or choose another store with DAMKIT_SECRET_STORE="
                "encrypted (and DAMKIT_SECRETS_PASSPHRASE)",
            ) from None

    def get(self, connection: str, field: str) -> str | None:
        service = self.service(connection)
        value = self._call("read", connection, field,
                           lambda: self.backend.get_password(service, field))
        return value if isinstance(value, str) and value else None

    def set(self, connection: str, field: str, value: str) -> None:
        service = self.service(connection)
        self._call("save", connection, field,
                   lambda: self.backend.set_password(service, field, value))

    def delete_many(self, connection: str, fields: list[str]) -> None:
        from keyring.errors import PasswordDeleteError

        service = self.service(connection)
        for field in fields:

            def remove(field: str = field) -> None:
                try:
                    self.backend.delete_password(service, field)
                except PasswordDeleteError:
                    pass  # not there: nothing to delete

            self._call("delete", connection, field, remove)


class _FileBackend(_Backend):
    """A whole-file JSON store: ``{"connections": {conn: {field: value}}}``.

    Every write happens under a sidecar file lock: reload from disk, change, write to a temporary
    file in the same folder (0600), fsync, ``os.replace``. Reads reload when another process
    replaced the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._lock = threading.RLock()
        self._data: dict[str, dict[str, str]] = {}
        self._stamp: tuple[int, int, int] | None = None

    # subclasses: bytes <-> data
    def _decode(self, raw: bytes) -> dict[str, dict[str, str]]:
        raise NotImplementedError

    def _encode(self, data: dict[str, dict[str, str]]) -> bytes:
        raise NotImplementedError

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> None:
        """(Re)read the file if it changed since the last read. Raises SecretStoreError."""
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp and (stamp is not None or not self._data):
                return
            if stamp is None:
                self._data, self._stamp = {}, None
                return
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                raise SecretStoreError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            data = self._decode(raw)
            for fields in data.values():
                for value in fields.values():
                    register_secret(value)
            self._data, self._stamp = data, stamp

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock, Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path) + ".lock", timeout=FILE_LOCK_TIMEOUT)
        with self._lock:
            try:
                lock.acquire()
            except Timeout:
                raise SecretStoreError(
                    f"another damkit process held the lock on {self.path} for over "
                    f"{FILE_LOCK_TIMEOUT:g} s",
                    hint="retry when the other process is done",
                ) from None
            try:
                yield
            finally:
                lock.release()

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        payload = self._encode(data)
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.chmod(tmp, 0o600)  # mkstemp creates 0600 already; be explicit
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError, AttributeError):
            dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._data = data
        self._stamp = self._stat()

    def get(self, connection: str, field: str) -> str | None:
        with self._lock:
            self.load()
            return self._data.get(connection, {}).get(field)

    def set(self, connection: str, field: str, value: str) -> None:
        with self._locked():
            self._stamp = None  # force a fresh read under the lock
            self.load()
            data = {c: dict(f) for c, f in self._data.items()}
            data.setdefault(connection, {})[field] = value
            self._write(data)

    def delete_many(self, connection: str, fields: list[str]) -> None:
        with self._lock:
            if not self.path.exists():
                return
        with self._locked():
            self._stamp = None
            self.load()
            current = self._data.get(connection, {})
            if not any(f in current for f in fields):
                return
            data = {c: dict(f) for c, f in self._data.items()}
            for f in fields:
                data[connection].pop(f, None)
            if not data[connection]:
                del data[connection]
            self._write(data)


def _check_data(obj: Any, path: Path) -> dict[str, dict[str, str]]:
    conns = obj.get("connections") if isinstance(obj, dict) else None
    if not isinstance(conns, dict) or not all(
        isinstance(f, dict) and all(isinstance(v, str) for v in f.values()) for f in conns.values()
    ):
        raise SecretStoreError(f"{path} is not a damkit secrets file (unexpected content)",
                               hint="restore it from a backup, or move it away to start afresh")
    return {str(c): dict(f) for c, f in conns.items()}


class _PlaintextBackend(_FileBackend):
    kind = "plaintext"

    def _decode(self, raw: bytes) -> dict[str, dict[str, str]]:
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SecretStoreError(f"{self.path} is not valid JSON",
                                   hint="restore it from a backup, or move it away") from None
        return _check_data(obj, self.path)

    def _encode(self, data: dict[str, dict[str, str]]) -> bytes:
        doc = {"format": "damkit-secrets-plaintext", "version": 1, "connections": data}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1  # 32 MiB, ~0.1 s per derivation


class _EncryptedBackend(_FileBackend):
    """scrypt(passphrase, salt) → 256-bit key; AES-256-GCM over the whole JSON document.

    File: ``{"format": "damkit-secrets", "version": 1, "kdf": {...salt...}, "cipher":
    "AES-256-GCM", "nonce": b64, "ciphertext": b64}``. The header (format, version, kdf) is the
    GCM associated data, so tampering with it fails like a wrong passphrase. A fresh nonce on every
    write; the key is derived once per salt and kept in memory for this process.
    """

    kind = "encrypted"

    def __init__(self, path: Path, passphrase: str) -> None:
        super().__init__(path)
        self._passphrase = passphrase
        self._keys: dict[tuple[bytes, int, int, int], bytes] = {}
        self._kdf: dict[str, Any] | None = None  # header of the file as last read or written

    def _key(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        ident = (salt, n, r, p)
        if ident not in self._keys:
            kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
            self._keys[ident] = kdf.derive(self._passphrase.encode("utf-8"))
        return self._keys[ident]

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
            plain = AESGCM(key).decrypt(nonce, ciphertext, self._aad(header))
        except (InvalidTag, ValueError):
            raise SecretStoreError(
                f"wrong passphrase for {self.path} (or the file was altered); nothing was changed",
                hint="check DAMKIT_SECRETS_PASSPHRASE (or the passphrase you typed)",
            ) from None
        try:
            obj = json.loads(plain.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise unreadable from None
        self._kdf = kdf
        return _check_data(obj, self.path)

    def _encode(self, data: dict[str, dict[str, str]]) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kdf = self._kdf or {
            "name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P,
            "salt": base64.b64encode(os.urandom(16)).decode("ascii"),
        }
        header = {"format": "damkit-secrets", "version": 1, "kdf": kdf, "cipher": "AES-256-GCM"}
        key = self._key(base64.b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
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


# --- the store --------------------------------------------------------------------------------


class SecretStore:
    """Connection secrets: environment variables first, then the one writable store chosen by
    :func:`resolve_secret_store`.

    ``kind`` is ``"keyring"``, ``"encrypted"``, ``"plaintext"`` or ``"env-only"``; ``why`` has one
    line per store considered (for ``damkit doctor``); ``warnings`` what a user should see at start;
    ``location`` the keyring backend class or the file path (None for env-only).
    """

    def __init__(self, backend: _Backend, *, env: Mapping[str, str] | None,
                 why: list[str], warnings: list[str]) -> None:
        self._backend = backend
        self._env = env
        self.kind: str = backend.kind
        self.location: str | None = backend.location
        self.why: list[str] = why
        self.warnings: list[str] = warnings

    def __repr__(self) -> str:
        return f"SecretStore(kind={self.kind!r}, location={self.location!r})"

    @property
    def writable(self) -> bool:
        return self.kind != "env-only"

    def _env_value(self, connection: str, field: str) -> str | None:
        name = env_var_name(connection, field)
        if name in _RESERVED_ENV:
            return None
        env = os.environ if self._env is None else self._env
        value = env.get(name)
        return value if value else None  # an empty variable counts as unset

    def get(self, connection: str, field: str) -> str | None:
        """The secret, from ``DAMKIT_<CONNECTION>_<FIELD>`` if set, else from the store; None when
        absent. Raises SecretStoreError when the store fails (never returns None for a failure)."""
        _check_names(connection, field)
        value = self._env_value(connection, field)
        if value is None:
            value = self._backend.get(connection, field)
        if value is not None:
            register_secret(value)
        return value

    def set(self, connection: str, field: str, value: str) -> None:
        """Save into the writable store (never into the environment)."""
        _check_names(connection, field)
        if not isinstance(value, str) or not value:
            raise ValueError("secret store: an empty value cannot be saved; use delete()")
        register_secret(value)
        self._backend.set(connection, field, value)
        name = env_var_name(connection, field)
        if self._env_value(connection, field) is not None:
            log.warning("saved secret '%s' of connection '%s' in the %s store, but %s is set and "
                        "takes precedence while it is", field, connection, self.kind, name)

    def delete(self, connection: str, field: str) -> None:
        """Remove from the writable store (a missing secret is fine). Environment untouched."""
        self.delete_connection(connection, [field])

    def delete_connection(self, connection: str, fields: list[str]) -> None:
        """Remove every listed field of ``connection`` from the writable store."""
        for field in fields:
            _check_names(connection, field)
        if fields:
            self._backend.delete_many(connection, list(fields))

    def ref(self, connection: str, field: str) -> str:
        """What the index stores instead of the value: ``secret:<kind>:<connection>/<field>``."""
        _check_names(connection, field)
        return f"secret:{self.kind}:{connection}/{field}"

    def source(self, connection: str, field: str) -> str | None:
        """``"env"`` or the store's kind, where :meth:`get` would read the value; None if unset."""
        _check_names(connection, field)
        if self._env_value(connection, field) is not None:
            return "env"
        if self._backend.get(connection, field) is not None:
            return self.kind
        return None


# --- resolution -------------------------------------------------------------------------------


def _backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _keyring_verdict(backend: Any) -> tuple[str, bool] | None:
    """Why this keyring backend should not be used, and whether that is final even when the user
    forces ``DAMKIT_SECRET_STORE=keyring`` (None: try it)."""
    import keyring.backends.fail
    import keyring.backends.null

    name = _backend_name(backend)
    if isinstance(backend, keyring.backends.fail.Keyring):
        return (f"no OS keyring backend ({name}); typical without a D-Bus session "
                "(SSH, containers, CI)"), True
    if isinstance(backend, keyring.backends.null.Keyring):
        return f"the null keyring backend ({name}) stores nothing", True
    members = getattr(backend, "backends", None)
    inner = list(members) if isinstance(members, (list, tuple)) else [backend]
    names = [_backend_name(b) for b in inner]
    if names and all("plaintext" in n.lower() or "uncrypted" in n.lower() for n in names):
        return (f"{name} writes secrets in plain text (keyrings.alt); damkit's plaintext store "
                "is opt-in"), False
    if any(n.startswith(("keyrings.cryptfile.", "keyrings.alt.file.Encrypted")) for n in names):
        return (f"{name} asks for its own password on the terminal; use damkit's encrypted store "
                "(DAMKIT_SECRETS_PASSPHRASE) instead"), False
    return None


def _probe_keyring(timeout: float, forced: bool) -> tuple[Any | None, str]:
    """(backend, why-text): the backend when a set/get/delete round trip works in time."""
    started = time.monotonic()
    state: dict[str, Any] = {}

    def probe() -> None:
        import keyring

        backend = keyring.get_keyring()
        state["backend"] = backend
        verdict = _keyring_verdict(backend)
        if verdict and (verdict[1] or not forced):
            state["skip"] = verdict[0]
            return
        if verdict:
            state["note"] = verdict[0]
        service, user = "damkit:probe", f"probe-{_stdlib_secrets.token_hex(4)}"
        value = _stdlib_secrets.token_urlsafe(16)
        backend.set_password(service, user, value)
        try:
            if backend.get_password(service, user) != value:
                raise RuntimeError("read back a different value")
        finally:
            backend.delete_password(service, user)
        if backend.get_password(service, user) is not None:
            raise RuntimeError("the probe value survived its deletion")

    try:
        _call_with_deadline(probe, timeout, "damkit-keyring-probe")
    except TimeoutError:
        backend = state.get("backend")
        what = _backend_name(backend) if backend is not None else "keyring"
        return None, (f"{what} did not answer the probe within {timeout:g} s "
                      "(a locked keyring waiting for an unlock prompt?)")
    except Exception as exc:  # every backend/D-Bus error: notes §2.4.3
        backend = state.get("backend")
        what = _backend_name(backend) if backend is not None else "keyring"
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        return None, f"{what} failed the probe: {type(exc).__name__}" + (f": {detail}" if detail else "")
    if "skip" in state:
        return None, state["skip"]
    backend = state["backend"]
    detail = f"{_backend_name(backend)}, probe round trip ok in {time.monotonic() - started:.2f} s"
    if "note" in state:
        detail += f" (forced although {state['note']})"
    return backend, detail


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def resolve_secret_store(
    workspace_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    passphrase: str | None = None,
    allow_plaintext: bool | None = None,
    interactive: bool = False,
    probe_timeout: float = 3.0,
) -> SecretStore:
    """Choose the secret store once, explicitly, and say why (``store.why``).

    ``env`` defaults to ``os.environ`` (read live on every get). ``passphrase`` beats
    ``DAMKIT_SECRETS_PASSPHRASE``; a prompt happens only with ``interactive=True`` on a TTY.
    ``allow_plaintext`` None means "as ``DAMKIT_INSECURE_SECRETS`` says"; False refuses plaintext
    even when the environment opts in. Raises SecretStoreError when ``DAMKIT_SECRET_STORE`` names
    an unusable store, or when an existing ``secrets.enc`` does not open with the passphrase given.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    workspace = Path(workspace_dir)
    enc_path, txt_path = workspace / ENCRYPTED_FILE, workspace / PLAINTEXT_FILE
    why: list[str] = [
        "env: DAMKIT_<CONNECTION>_<FIELD> variables are read first on every lookup (read-only)"
    ]
    warnings: list[str] = []

    forced = (environ.get(ENV_STORE) or "").strip().lower() or None
    if forced == "env":
        forced = "env-only"
    if forced is not None and forced not in KINDS:
        raise SecretStoreError(
            f"{ENV_STORE}={forced!r} is not a secret store",
            hint="use keyring, encrypted, plaintext or env (or unset it to choose automatically)",
        )
    forced_note = f"not considered ({ENV_STORE}={forced})"

    def done(backend: _Backend) -> SecretStore:
        store = SecretStore(backend, env=env, why=why, warnings=warnings)
        if backend.kind != "plaintext" and txt_path.exists():
            warnings.append(f"{txt_path} exists but is not used by the {backend.kind} store; "
                            "delete it if its secrets were moved")
        if backend.kind in ("keyring", "plaintext") and enc_path.exists():
            warnings.append(f"{enc_path} exists but is not used by the {backend.kind} store "
                            f"(set {ENV_STORE}=encrypted to use it)")
        for text in warnings:
            # env-only is the intended setup in CI: say it, but do not shout on every run
            level = logging.INFO if text.startswith("no writable secret store") else logging.WARNING
            log.log(level, "secret store: %s", text)
        log.debug("secret store: %s (%s)", store.kind, store.location)
        return store

    # 2. the OS keyring
    if forced in (None, "keyring"):
        backend, detail = _probe_keyring(probe_timeout, forced == "keyring")
        if backend is not None:
            why.append(f"keyring: chosen: {detail}")
            for other in ("encrypted", "plaintext"):
                why.append(f"{other}: not needed (the keyring works)")
            return done(_KeyringBackend(backend, max(KEYRING_CALL_TIMEOUT, probe_timeout)))
        why.append(f"keyring: passed over: {detail}")
        if forced == "keyring":
            raise SecretStoreError(f"{ENV_STORE}=keyring, but the OS keyring is unusable: {detail}",
                                   hint="unlock or install a keyring, or unset " + ENV_STORE)
    else:
        why.append(f"keyring: {forced_note}")

    # 3. the encrypted file
    enc_locked = False
    if forced in (None, "encrypted"):
        source = None
        phrase = passphrase or None
        if phrase:
            source = "the caller (passphrase=)"
        elif environ.get(ENV_PASSPHRASE):
            phrase, source = environ[ENV_PASSPHRASE], ENV_PASSPHRASE
        elif interactive and _stdin_is_tty():
            phrase = _prompt_passphrase(enc_path)
            source = "the terminal prompt" if phrase else None
        if phrase:
            register_secret(phrase)
            enc = _EncryptedBackend(enc_path, phrase)
            enc.load()  # wrong passphrase / damaged file: raise here, before anything is written
            state = "existing file" if enc_path.exists() else "created on first save"
            why.append(f"encrypted: chosen: {enc_path} ({state}; passphrase from {source})")
            why.append("plaintext: not needed (the encrypted store works)")
            return done(enc)
        enc_locked = enc_path.exists()
        reason = (f"{enc_path} exists but is locked: no passphrase"
                  if enc_locked else "no passphrase")
        reason += f" (set {ENV_PASSPHRASE}, or pass passphrase="
        reason += "; no terminal to ask on)" if interactive else ", or let damkit ask on a terminal)"
        why.append(f"encrypted: passed over: {reason}")
        if forced == "encrypted":
            raise SecretStoreError(f"{ENV_STORE}=encrypted, but there is no passphrase",
                                   hint=f"set {ENV_PASSPHRASE} or pass passphrase=")
        if enc_locked:
            warnings.append(f"{enc_path} holds secrets but is locked: set {ENV_PASSPHRASE} to "
                            "use them")
    else:
        why.append(f"encrypted: {forced_note}")

    # 4. the plaintext file
    if forced in (None, "plaintext"):
        if allow_plaintext is None:
            opted, how = _flag(environ.get(ENV_INSECURE)), f"{ENV_INSECURE}=1"
            if forced == "plaintext" and not opted:
                opted, how = True, f"{ENV_STORE}=plaintext"
        else:
            opted, how = allow_plaintext, "allow_plaintext=True"
        if opted and enc_locked and forced != "plaintext":
            why.append(f"plaintext: passed over: {enc_path} already holds the secrets; unlock it "
                       f"with {ENV_PASSPHRASE} instead of splitting them over two files")
        elif opted:
            txt = _PlaintextBackend(txt_path)
            txt.load()
            _tighten_mode(txt_path, warnings)
            why.append(f"plaintext: chosen: {txt_path} (opted in by {how})")
            warnings.insert(0, f"secrets are stored UNENCRYPTED in {txt_path} (opted in by {how}); "
                               f"set {ENV_PASSPHRASE} to use the encrypted store instead")
            return done(txt)
        else:
            why.append(f"plaintext: passed over: not opted in ({ENV_INSECURE}=1 or "
                       "allow_plaintext=True)"
                       + (" and allow_plaintext=False" if allow_plaintext is False else ""))
            if forced == "plaintext":
                raise SecretStoreError(f"{ENV_STORE}=plaintext, but allow_plaintext=False",
                                       hint=f"unset {ENV_STORE}")
    else:
        why.append(f"plaintext: {forced_note}")

    why.append("env-only: chosen: no writable store; secrets can be read from DAMKIT_<CONNECTION>_"
               "<FIELD> variables but not saved")
    warnings.append("no writable secret store: saving a secret will fail; " + FIXES)
    return done(_Backend(enc_path if enc_locked else None))


def _stdin_is_tty() -> bool:
    try:
        return bool(sys.stdin) and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _prompt_passphrase(path: Path) -> str | None:
    """Ask on the terminal (twice for a new file). None when the user enters nothing."""
    try:
        if path.exists():
            return getpass.getpass(f"Passphrase for damkit secrets ({path}): ") or None
        first = getpass.getpass(f"New passphrase for damkit secrets ({path}): ")
        if not first:
            return None
        if getpass.getpass("Repeat the passphrase: ") != first:
            raise SecretStoreError("the two passphrases differ; nothing was saved")
        return first
    except (EOFError, KeyboardInterrupt):
        return None


def _tighten_mode(path: Path, warnings: list[str]) -> None:
    if os.name != "posix" or not path.exists():
        return
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
            warnings.append(f"{path} was readable by others (mode {mode:o}); changed to 0600")
