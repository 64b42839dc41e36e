"""The OS keyring: is it usable here (a real backend that answers a probe in time), and the store
over it. Service ``damkit:<connection>``, username = field name. keyring is imported on first use.
"""

from __future__ import annotations

import contextlib
import secrets as _stdlib_secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ..errors import SecretStoreError
from .base import Backend

T = TypeVar("T")

#: Seconds a keyring call may take after the probe succeeded, before it is reported as hung.
KEYRING_CALL_TIMEOUT = 10.0


def call_with_deadline(fn: Callable[[], T], timeout: float, name: str) -> T:
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
    return cast(T, box["value"])


class KeyringBackend(Backend):
    kind = "keyring"

    def __init__(self, backend: Any, call_timeout: float) -> None:
        self.backend = backend
        self.location = backend_name(backend)
        self.call_timeout = call_timeout

    @staticmethod
    def service(connection: str) -> str:
        return f"damkit:{connection}"

    def _call(self, what: str, connection: str, field: str, fn: Callable[[], T]) -> T:
        try:
            return call_with_deadline(fn, self.call_timeout, f"damkit-keyring-{what}")
        except Exception as exc:  # noqa: BLE001 - keyring, D-Bus and backend errors alike (notes §2.4.3)
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
                with contextlib.suppress(PasswordDeleteError):  # not there: nothing to delete
                    self.backend.delete_password(service, field)

            self._call("delete", connection, field, remove)

def backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def keyring_verdict(backend: Any) -> tuple[str, bool] | None:
    """Why this keyring backend should not be used, and whether that is final even when the user
    forces ``DAMKIT_SECRET_STORE=keyring`` (None: try it)."""
    import keyring.backends.fail
    import keyring.backends.null

    name = backend_name(backend)
    if isinstance(backend, keyring.backends.fail.Keyring):
        return (f"no OS keyring backend ({name}); typical without a D-Bus session "
                "(SSH, containers, CI)"), True
    if isinstance(backend, keyring.backends.null.Keyring):
        return f"the null keyring backend ({name}) stores nothing", True
    members = getattr(backend, "backends", None)
    inner = list(members) if isinstance(members, (list, tuple)) else [backend]
    names = [backend_name(b) for b in inner]
    if names and all("plaintext" in n.lower() or "uncrypted" in n.lower() for n in names):
        return (f"{name} writes secrets in plain text (keyrings.alt); damkit's plaintext store "
                "is opt-in"), False
    if any(n.startswith(("keyrings.cryptfile.", "keyrings.alt.file.Encrypted")) for n in names):
        return (f"{name} asks for its own password on the terminal; use damkit's encrypted store "
                "(DAMKIT_SECRETS_PASSPHRASE) instead"), False
    return None


def probe_keyring(timeout: float, forced: bool) -> tuple[Any | None, str]:
    """(backend, why-text): the backend when a set/get/delete round trip works in time."""
    started = time.monotonic()
    state: dict[str, Any] = {}

    def probe() -> None:
        import keyring

        backend = keyring.get_keyring()
        state["backend"] = backend
        verdict = keyring_verdict(backend)
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
        call_with_deadline(probe, timeout, "damkit-keyring-probe")
    except TimeoutError:
        backend = state.get("backend")
        what = backend_name(backend) if backend is not None else "keyring"
        return None, (f"{what} did not answer the probe within {timeout:g} s "
                      "(a locked keyring waiting for an unlock prompt?)")
    except Exception as exc:  # noqa: BLE001 - every backend/D-Bus error: notes §2.4.3
        backend = state.get("backend")
        what = backend_name(backend) if backend is not None else "keyring"
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        return None, f"{what} failed the probe: {type(exc).__name__}" + (f": {detail}" if detail else "")
    if "skip" in state:
        return None, state["skip"]
    backend = state["backend"]
    detail = f"{backend_name(backend)}, probe round trip ok in {time.monotonic() - started:.2f} s"
    if "note" in state:
        detail += f" (forced although {state['note']})"
    return backend, detail


__all__ = ["KEYRING_CALL_TIMEOUT", "KeyringBackend", "backend_name", "call_with_deadline",
           "keyring_verdict", "probe_keyring"]
