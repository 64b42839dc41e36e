"""Choosing the secret store once, explicitly, and saying why (the order is in the package doc)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import SecretStoreError
from ..redact import register_secret
from . import keycache
from .base import (
    DEMO_MARKER,
    ENCRYPTED_FILE,
    ENV_INSECURE,
    ENV_PASSPHRASE,
    ENV_STORE,
    FIXES,
    KINDS,
    PLAINTEXT_FILE,
    Backend,
)
from .encrypted import EncryptedBackend
from .keyring_store import KEYRING_CALL_TIMEOUT, KeyringBackend, probe_keyring
from .plaintext import PlaintextBackend
from .prompt import prompt_passphrase, stdin_is_tty
from .store import SecretStore

log = logging.getLogger("damkit.secrets")

_TRUE = frozenset({"1", "true", "yes", "on"})


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

    def done(backend: Backend) -> SecretStore:
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

    # the demo's own workspace: the sandbox's throwaway keys in its plaintext file, said once
    if (forced in (None, "plaintext") and allow_plaintext is not False
            and (workspace / DEMO_MARKER).exists()):
        txt = PlaintextBackend(txt_path)
        txt.load()
        _tighten_mode(txt_path, warnings)
        why.append(f"plaintext: chosen: {txt_path} (the demo's workspace, {DEMO_MARKER}: sandbox "
                   "keys only; never add a real connection here)")
        return done(txt)

    # 2. the OS keyring
    if forced in (None, "keyring"):
        backend, detail = probe_keyring(probe_timeout, forced == "keyring")
        if backend is not None:
            why.append(f"keyring: chosen: {detail}")
            for other in ("encrypted", "plaintext"):
                why.append(f"{other}: not needed (the keyring works)")
            return done(KeyringBackend(backend, max(KEYRING_CALL_TIMEOUT, probe_timeout)))
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
        elif interactive and stdin_is_tty():
            phrase = prompt_passphrase(enc_path)
            source = "the terminal prompt" if phrase else None
        if phrase:
            register_secret(phrase)
            cache = keycache.cache_dir(environ)
            enc = EncryptedBackend(enc_path, phrase, key_cache=cache)
            enc.load()  # wrong passphrase / damaged file: raise here, before anything is written
            state = "existing file" if enc_path.exists() else "created on first save"
            kept = (f"derived key kept {keycache.TTL_SECONDS // 60} min in {cache}" if cache
                    else "derived key kept in memory only (no private runtime directory)")
            why.append(f"encrypted: chosen: {enc_path} ({state}; passphrase from {source}; "
                       f"{kept})")
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
            txt = PlaintextBackend(txt_path)
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
    return done(Backend(enc_path if enc_locked else None))

def _tighten_mode(path: Path, warnings: list[str]) -> None:
    if os.name != "posix" or not path.exists():
        return
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
            warnings.append(f"{path} was readable by others (mode {mode:o}); changed to 0600")


__all__ = ["resolve_secret_store"]
