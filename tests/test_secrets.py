"""SecretStore resolution and the four stores, with the real keyring library.

This machine has no D-Bus session, so keyring's own autodetection yields ``fail.Keyring``: the
headless case. Tests pin the backend explicitly (``keyring.set_keyring`` in this process,
``PYTHON_KEYRING_BACKEND`` in subprocesses) so they behave the same on a desktop with a real
keyring. No OS keyring daemon exists here, so the "working keyring" case uses an in-memory backend
class defined below, driven through keyring's real backend API.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError

from damkit.errors import SecretStoreError
from damkit.redact import redact
from damkit.secrets import SecretStore, env_var_name, resolve_secret_store

ROOT = Path(__file__).resolve().parents[1]
PASS = "correct horse battery staple"


class MemoryKeyring(KeyringBackend):
    """A working keyring backend kept in memory."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append("get")
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append("set")
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls.append("delete")
        try:
            del self.data[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not found") from None


class HangingKeyring(MemoryKeyring):
    """Like a locked Secret Service collection waiting for an unlock prompt nobody sees."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(30)
        super().set_password(service, username, password)


class LockedKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


@pytest.fixture(autouse=True)
def headless_keyring():
    """Every test starts headless (fail.Keyring) and gets the original backend back after."""
    original = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield keyring.set_keyring
    keyring.set_keyring(original)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


def resolve(ws: Path, env: dict[str, str] | None = None, **kw) -> SecretStore:
    return resolve_secret_store(ws, env={} if env is None else env, **kw)


def why_of(store: SecretStore, name: str) -> str:
    lines = [line for line in store.why if line.startswith(name + ":")]
    assert len(lines) == 1, store.why
    return lines[0]


def run_py(code: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DAMKIT_") and k not in ("DBUS_SESSION_BUS_ADDRESS",
                                                       "PYTHON_KEYRING_BACKEND")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=60)


# --- fallback order without a keyring -----------------------------------------------------------


def test_headless_with_passphrase_chooses_encrypted(ws: Path) -> None:
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert store.kind == "encrypted"
    assert store.location == str(ws / "secrets.enc")
    assert "passed over" in why_of(store, "keyring")
    assert "fail.Keyring" in why_of(store, "keyring")
    assert "chosen" in why_of(store, "encrypted") and "DAMKIT_SECRETS_PASSPHRASE" in why_of(store, "encrypted")
    assert "not needed" in why_of(store, "plaintext")
    assert store.warnings == []
    assert not ws.exists(), "resolving must not create files"


def test_passphrase_argument_beats_env(ws: Path) -> None:
    resolve(ws, passphrase="from-the-tui-form").set("c1", "token", "tok-value-1")
    with pytest.raises(SecretStoreError, match="wrong passphrase"):
        resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": "other-passphrase-1"})
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": "other-passphrase-1"}, passphrase="from-the-tui-form")
    assert store.get("c1", "token") == "tok-value-1"


def test_null_keyring_is_passed_over(ws: Path, headless_keyring) -> None:
    headless_keyring(keyring.backends.null.Keyring())
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert store.kind == "encrypted"
    assert "null" in why_of(store, "keyring") and "stores nothing" in why_of(store, "keyring")


@pytest.mark.parametrize("how", ["env", "arg"])
def test_plaintext_only_on_opt_in_with_warning(ws: Path, how: str, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="damkit.secrets")
    env = {"DAMKIT_INSECURE_SECRETS": "1"} if how == "env" else {}
    store = resolve(ws, env, allow_plaintext=True if how == "arg" else None)
    assert store.kind == "plaintext"
    assert "chosen" in why_of(store, "plaintext")
    assert "DAMKIT_INSECURE_SECRETS=1" in why_of(store, "plaintext") or "allow_plaintext" in why_of(store, "plaintext")
    assert store.warnings and "UNENCRYPTED" in store.warnings[0]
    assert any("UNENCRYPTED" in r.getMessage() for r in caplog.records)

    store.set("acme", "client_secret", "plain-secret-1")
    path = ws / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["connections"] == {"acme": {"client_secret": "plain-secret-1"}}

    # the warning comes again on every start
    caplog.clear()
    again = resolve(ws, env, allow_plaintext=True if how == "arg" else None)
    assert again.get("acme", "client_secret") == "plain-secret-1"
    assert any("UNENCRYPTED" in r.getMessage() for r in caplog.records)


def test_allow_plaintext_false_beats_env_opt_in(ws: Path) -> None:
    store = resolve(ws, {"DAMKIT_INSECURE_SECRETS": "1"}, allow_plaintext=False)
    assert store.kind == "env-only"


def test_env_only_otherwise_reads_env_and_refuses_writes(ws: Path) -> None:
    env = {"DAMKIT_ACME_BYNDER_CONSUMER_SECRET": "env-secret-1"}
    store = resolve(ws, env)
    assert store.kind == "env-only"
    assert store.location is None
    assert "no passphrase" in why_of(store, "encrypted")
    assert "not opted in" in why_of(store, "plaintext")
    assert "chosen" in why_of(store, "env-only")
    assert store.get("acme-bynder", "consumer_secret") == "env-secret-1"
    assert store.source("acme-bynder", "consumer_secret") == "env"
    assert store.get("acme-bynder", "token_secret") is None
    assert store.source("acme-bynder", "token_secret") is None
    with pytest.raises(SecretStoreError) as err:
        store.set("acme-bynder", "token_secret", "new-value-1")
    text = str(err.value)
    assert "DAMKIT_SECRETS_PASSPHRASE" in text and "keyring" in text and "DAMKIT_INSECURE_SECRETS=1" in text
    assert "new-value-1" not in text
    assert env == {"DAMKIT_ACME_BYNDER_CONSUMER_SECRET": "env-secret-1"}
    # nothing can have been saved without a writable store: deleting is a no-op
    store.delete_connection("acme-bynder", ["consumer_secret", "token_secret"])
    assert store.get("acme-bynder", "consumer_secret") == "env-secret-1"
    assert not ws.exists()


def test_locked_encrypted_file_is_not_split_into_plaintext(ws: Path) -> None:
    resolve(ws, passphrase=PASS).set("c1", "token", "enc-value-1")
    store = resolve(ws, {"DAMKIT_INSECURE_SECRETS": "1"})
    assert store.kind == "env-only"
    assert "locked" in why_of(store, "encrypted")
    assert any("locked" in w for w in store.warnings)
    with pytest.raises(SecretStoreError, match="locked"):
        store.delete("c1", "token")  # the secrets may still be in the locked file: say so
    assert not (ws / "secrets.json").exists()


def test_interactive_without_tty_does_not_prompt(ws: Path, monkeypatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("typed-passphrase\n"))
    store = resolve(ws, interactive=True)
    assert store.kind == "env-only"


# --- a working keyring --------------------------------------------------------------------------


def test_working_keyring_is_chosen(ws: Path, headless_keyring) -> None:
    mem = MemoryKeyring()
    headless_keyring(mem)
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS, "DAMKIT_INSECURE_SECRETS": "1"})
    assert store.kind == "keyring"
    assert "MemoryKeyring" in store.location
    assert "chosen" in why_of(store, "keyring") and "probe round trip ok" in why_of(store, "keyring")
    assert "not needed" in why_of(store, "encrypted") and "not needed" in why_of(store, "plaintext")
    assert mem.data == {}, "the probe cleans up after itself"

    store.set("acme-bynder", "refresh_token", "kr-value-1")
    store.set("acme-bynder", "client_secret", "kr-value-2")
    assert mem.data[("damkit:acme-bynder", "refresh_token")] == "kr-value-1"
    assert store.get("acme-bynder", "refresh_token") == "kr-value-1"
    assert store.source("acme-bynder", "refresh_token") == "keyring"
    assert store.ref("acme-bynder", "refresh_token") == "secret:keyring:acme-bynder/refresh_token"
    store.delete("acme-bynder", "refresh_token")
    store.delete("acme-bynder", "refresh_token")  # missing: fine
    assert store.get("acme-bynder", "refresh_token") is None
    store.delete_connection("acme-bynder", ["refresh_token", "client_secret", "never_set"])
    assert mem.data == {}
    assert not ws.exists(), "no file store touched"


def test_keyring_that_raises_is_passed_over(ws: Path, headless_keyring) -> None:
    headless_keyring(LockedKeyring())
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert store.kind == "encrypted"
    assert "KeyringLocked" in why_of(store, "keyring")


def test_hanging_keyring_is_passed_over_within_timeout(ws: Path, headless_keyring) -> None:
    hang = HangingKeyring()
    headless_keyring(hang)
    try:
        started = time.monotonic()
        store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS}, probe_timeout=0.5)
        elapsed = time.monotonic() - started
        assert elapsed < 30.0  # a hang guard: the probe gives up at 0.5 s; a hung keyring never returns
        assert store.kind == "encrypted"
        assert "did not answer the probe within 0.5 s" in why_of(store, "keyring")
        store.set("c1", "token", "value-after-hang")
        assert store.get("c1", "token") == "value-after-hang"
    finally:
        hang.release.set()


def test_forced_keyring_that_is_unusable_is_an_error(ws: Path) -> None:
    with pytest.raises(SecretStoreError, match="DAMKIT_SECRET_STORE=keyring"):
        resolve(ws, {"DAMKIT_SECRET_STORE": "keyring", "DAMKIT_SECRETS_PASSPHRASE": PASS})


def test_forced_store_choices(ws: Path, headless_keyring) -> None:
    mem = MemoryKeyring()
    headless_keyring(mem)
    store = resolve(ws, {"DAMKIT_SECRET_STORE": "encrypted", "DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert store.kind == "encrypted"
    assert mem.calls == [], "a forced store skips the keyring probe"
    assert "not considered" in why_of(store, "keyring")

    store = resolve(ws, {"DAMKIT_SECRET_STORE": "plaintext"})
    assert store.kind == "plaintext" and store.warnings

    store = resolve(ws, {"DAMKIT_SECRET_STORE": "env"})
    assert store.kind == "env-only"

    with pytest.raises(SecretStoreError, match="no passphrase"):
        resolve(ws, {"DAMKIT_SECRET_STORE": "encrypted"})
    with pytest.raises(SecretStoreError, match="not a secret store"):
        resolve(ws, {"DAMKIT_SECRET_STORE": "vault"})
    with pytest.raises(SecretStoreError):
        resolve(ws, {"DAMKIT_SECRET_STORE": "plaintext"}, allow_plaintext=False)


# --- env layer ----------------------------------------------------------------------------------


def test_env_var_name() -> None:
    assert env_var_name("acme-bynder", "consumer_secret") == "DAMKIT_ACME_BYNDER_CONSUMER_SECRET"


def test_env_overrides_and_writes_never_go_to_env(ws: Path, caplog) -> None:
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS}
    store = resolve(ws, env)
    store.set("acme-bynder", "consumer_secret", "stored-value-1")
    assert store.source("acme-bynder", "consumer_secret") == "encrypted"

    env["DAMKIT_ACME_BYNDER_CONSUMER_SECRET"] = "env-value-1"  # consulted live, on every get
    assert store.get("acme-bynder", "consumer_secret") == "env-value-1"
    assert store.source("acme-bynder", "consumer_secret") == "env"

    with caplog.at_level(logging.WARNING, logger="damkit.secrets"):
        store.set("acme-bynder", "consumer_secret", "stored-value-2")
    assert env["DAMKIT_ACME_BYNDER_CONSUMER_SECRET"] == "env-value-1"
    assert set(env) == {"DAMKIT_SECRETS_PASSPHRASE", "DAMKIT_ACME_BYNDER_CONSUMER_SECRET"}
    assert any("takes precedence" in r.getMessage() for r in caplog.records)
    assert all("stored-value-2" not in r.getMessage() for r in caplog.records)

    store.delete("acme-bynder", "consumer_secret")
    assert env["DAMKIT_ACME_BYNDER_CONSUMER_SECRET"] == "env-value-1"
    assert store.get("acme-bynder", "consumer_secret") == "env-value-1"

    del env["DAMKIT_ACME_BYNDER_CONSUMER_SECRET"]
    assert store.get("acme-bynder", "consumer_secret") is None

    env["DAMKIT_ACME_BYNDER_CONSUMER_SECRET"] = ""  # empty counts as unset
    assert store.get("acme-bynder", "consumer_secret") is None


def test_env_defaults_to_os_environ(ws: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAMKIT_SECRETS_PASSPHRASE", PASS)
    monkeypatch.delenv("DAMKIT_SECRET_STORE", raising=False)
    store = resolve_secret_store(ws)
    assert store.kind == "encrypted"
    monkeypatch.setenv("DAMKIT_C1_TOKEN", "os-env-value")
    assert store.get("c1", "token") == "os-env-value"


def test_reserved_env_names_are_not_secrets(ws: Path) -> None:
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert store.get("secrets", "passphrase") is None


# --- encrypted store ----------------------------------------------------------------------------


SUB = """
import json, sys
from pathlib import Path
import keyring
from damkit.errors import SecretStoreError
from damkit.secrets import resolve_secret_store
try:
    store = resolve_secret_store(Path(sys.argv[1] if len(sys.argv) > 1 else {ws!r}))
except SecretStoreError as exc:
    print(json.dumps({{"error": str(exc)}})); raise SystemExit(3)
out = {{"kind": store.kind, "why": store.why, "backend": type(keyring.get_keyring()).__module__}}
{body}
print(json.dumps(out))
"""


def sub(ws: Path, body: str, **env: str) -> dict:
    proc = run_py(SUB.format(ws=str(ws), body=textwrap.dedent(body)), env)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_encrypted_round_trip_across_processes(ws: Path) -> None:
    # a process with no keyring at all (keyring's real fail backend) writes...
    out = sub(ws, """
        store.set("acme-bynder", "consumer_secret", "cross-proc-secret-1")
        store.set("acme-canto", "app_secret", "cross-proc-secret-2")
    """, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert out["kind"] == "encrypted" and out["backend"] == "keyring.backends.fail"
    assert any("fail.Keyring" in line for line in out["why"])

    # ...this process reads and writes...
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert store.get("acme-bynder", "consumer_secret") == "cross-proc-secret-1"
    store.set("acme-bynder", "token", "cross-proc-secret-3")

    # ...and a process with the null backend reads everything and deletes a connection.
    out = sub(ws, """
        out["read"] = [store.get("acme-bynder", "consumer_secret"), store.get("acme-bynder", "token"),
                       store.get("acme-canto", "app_secret")]
        store.delete_connection("acme-bynder", ["consumer_secret", "token"])
    """, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert out["kind"] == "encrypted"
    assert any("null" in line for line in out["why"])
    assert out["read"] == ["cross-proc-secret-1", "cross-proc-secret-3", "cross-proc-secret-2"]

    # the store in this process sees the other process's change
    assert store.get("acme-bynder", "consumer_secret") is None
    assert store.get("acme-canto", "app_secret") == "cross-proc-secret-2"


def test_headless_subprocess_without_passphrase_is_env_only(ws: Path) -> None:
    out = sub(ws, """
        out["read"] = store.get("acme", "client_secret")
        try:
            store.set("acme", "client_secret", "x-value-1")
        except SecretStoreError as exc:
            out["error"] = str(exc)
    """, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
               DAMKIT_ACME_CLIENT_SECRET="ci-secret-1")
    assert out["kind"] == "env-only"
    assert out["read"] == "ci-secret-1"
    assert "DAMKIT_SECRETS_PASSPHRASE" in out["error"]


def test_wrong_passphrase_refused_and_file_untouched(ws: Path) -> None:
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    store.set("c1", "token", "untouched-secret-1")
    path = ws / "secrets.enc"
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns

    with pytest.raises(SecretStoreError) as err:
        resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": "not the passphrase"})
    assert "wrong passphrase" in str(err.value)
    assert "not the passphrase" not in str(err.value)

    out = sub(ws, "", DAMKIT_SECRETS_PASSPHRASE="not the passphrase",
              PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert "wrong passphrase" in out["error"]

    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS}).get("c1", "token") == "untouched-secret-1"


def test_encrypted_file_mode_and_no_plaintext_inside(ws: Path) -> None:
    import base64

    secret = "very-distinctive-secret-VALUE-42"
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    store.set("acme-bynder", "consumer_secret", secret)
    path = ws / "secrets.enc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    for needle in (secret, base64.b64encode(secret.encode()).decode(), PASS, "consumer_secret",
                   "acme-bynder"):
        assert needle.encode() not in raw
    assert [p.name for p in ws.iterdir() if p.name.endswith(".tmp")] == []


def test_tampered_file_is_refused(ws: Path) -> None:
    resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS}).set("c1", "token", "tamper-secret-1")
    path = ws / "secrets.enc"
    doc = json.loads(path.read_text())
    doc["kdf"]["n"] = 2**14  # a changed header fails authentication
    path.write_text(json.dumps(doc))
    with pytest.raises(SecretStoreError, match=r"wrong passphrase|altered"):
        resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    path.write_text("not json")
    with pytest.raises(SecretStoreError, match="not a damkit encrypted secrets file"):
        resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})


def test_two_stores_do_not_lose_each_others_writes(ws: Path) -> None:
    a = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    b = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    a.set("c1", "token", "writer-a-value")
    b.set("c2", "token", "writer-b-value")
    a.set("c1", "other", "writer-a-value2")
    fresh = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert fresh.get("c1", "token") == "writer-a-value"
    assert fresh.get("c2", "token") == "writer-b-value"
    assert fresh.get("c1", "other") == "writer-a-value2"


# --- references and redaction -------------------------------------------------------------------


def test_ref_is_never_the_value(ws: Path) -> None:
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    store.set("acme", "client_secret", "ref-secret-value")
    ref = store.ref("acme", "client_secret")
    assert ref == "secret:encrypted:acme/client_secret"
    assert "ref-secret-value" not in ref and "ref-secret-value" not in repr(store)


def test_values_read_or_written_are_registered_for_redaction(ws: Path) -> None:
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS, "DAMKIT_C1_ENV_FIELD": "env-read-secret-77"}
    store = resolve(ws, env)
    store.set("c1", "written", "written-secret-77")
    assert redact("x written-secret-77 y") == "x ******** y"
    assert store.get("c1", "env_field") == "env-read-secret-77"
    assert redact("env-read-secret-77") == "********"
    assert redact(PASS) == "********"

    # a value only ever read from the file in another process is registered when loaded
    out = sub(ws, """
        from damkit.redact import redact
        store.get("c1", "anything")
        out["shown"] = redact("value=written-secret-77")
    """, DAMKIT_SECRETS_PASSPHRASE=PASS, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert out["shown"] == "value=********"


def test_invalid_names_and_values(ws: Path) -> None:
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    with pytest.raises(ValueError):
        store.get("", "token")
    with pytest.raises(ValueError):
        store.set("a/b", "token", "value-1")
    with pytest.raises(ValueError):
        store.set("c1", "token", "")


class PlaintextKeyring(MemoryKeyring):
    """Named like keyrings.alt.file.PlaintextKeyring (base64 in a file): not a real keyring."""


def test_plaintext_keyring_backend_is_passed_over_unless_forced(ws: Path, headless_keyring) -> None:
    headless_keyring(PlaintextKeyring())
    store = resolve(ws, {"DAMKIT_SECRETS_PASSPHRASE": PASS})
    assert store.kind == "encrypted"
    assert "plain text" in why_of(store, "keyring")
    store = resolve(ws, {"DAMKIT_SECRET_STORE": "keyring"})
    assert store.kind == "keyring" and "forced although" in why_of(store, "keyring")


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_interactive_prompt_on_a_terminal(ws: Path) -> None:
    import pty
    import select

    code = textwrap.dedent(f"""
        from pathlib import Path
        from damkit.secrets import resolve_secret_store
        store = resolve_secret_store(Path({str(ws)!r}), env={{"DAMKIT_SECRET_STORE": "encrypted"}},
                                     interactive=True)
        store.set("c1", "token", "typed-secret-1")
        print("KIND=" + store.kind)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAMKIT_")}
    env["PYTHONPATH"] = str(ROOT)
    pid, fd = pty.fork()
    if pid == 0:  # child: stdin/stdout are the terminal
        os.execve(sys.executable, [sys.executable, "-c", code], env)
    out = b""

    def read_until(marker: bytes, deadline: float) -> None:
        nonlocal out
        while marker not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    out += os.read(fd, 1024)
                except OSError:
                    return

    deadline = time.monotonic() + 20
    read_until(b"New passphrase", deadline)
    os.write(fd, b"typed-pass\n")
    read_until(b"Repeat", deadline)
    os.write(fd, b"typed-pass\n")
    read_until(b"KIND=encrypted", deadline)
    os.waitpid(pid, 0)
    os.close(fd)
    assert b"KIND=encrypted" in out, out
    assert b"typed-pass" not in out, "getpass does not echo"
    store = resolve(ws, passphrase="typed-pass")
    assert store.get("c1", "token") == "typed-secret-1"


# --- the session key cache ---------------------------------------------------------------------


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """A private per-user runtime directory, as systemd-logind makes /run/user/<uid>."""
    path = tmp_path / "run-user"
    path.mkdir(mode=0o700)
    return path


def cache_files(runtime: Path) -> list[Path]:
    folder = runtime / "damkit-keys"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def test_derived_key_is_cached_in_the_private_runtime_dir(ws: Path, runtime_dir: Path) -> None:
    from damkit.secrets import keycache

    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS, "XDG_RUNTIME_DIR": str(runtime_dir)}
    store = resolve(ws, env)
    store.set("c1", "token", "cached-key-secret-1")
    (entry,) = cache_files(runtime_dir)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE((runtime_dir / "damkit-keys").stat().st_mode) == 0o700
    raw = entry.read_bytes()
    assert PASS.encode() not in raw and b"cached-key-secret-1" not in raw
    assert "derived key kept 10 min in" in why_of(store, "encrypted")

    # the entry opens the file for the same passphrase only
    doc = json.loads((ws / "secrets.enc").read_text())
    salt = __import__("base64").b64decode(doc["kdf"]["salt"])
    n, r, p = doc["kdf"]["n"], doc["kdf"]["r"], doc["kdf"]["p"]
    key = keycache.lookup(runtime_dir / "damkit-keys", salt, n, r, p, PASS)
    assert key is not None and len(key) == 32
    assert keycache.lookup(runtime_dir / "damkit-keys", salt, n, r, p, PASS + "x") is None
    assert resolve(ws, env).get("c1", "token") == "cached-key-secret-1"
    with pytest.raises(SecretStoreError, match="wrong passphrase"):
        resolve(ws, {**env, "DAMKIT_SECRETS_PASSPHRASE": "not the passphrase"})

    # a damaged or forged entry is never trusted: the key is derived again
    entry.write_text(json.dumps({**json.loads(raw), "key": __import__("base64").b64encode(
        b"k" * 32).decode()}))
    assert resolve(ws, env).get("c1", "token") == "cached-key-secret-1"
    entry.write_text("{not json")
    assert resolve(ws, env).get("c1", "token") == "cached-key-secret-1"
    keycache.store(runtime_dir / "damkit-keys", salt, n, r, p, PASS, b"w" * 32)  # wrong key
    assert resolve(ws, env).get("c1", "token") == "cached-key-secret-1"
    assert keycache.lookup(runtime_dir / "damkit-keys", salt, n, r, p, PASS) == key  # repaired


def test_expired_cache_entries_are_dropped(ws: Path, runtime_dir: Path) -> None:
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS, "XDG_RUNTIME_DIR": str(runtime_dir)}
    resolve(ws, env).set("c1", "token", "expiring-secret-1")
    (entry,) = cache_files(runtime_dir)
    doc = json.loads(entry.read_text())
    entry.write_text(json.dumps({**doc, "expires": doc["expires"] - 3600}))
    assert resolve(ws, env).get("c1", "token") == "expiring-secret-1"
    (again,) = cache_files(runtime_dir)  # dropped, then stored afresh by the new derivation
    assert json.loads(again.read_text())["expires"] > doc["expires"] - 3600


@pytest.mark.parametrize("case", ["no runtime dir", "shared runtime dir", "turned off",
                                  "relative path"])
def test_no_key_cache_without_a_private_place(ws: Path, tmp_path: Path, runtime_dir: Path,
                                              case: str) -> None:
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS, "XDG_RUNTIME_DIR": str(runtime_dir)}
    if case == "no runtime dir":
        del env["XDG_RUNTIME_DIR"]
    elif case == "shared runtime dir":
        runtime_dir.chmod(0o755)
    elif case == "turned off":
        env["DAMKIT_KEY_CACHE"] = "0"
    else:
        env["XDG_RUNTIME_DIR"] = "run-user"
    store = resolve(ws, env)
    store.set("c1", "token", "uncached-secret-1")
    assert cache_files(runtime_dir) == []
    assert "in memory only" in why_of(store, "encrypted")
    assert resolve(ws, env).get("c1", "token") == "uncached-secret-1"
