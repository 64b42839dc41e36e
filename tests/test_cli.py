"""The command line, run as a real subprocess: exit codes, --json, and no secret in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SECRET = "cli-secret-Hx72-never-print"


def damkit(home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DAMKIT_HOME": str(home), "DAMKIT_SECRET_STORE": "encrypted",
                "DAMKIT_SECRETS_PASSPHRASE": "cli-test-passphrase", **(env or {})}
    return subprocess.run([sys.executable, "-m", "damkit", *args], input=stdin,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def add_percolate(home: Path, name: str = "acme") -> subprocess.CompletedProcess[str]:
    return damkit(home, "connections", "add", "percolate", name, "--set", "Scope ID=12345",
                  "--set", "client_id=cid-1", "--set", "Tag for Import=Gelato",
                  "--secret", "client_secret", stdin=SECRET + "\n")


def test_help_is_fast_and_light():
    code = ("import sys, time; t=time.perf_counter(); sys.argv=['damkit','--help'];\n"
            "from damkit.cli import app\n"
            "try: app()\nexcept SystemExit: pass\n"
            "bad=[m for m in ('textual','ipywidgets','pandas','damkit.sandbox','damkit.sync') "
            "if m in sys.modules]\nprint('BAD', bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "BAD []" in r.stdout, r.stdout[-300:]


def test_add_show_list_json_and_no_secret_anywhere(tmp_path):
    home = tmp_path / "home"
    r = add_percolate(home)
    assert r.returncode == 0, r.stderr
    shown = damkit(home, "connections", "show", "acme", "--json")
    view = json.loads(shown.stdout)
    assert view["settings"]["scope_id"] == "license:12345"
    assert view["settings"]["client_secret"] == "********"
    listed = json.loads(damkit(home, "connections", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["acme"]
    human = damkit(home, "connections", "show", "acme")
    doctor = damkit(home, "doctor", "--json")
    assert json.loads(doctor.stdout)["secret_store"] == "encrypted"
    outputs = [r, shown, human, doctor, damkit(home, "connections", "list")]
    for p in outputs:
        assert SECRET not in p.stdout and SECRET not in p.stderr
    on_disk = b"".join(f.read_bytes() for f in home.rglob("*") if f.is_file())
    assert SECRET.encode() not in on_disk


def test_exit_codes(tmp_path):
    home = tmp_path / "home"
    assert damkit(home, "connections", "show", "nope").returncode == 2
    bad = damkit(home, "connections", "add", "percolate", "acme", "--set", "scope_id=abc",
                 "--set", "client_id=c", "--set", "tag=T", "--secret", "client_secret",
                 stdin=SECRET + "\n")
    assert bad.returncode == 2 and "Scope ID" in bad.stderr and SECRET not in bad.stderr
    assert json.loads(damkit(home, "connections", "list", "--json").stdout) == []
    assert damkit(home, "connections", "add", "dropbox", "x").returncode == 2
    assert damkit(home, "no-such-command").returncode == 2
    missing = damkit(home, "connections", "add", "percolate", "acme", "--secret", "client_secret")
    assert missing.returncode == 2 and "standard input" in missing.stderr


def test_bad_usage_json_error(tmp_path):
    r = damkit(tmp_path / "h", "connections", "show", "nope", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["ok"] is False


def test_edit_and_remove(tmp_path):
    home = tmp_path / "home"
    add_percolate(home)
    r = damkit(home, "connections", "edit", "acme", "--set", "tag=Summer", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["tag"] == "Summer"
    assert damkit(home, "connections", "edit", "acme", "--set", "tag= Summer").returncode == 2
    assert damkit(home, "connections", "remove", "acme").returncode == 0
    assert json.loads(damkit(home, "connections", "list", "--json").stdout) == []


def test_library_stats_empty(tmp_path):
    r = damkit(tmp_path / "home", "library", "stats", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["assets"] == 0


def test_check_against_the_sandbox(tmp_path, sandbox):
    home = tmp_path / "home"
    r = damkit(home, "connections", "add-sandbox", sandbox.url, "--json")
    assert r.returncode == 0, r.stderr
    ok = damkit(home, "check", "sandbox-percolate", "--json")
    report = json.loads(ok.stdout)
    assert ok.returncode == 0 and report["ok"] is True
    assert report["eligible"] == sandbox.manifest()["providers"]["percolate"]["eligible"]
    damkit(home, "connections", "edit", "sandbox-percolate", "--set", "tag=NoSuchTag")
    bad = damkit(home, "check", "sandbox-percolate")
    assert bad.returncode == 1 and "failed" in bad.stdout.lower()
    secret = sandbox.manifest()["providers"]["percolate"]["client_secret"]
    for p in (r, ok, bad):
        assert secret not in p.stdout + p.stderr


def test_check_in_a_fresh_process(tmp_path, sandbox):
    """A check as users run it: a new process, the encrypted store (the wall time is a figure of
    benchmarks/check_bench.py; damkit()'s subprocess timeout only guards against a hang)."""
    home = tmp_path / "home"
    damkit(home, "connections", "add-sandbox", sandbox.url)
    r = damkit(home, "check", "sandbox-percolate")
    assert r.returncode == 0 and "Connection OK" in r.stdout


def test_events_request_and_url_in_show(tmp_path, sandbox):
    home = tmp_path / "home"
    damkit(home, "connections", "add-sandbox", sandbox.url)
    missing = damkit(home, "events", "request", "sandbox-bynder")
    assert missing.returncode == 2 and "public URL" in missing.stderr
    assert damkit(home, "config", "set", "public_url", "https://dam.example.com").returncode == 0
    r = damkit(home, "events", "request", "sandbox-bynder", "--json")
    info = json.loads(r.stdout)
    assert r.returncode == 0 and info["url"].startswith("https://dam.example.com/")
    assert info["url"] in info["request"]
    shown = json.loads(damkit(home, "connections", "show", "sandbox-bynder", "--json").stdout)
    assert shown["event_consumer_url"] == info["url"]
    assert damkit(home, "events", "request", "sandbox-percolate").returncode == 2


def test_sandbox_refuses_a_public_host(tmp_path):
    r = damkit(tmp_path / "home", "sandbox", "--host", "0.0.0.0", timeout=30)
    assert r.returncode == 2 and "--host" in r.stderr


def test_installed_package_includes_the_console(tmp_path):
    # Run outside the checkout so that only the installed packages can be imported.
    r = subprocess.run([sys.executable, "-c", "import damkit_tui, damkit; print(damkit_tui.run.__name__)"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "run", r.stderr[-500:]


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_ssh_session_prompts_for_secret_and_passphrase(tmp_path):
    """Over SSH with no passphrase in the environment: the secret and the passphrase are asked
    for on the terminal, hidden, and the secret lands encrypted."""
    import pty
    import select

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAMKIT_")}
    env.update(DAMKIT_HOME=str(home), DAMKIT_SECRET_STORE="encrypted")
    argv = [sys.executable, "-m", "damkit", "connections", "add", "percolate", "acme",
            "--set", "scope_id=12345", "--set", "client_id=cid", "--set", "tag=Gelato",
            "--secret", "client_secret"]
    pid, fd = pty.fork()
    if pid == 0:  # the child's terminal is the pty, as in an SSH session
        os.execve(sys.executable, argv, env)
    out = b""

    def until(marker: bytes, deadline: float) -> None:
        nonlocal out
        while marker not in out and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 1024)
                except OSError:
                    return

    deadline = time.monotonic() + 30
    until(b"client_secret:", deadline)
    os.write(fd, SECRET.encode() + b"\n")
    until(b"New passphrase", deadline)
    os.write(fd, b"ssh-pass-123\n")
    until(b"Repeat", deadline)
    os.write(fd, b"ssh-pass-123\n")
    until(b"saved", deadline)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"saved" in out and os.waitstatus_to_exitcode(status) == 0, out[-500:]
    assert SECRET.encode() not in out and b"ssh-pass-123" not in out  # nothing echoed
    assert (home / "secrets.enc").exists()
    shown = damkit(home, "connections", "show", "acme", "--json",
                   env={"DAMKIT_SECRETS_PASSPHRASE": "ssh-pass-123"})
    assert json.loads(shown.stdout)["settings"]["client_secret"] == "********"
    from damkit import open_workspace

    with open_workspace(home, env={"DAMKIT_SECRETS_PASSPHRASE": "ssh-pass-123",
                                   "DAMKIT_SECRET_STORE": "encrypted"}) as ws:
        assert ws.load_settings("acme").client_secret.get_secret_value() == SECRET


def test_doctor_names_secret_sources_and_missing_ones(tmp_path):
    home = tmp_path / "home"
    add_percolate(home)
    report = json.loads(damkit(home, "doctor", "--json").stdout)
    conn = report["connections"][0]
    assert conn["secrets"] == {"client_secret": "encrypted"} and conn["missing_secrets"] == []
    env_src = json.loads(damkit(home, "doctor", "--json",
                                env={"DAMKIT_ACME_CLIENT_SECRET": "x-from-env"}).stdout)
    assert env_src["connections"][0]["secrets"] == {"client_secret": "env"}
    (home / "secrets.enc").unlink()  # the secret is gone from the store
    text = damkit(home, "doctor")
    assert "missing secret client_secret" in text.stdout and SECRET not in text.stdout


def test_library_audit_after_a_sync(tmp_path, fresh_sandbox):
    sb = fresh_sandbox(assets=40, providers=("percolate",), rate_limit=None)
    home = tmp_path / "home"
    damkit(home, "connections", "add-sandbox", sb.url)
    before = damkit(home, "library", "audit", "--json")
    eligible = sb.manifest()["providers"]["percolate"]["eligible"]
    assert before.returncode == 1 and json.loads(before.stdout)["counts"]["missing"] == eligible
    assert damkit(home, "sync", "sandbox-percolate").returncode == 0
    after = damkit(home, "library", "audit")
    assert after.returncode == 0 and "damkit audit" in after.stdout
    report = json.loads(damkit(home, "library", "audit", "--json").stdout)
    assert report["counts"]["current"] == eligible and report["near_misses"]
    offline = json.loads(damkit(home, "library", "audit", "--offline", "--json").stdout)
    assert offline["live"] is False and offline["counts"]["current"] == eligible


def test_corrupt_index_stops_with_file_and_backup_then_restore(tmp_path):
    home = tmp_path / "home"
    add_percolate(home)
    damkit(home, "connections", "list")  # a new open after a change makes a backup
    manifest = home / "index" / "manifest.json"
    manifest.write_bytes(b'{"torn')
    broken = damkit(home, "connections", "list")
    assert broken.returncode == 1
    assert "manifest.json" in broken.stderr and "latest backup:" in broken.stderr
    assert "damkit library restore" in broken.stderr
    assert manifest.read_bytes() == b'{"torn'  # left untouched, never replaced by an empty one
    restored = damkit(home, "library", "restore")
    assert restored.returncode == 0, restored.stderr
    listed = json.loads(damkit(home, "connections", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["acme"]


def test_demo_command(tmp_path):
    r = damkit(tmp_path / "home", "demo", "--assets", "30", "--json", timeout=120)
    rows = json.loads(r.stdout)
    assert r.returncode == 0, r.stderr[-500:]
    assert sorted(row["provider"] for row in rows) == ["bynder", "canto", "percolate"]
    assert all(row["check_ok"] and row["synced"] == row["eligible"] > 0 for row in rows)
    files = [p for p in (tmp_path / "home" / "demo" / "DAM Import").rglob("*")
             if p.is_file() and ".partial" not in p.parts]
    assert len(files) == sum(row["synced"] for row in rows)
