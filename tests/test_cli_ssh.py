"""The command line over SSH and on servers (issue 14): secrets from the environment, honest
output, no traceback. One test per numbered case, run as real ``damkit`` subprocesses (and under a
pseudo-terminal where the case is about terminals), against the sandbox over real HTTP.

Every run goes through :func:`run`, which fails the test if any output holds a Python traceback:
whatever this file tries (bad input, a locked store, a full disk, a failing sandbox), the user
gets one message with a cause and a fix.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

SECRET = "ssh-secret-Qz81-never-shown"
PASS = "issue14-passphrase"
TRACEBACK = "Traceback (most recent call last)"
#: the installed command, as a user runs it (``.venv/bin/damkit``)
DAMKIT = str(Path(sys.executable).with_name("damkit"))


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """No DAMKIT_* from the caller, no OS keyring (a server over SSH), the workspace ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAMKIT_")}
    env.update(DAMKIT_HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.update(extra)
    return env


def run(home: Path, *args: str, stdin: str = "", timeout: float = 90,
        **env: str) -> subprocess.CompletedProcess[str]:
    """``damkit ARGS`` without a terminal; never a traceback, whatever happens."""
    r = subprocess.run([DAMKIT, *args], input=stdin, capture_output=True, text=True,
                       env=base_env(home, **env), timeout=timeout)
    assert TRACEBACK not in r.stdout + r.stderr, (args, r.stderr[-2000:])
    return r


def run_pty(home: Path, *args: str, cols: int = 100, timeout: float = 90,
            **env: str) -> tuple[int, str]:
    """``damkit ARGS`` on a pseudo-terminal of ``cols`` columns (stdin, stdout and stderr all on
    it, as over SSH); returns the exit code and everything the terminal received."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
        os.execve(DAMKIT, [DAMKIT, *args], base_env(home, COLUMNS=str(cols), **env))
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode("utf-8", "replace")
    assert TRACEBACK not in text, text[-2000:]
    return os.waitstatus_to_exitcode(status), text


def manifest_of(sb: Any, provider: str) -> dict[str, Any]:
    fields: dict[str, Any] = dict(sb.manifest()["providers"][provider])
    fields.pop("eligible", None)
    return fields


def sets_of(fields: dict[str, Any], secret_fields: tuple[str, ...]) -> list[str]:
    args: list[str] = []
    for key, value in fields.items():
        if key not in secret_fields:
            args += ["--set", f"{key}={value}"]
    return args


def everything_on_disk(home: Path) -> bytes:
    return b"".join(f.read_bytes() for f in home.rglob("*") if f.is_file())


# --- secrets on servers and CI --------------------------------------------------------------


def test_1_add_and_check_with_the_secret_only_in_the_environment(tmp_path, sandbox):
    """Case 1: `DAMKIT_ACME_CLIENT_SECRET=... damkit connections add percolate acme --set ...`
    then `damkit check acme` work with no writable store at all, and no argv holds the secret."""
    home = tmp_path / "home"
    fields = manifest_of(sandbox, "percolate")
    secret = fields["client_secret"]
    argv = ["connections", "add", "percolate", "acme", *sets_of(fields, ("client_secret",))]
    assert not any(secret in a for a in argv)  # what `ps` would show
    added = run(home, *argv, DAMKIT_ACME_CLIENT_SECRET=secret)
    assert added.returncode == 0, added.stderr
    assert "from the environment" in added.stdout
    doctor = json.loads(run(home, "doctor", "--json").stdout)
    assert doctor["secret_store"] == "env-only"  # no store at all
    checked = run(home, "check", "acme", "--json", DAMKIT_ACME_CLIENT_SECRET=secret)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
    for p in (added, checked):
        assert secret not in p.stdout + p.stderr
    assert secret.encode() not in everything_on_disk(home)
    shown = json.loads(run(home, "connections", "show", "acme", "--json").stdout)
    assert shown["secrets"]["client_secret"].startswith("secret:env:")


def test_1_an_edit_never_copies_an_environment_secret_into_the_store(tmp_path):
    """Case 1, the other way round: a variable overriding a stored secret during an edit is not
    written over the stored one."""
    home = tmp_path / "home"
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS, "DAMKIT_SECRET_STORE": "encrypted"}
    run(home, "connections", "add", "percolate", "acme", "--set", "scope_id=1", "--set",
        "client_id=c", "--set", "tag=T", "--secret", "client_secret", stdin=SECRET + "\n", **env)
    edit = run(home, "connections", "edit", "acme", "--set", "tag=U",
               DAMKIT_ACME_CLIENT_SECRET="from-the-env", **env)
    assert edit.returncode == 0, edit.stderr
    from damkit import open_workspace

    with open_workspace(home, env=env) as ws:
        assert ws.load_settings("acme").client_secret.get_secret_value() == SECRET
        assert ws.connection("acme")["secrets"]["client_secret"].startswith("secret:encrypted:")


def test_2_a_locked_store_says_locked_and_what_to_set(tmp_path):
    """Case 2: the encrypted store holds the secret but no passphrase is given: the message says
    it is locked and how to unlock it, not that the secret is missing."""
    home = tmp_path / "home"
    add = run(home, "connections", "add", "percolate", "acme", "--set", "scope_id=12345",
              "--set", "client_id=c1", "--set", "tag=Gelato", "--secret", "client_secret",
              stdin=SECRET + "\n", DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert add.returncode == 0, add.stderr
    locked = run(home, "check", "acme")
    assert locked.returncode != 0
    assert "locked: set DAMKIT_SECRETS_PASSPHRASE or run on a terminal" in locked.stderr
    assert "DAMKIT_ACME_CLIENT_SECRET is not set" in locked.stderr  # every source tried, named
    assert "again" not in locked.stderr.lower()
    assert SECRET not in locked.stdout + locked.stderr


def test_3_first_command_over_ssh_says_what_to_set(tmp_path, sandbox):
    """Case 3: `connections add-sandbox` with no terminal, no keyring and no passphrase: one
    message naming DAMKIT_SECRETS_PASSPHRASE, and nothing saved."""
    home = tmp_path / "home"
    r = run(home, "connections", "add-sandbox", sandbox.url)
    assert r.returncode == 1
    assert "DAMKIT_SECRETS_PASSPHRASE" in r.stderr and "nothing was saved" in r.stderr
    assert json.loads(run(home, "connections", "list", "--json").stdout) == []
    ok = run(home, "connections", "add-sandbox", sandbox.url, DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("given", ["client_secret", "Client Secret", "client-secret"])
def test_4_a_secret_in_set_is_refused_naming_the_flag(tmp_path, given):
    """Case 4: a secret field in --set (by name or label) is refused, the right flag named, the
    value never repeated, nothing saved."""
    home = tmp_path / "home"
    r = run(home, "connections", "add", "percolate", "acme", "--set", "scope_id=12345",
            "--set", "client_id=c1", "--set", "tag=Gelato", "--set", f"{given}={SECRET}",
            DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert r.returncode == 2
    assert "--secret client_secret" in r.stderr and "DAMKIT_ACME_CLIENT_SECRET" in r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert json.loads(run(home, "connections", "list", "--json").stdout) == []
    edit_home = tmp_path / "edit"
    run(edit_home, "connections", "add", "percolate", "acme", "--set", "scope_id=1", "--set",
        "client_id=c", "--set", "tag=T", "--secret", "client_secret", stdin="x\n",
        DAMKIT_SECRETS_PASSPHRASE=PASS)
    edit = run(edit_home, "connections", "edit", "acme", "--set", f"{given}={SECRET}",
               DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert edit.returncode == 2 and "--secret client_secret" in edit.stderr


# --- output ----------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_5_progress_bar_counts_files_and_shows_bytes_in_units(tmp_path, fresh_sandbox):
    """Case 5: on a terminal the bar counts files (M/N files) and shows bytes in kB/MB, never
    a file count labelled as bytes."""
    sb = fresh_sandbox(assets=40, providers=("percolate",), rate_limit=None)
    home = tmp_path / "home"
    assert run(home, "connections", "add-sandbox", sb.url,
               DAMKIT_SECRETS_PASSPHRASE=PASS).returncode == 0
    eligible = sb.manifest()["providers"]["percolate"]["eligible"]
    code, text = run_pty(home, "sync", "sandbox-percolate", cols=160,
                         DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert code == 0, text[-1500:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert f"{eligible}/{eligible} files" in plain
    assert re.search(r"\d+(\.\d+)? [kM]B\b", plain)
    assert f"{eligible}/{eligible} bytes" not in plain and " bytes/s" not in plain


def test_6_data_commands_print_tables_and_json(tmp_path, fresh_sandbox):
    """Case 6: `library stats` is a table by default and JSON with --json; `connections show`
    is not a Python dict; `connections list` never cuts a name; a dry run lists the files
    (with a count past the limit); a sync without a terminal prints a summary; DAM names cannot
    break a line or reach the terminal as control sequences."""
    sb = fresh_sandbox(assets=80, providers=("percolate",), rate_limit=None)
    tag = sb.manifest()["providers"]["percolate"]["tag"]
    evil = "evil\x1b]0;pwned\x07\x1b[31mred\u202egnp.exe\nFORGED LINE"
    made = httpx.post(f"{sb.url}/_sandbox/percolate/assets",
                      json={"name": evil, "ext": "png", "tags": [tag]}, timeout=10)
    assert made.status_code == 201, made.text
    home = tmp_path / "home"
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS}
    assert run(home, "connections", "add-sandbox", sb.url, **env).returncode == 0
    long_name = "a-very-long-connection-name-that-users-must-type-exactly-0123456"[:63]
    fields = manifest_of(sb, "percolate")
    assert run(home, "connections", "add", "percolate", long_name,
               *sets_of(fields, ("client_secret",)), "--secret", "client_secret",
               stdin=fields["client_secret"] + "\n", **env).returncode == 0

    listed = run(home, "connections", "list", COLUMNS="40", **env)
    assert long_name in listed.stdout and "…" not in listed.stdout

    shown = run(home, "connections", "show", "sandbox-percolate", **env)
    assert shown.returncode == 0 and "{" not in shown.stdout and "'" not in shown.stdout
    assert "Tag for Import: " + tag in shown.stdout

    dry = run(home, "sync", "sandbox-percolate", "--dry-run", **env)
    eligible = sb.manifest()["providers"]["percolate"]["eligible"]
    assert dry.returncode == 0 and f"would download {eligible} file(s)" in dry.stdout
    assert re.search(r"… and \d+ more", dry.stdout)  # summarised past the limit
    dry_json = json.loads(run(home, "sync", "sandbox-percolate", "--dry-run", "--json",
                              **env).stdout)
    assert len(dry_json["planned"]) == eligible
    assert any(f["name"] == evil for f in dry_json["planned"])  # JSON keeps the exact name

    synced = run(home, "sync", "sandbox-percolate", **env)
    assert synced.returncode == 0, synced.stderr
    lines = (synced.stdout + synced.stderr).splitlines()
    assert len(lines) < 8, lines  # a summary, not one line per file (> 40 files)

    listing = run(home, "library", "ls", "--limit", "0", **env)
    both = listing.stdout
    assert "\x1b" not in both and "\x07" not in both and "\u202e" not in both
    assert "FORGED LINE" in both
    assert not any(line.startswith("FORGED LINE") for line in both.splitlines())
    assert "\\x1b]0;pwned\\x07" in both and "\\u202e" in both and "\\nFORGED" in both

    stats = run(home, "library", "stats", **env)
    assert stats.returncode == 0 and "connection" in stats.stdout.splitlines()[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(stats.stdout)
    data = json.loads(run(home, "library", "stats", "--json", **env).stdout)
    assert data["assets"] >= eligible and str(data["assets"]) in stats.stdout


def test_6_sync_json_says_when_the_error_list_is_cut(tmp_path, fresh_sandbox):
    """Case 6, last part: more failures than the report keeps: `errors_truncated` and the
    total say so."""
    sb = fresh_sandbox(assets=300, providers=("percolate",), rate_limit=None)
    sb.set_faults("percolate", fault_rate=1.0, fault_statuses=[400], match="download|_files")
    home = tmp_path / "home"
    assert run(home, "connections", "add-sandbox", sb.url,
               DAMKIT_SECRETS_PASSPHRASE=PASS).returncode == 0
    r = run(home, "sync", "sandbox-percolate", "--json", timeout=240,
            DAMKIT_SECRETS_PASSPHRASE=PASS)
    report = json.loads(r.stdout)
    assert r.returncode == 1 and report["failed"] > len(report["errors"])
    assert report["errors_truncated"] is True and report["errors_total"] == report["failed"]
    text = run(home, "sync", "sandbox-percolate", timeout=240, DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert re.search(r"… and \d+ more failed file", text.stdout)


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_7_events_request_is_never_hard_wrapped(tmp_path, sandbox):
    """Case 7: on a 40-column terminal the e-mail keeps its lines as written."""
    home = tmp_path / "home"
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS}
    run(home, "connections", "add-sandbox", sandbox.url, **env)
    run(home, "config", "set", "public_url", "https://dam.example.com", **env)
    expected = run(home, "events", "request", "sandbox-bynder", "--json", **env)
    text = json.loads(expected.stdout)["request"]
    code, shown = run_pty(home, "events", "request", "sandbox-bynder", cols=40, **env)
    assert code == 0, shown
    shown_lines = [line.rstrip() for line in shown.replace("\r\n", "\n").splitlines()]
    long_lines = [line for line in text.splitlines() if len(line) > 40]
    assert long_lines and all(line in shown_lines for line in long_lines)


def test_8_demo_suggests_the_real_path_and_a_quiet_audit(tmp_path):
    """Case 8: after the demo, the suggested commands name the executable that ran, and the
    suggested audit prints no warning about the demo's secrets file."""
    home = tmp_path / "home"
    r = run(home, "--home", str(home), "demo", "--assets", "20", timeout=180)
    assert r.returncode == 0, r.stderr[-1000:]
    audit = next(line for line in r.stdout.splitlines() if line.startswith("audit: "))
    argv = shlex.split(audit.removeprefix("audit: "))
    assert argv[0] in (DAMKIT, os.path.relpath(DAMKIT)), audit
    suggested = [line.split(": ", 1)[1] for line in r.stdout.splitlines() if ": " in line]
    assert suggested and not any(s.startswith("damkit ") for s in suggested)
    again = subprocess.run([DAMKIT, *argv[1:]], capture_output=True, text=True,
                           env=base_env(home), timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stderr == "" and "secrets.json" not in again.stdout


def test_9_adding_a_canto_connection_says_log_in_next_with_the_redirect_url(tmp_path):
    """Case 9: a provider whose spec declares a browser login: the next step is the login, and
    the Redirect URL to register on the API key is printed."""
    home = tmp_path / "home"
    r = run(home, "connections", "add", "canto", "acme", "--set", "domain=acme.canto.com",
            "--set", "app_id=a1", "--set", "keyword=Gelato", "--secret", "app_secret",
            stdin=SECRET + "\n", DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert r.returncode == 0, r.stderr
    nxt = next(line for line in r.stdout.splitlines() if line.startswith("next: "))
    assert " auth acme" in nxt
    assert "Redirect URL" in r.stdout and "http://127.0.0.1:8976/canto/callback" in r.stdout
    percolate = run(home, "connections", "add", "percolate", "p", "--set", "scope_id=1",
                    "--set", "client_id=c", "--set", "tag=T", "--secret", "client_secret",
                    stdin="x\n", DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert " check p" in percolate.stdout and "Redirect" not in percolate.stdout


# --- bad input and faults --------------------------------------------------------------------


BAD_HOSTS = ["acme.bynder.com\nx", "acme.bynder.com\r", "a..b.com", "-acme.bynder.com",
             "acme-.bynder.com", "acme.bynder.com.", "a" * 5000 + ".com", "x" * 64 + ".com",
             "acme.bynder.com:0", "acme\u200b.bynder.com", "acme.bynder.com\u202e"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_10_bad_hosts_are_refused_by_every_provider(host):
    """Case 10 (the rules): RFC 1123 after IDNA encoding; no control character; port 0 said."""
    from damkit.providers import settings_model

    for provider, field in (("bynder", "domain"), ("canto", "domain"),
                            ("percolate", "api_url")):
        message = settings_model(provider).check_field(field, host)
        assert message, (provider, host)
    if host.endswith(":0"):
        assert "port 0" in (settings_model("bynder").check_field("domain", host) or "")


def test_10_a_domain_with_a_newline_is_refused_on_the_command_line(tmp_path):
    """Case 10: `acme.bynder.com\\nx` is refused (it used to be saved as acme.bynder.comx)."""
    home = tmp_path / "home"
    r = run(home, "connections", "add", "bynder", "acme", "--set", "domain=acme.bynder.com\nx",
            "--set", "tag=T", "--secret", "consumer_key", "--secret", "consumer_secret",
            "--secret", "token_key", "--secret", "token_secret", stdin="a\nb\nc\nd\n",
            DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert r.returncode == 2 and "Bynder Domain" in r.stderr and "\\n" in r.stderr
    assert json.loads(run(home, "connections", "list", "--json").stdout) == []
    good = run(home, "connections", "add", "bynder", "acme", "--set", "domain=Bücher.Bynder.com",
               "--set", "tag=T", "--secret", "consumer_key", "--secret", "consumer_secret",
               "--secret", "token_key", "--secret", "token_secret", "--json",
               stdin="a\nb\nc\nd\n", DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["settings"]["domain"] == "https://xn--bcher-kva.bynder.com"


@pytest.mark.parametrize(("provider", "field", "value"), [
    ("bynder", "tag", "Gel\u200bato"), ("bynder", "tag", "Gelato\u202e"),
    ("bynder", "tag", "Gel\rato"), ("bynder", "tag", "x" * 100_000), ("bynder", "tag", "a,b"),
    ("percolate", "tag", "a,b"), ("percolate", "tag", "\u2066Gelato"),
    ("canto", "keyword", "Gel\u200dato"), ("canto", "keyword", "k" * 300),
    ("percolate", "scope_id", "\u0661\u0662\u0663"), ("percolate", "scope_id", "１２３"),
    ("percolate", "scope_id", "license:\u0661\u0662"), ("percolate", "client_id", "c\u200b1"),
    ("bynder", "backlink_label", "Gelato\x1b[31m URL"),
])
def test_11_invisible_characters_long_tags_commas_and_non_ascii_ids(provider, field, value):
    """Case 11: such values never match what the DAM shows: refused with a reason."""
    from damkit.providers import settings_model

    message = settings_model(provider).check_field(field, value)
    assert message, (provider, field, value)
    assert value not in message or len(value) < 20


def test_11_good_values_still_pass():
    from damkit.providers import settings_model

    assert settings_model("percolate").check_field("scope_id", "license:12345") is None
    assert settings_model("canto").check_field("keyword", "Été 2024 — poster") is None
    assert settings_model("bynder").check_field("tag", "Summer Sale") is None
    assert settings_model("bynder").check_field("domain", "127.0.0.1:8765/bynder") is None


def _fill(path: Path) -> None:
    """Fill the file system holding ``path`` until it refuses (ENOSPC), down to its last block."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.fixture(params=["tmpfs", "simulated"])
def full_disk(request, tmp_path):
    """A small tmpfs mount to fill (root on Linux; skipped elsewhere), and ENOSPC simulated for
    every write under the workspace by a ``sitecustomize`` in the subprocesses (what runs on any
    machine: a real mount needs privileges)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = False
    if request.param == "tmpfs":
        if not (sys.platform.startswith("linux") and os.geteuid() == 0):
            pytest.skip("mounting a tmpfs needs root on Linux; the simulated case runs instead")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                           capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr!r}")
        mounted = True
    yield mount, mounted
    if mounted:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


SIMULATE_ENOSPC = '''
import builtins, errno, os
_root = os.environ["DAMKIT_FULL_DISK"]
_open, _os_open = builtins.open, os.open
def _refuse(path):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))
def _inside(path):
    try:
        return os.path.abspath(os.fspath(path)).startswith(_root)
    except TypeError:
        return False
def open(file, mode="r", *a, **k):
    if _inside(file) and any(c in mode for c in "wax+"):
        _refuse(file)
    return _open(file, mode, *a, **k)
def os_open(path, flags, *a, **k):
    if _inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and \\
            not str(path).endswith(".lock"):
        _refuse(path)
    return _os_open(path, flags, *a, **k)
builtins.open, os.open = open, os_open
'''


def test_12_every_command_on_a_full_disk(tmp_path, full_disk, fresh_sandbox):
    """Case 12: with the disk full, read-only commands work (the backup on open is skipped) and
    every other one fails with one message naming the full disk, never a traceback."""
    mount, mounted = full_disk
    sb = fresh_sandbox(assets=20, providers=("percolate",), rate_limit=None)
    home = mount / "home"
    env: dict[str, str] = {"DAMKIT_SECRETS_PASSPHRASE": PASS, "DAMKIT_SECRET_STORE": "encrypted"}
    assert run(home, "connections", "add-sandbox", sb.url, **env).returncode == 0
    assert run(home, "sync", "sandbox-percolate", **env).returncode == 0
    run(home, "connections", "edit", "sandbox-percolate", "--set", "tag=Gelato", **env)
    # the edit made a new commit: the next open would back it up, and the disk is now full
    if mounted:
        _fill(mount / "fill")
    else:
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SIMULATE_ENOSPC)
        env.update(PYTHONPATH=str(site), DAMKIT_FULL_DISK=str(home))
    read_only = [
        ("connections", "list"), ("connections", "list", "--json"),
        ("connections", "show", "sandbox-percolate"), ("library", "stats"),
        ("library", "stats", "--json"), ("library", "ls"), ("library", "audit", "--offline"),
        ("doctor",), ("doctor", "--json"), ("config", "show"), ("providers", "list"),
        ("providers", "show", "canto"), ("version",),
    ]
    for args in read_only:
        r = run(home, *args, **env)
        assert r.returncode in (0, 1), (args, r.stderr)  # audit: 1 = differences found
        assert "error:" not in r.stderr, (args, r.stderr)
    writing = [
        ("connections", "edit", "sandbox-percolate", "--set", "tag=Other"),
        ("connections", "add", "percolate", "new", "--set", "scope_id=1", "--set",
         "client_id=c", "--set", "tag=T", "--secret", "client_secret"),
        ("connections", "remove", "sandbox-percolate"),
        ("config", "set", "public_url", "https://dam.example.com"),
        ("sync", "sandbox-percolate"), ("sync", "sandbox-percolate", "--json"),
        ("check", "sandbox-percolate"), ("library", "restore"),
        ("connections", "add-sandbox", sb.url),
    ]
    refused_anyway = [  # wrong for this connection whatever the disk: still one clean message
        ("auth", "sandbox-percolate"), ("events", "request", "sandbox-percolate"),
        ("events", "serve", "--port", "1"), ("sandbox", "compare", str(tmp_path / "x.har")),
    ]
    for args in refused_anyway:
        r = run(home, *args, **env)
        assert r.returncode in (1, 2) and r.stderr.startswith(("error:", "index: ")), (args, r)
    for args in writing:
        r = run(home, *args, stdin="x\n", **env)
        if args[:2] == ("connections", "edit"):
            assert r.returncode == 1, r.stdout + r.stderr  # the disk is full indeed
        if r.returncode != 0:
            text = r.stdout + r.stderr
            assert "full" in text or "ENOSPC" in text or "No space" in text, (args, text[-800:])
    final = run(home, "connections", "list", "--json", **env)
    listed = json.loads(final.stdout)
    assert isinstance(listed, list), final.stdout + final.stderr
    assert [c["name"] for c in listed] == ["sandbox-percolate"]  # nothing half-saved or lost


def test_13_add_sandbox_with_a_failing_consent_page_saves_nothing(tmp_path, fresh_sandbox):
    """Case 13: the sandbox's Canto consent answers 5xx: a clean message, nothing saved."""
    sb = fresh_sandbox(assets=20, rate_limit=None)
    sb.set_faults("canto", fault_rate=1.0, match="authorize")
    home = tmp_path / "home"
    r = run(home, "connections", "add-sandbox", sb.url, DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert r.returncode == 1 and "login failed" in r.stderr and "hint:" in r.stderr
    assert json.loads(run(home, "connections", "list", "--json",
                          DAMKIT_SECRETS_PASSPHRASE=PASS).stdout) == []


def test_13_a_second_events_serve_prints_only_the_clean_message(tmp_path):
    """Case 13: one consumer per workspace; the second says so, with no uvicorn traceback."""
    home = tmp_path / "home"
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS}
    run(home, "config", "set", "sns_topics", "arn:aws:sns:eu-west-1:123456789012:bynder-acme",
        **env)
    from damkit.sandbox.server import free_port

    first = subprocess.Popen([DAMKIT, "events", "serve", "--port", str(free_port("127.0.0.1"))],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=base_env(home, **env))
    try:
        assert first.stdout is not None
        deadline = time.monotonic() + 60
        seen = ""
        while "startup complete" not in seen and time.monotonic() < deadline:
            seen += first.stdout.readline()
        assert "startup complete" in seen, seen
        second = run(home, "events", "serve", "--port", str(free_port("127.0.0.1")), **env)
        assert second.returncode == 1
        assert "another event consumer is running" in second.stderr
        assert "ERROR" not in second.stderr and "lifespan" not in second.stderr.lower()
        assert len(second.stderr.strip().splitlines()) <= 2  # the message and its hint
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_14_a_sync_with_no_tagged_file_fails_unless_allowed(tmp_path, fresh_sandbox):
    """Case 14: like `check`, a sync that finds no tagged file exits 1 (`--allow-empty`: 0)."""
    sb = fresh_sandbox(assets=20, providers=("percolate",), rate_limit=None)
    home = tmp_path / "home"
    env = {"DAMKIT_SECRETS_PASSPHRASE": PASS}
    run(home, "connections", "add-sandbox", sb.url, **env)
    run(home, "connections", "edit", "sandbox-percolate", "--set", "tag=NoFileHasThis", **env)
    empty = run(home, "sync", "sandbox-percolate", **env)
    assert empty.returncode == 1 and "--allow-empty" in empty.stderr
    assert "NoFileHasThis" in empty.stderr
    as_json = json.loads(run(home, "sync", "sandbox-percolate", "--json", **env).stdout)
    assert as_json["ok"] is False and "--allow-empty" in as_json["hint"]
    allowed = run(home, "sync", "sandbox-percolate", "--allow-empty", **env)
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize("path", ["/bynder/_sns/../../admin", "/bynder/_sns/..", "/bynder/_sns/./x",
                                  "/bynder/_sns/%2e%2e/admin", "/bynder/_sns/%2E./admin",
                                  "/bynder/_sns/.%2e/admin", "/bynder/_sns/%252e%252e/admin"])
def test_15_subscribe_url_cannot_leave_the_trusted_prefix(path):
    """Case 15: `..` (or its percent-encoded forms) in a SubscribeURL never escapes the prefix."""
    from damkit.events.verify import TrustedHost, VerificationError, check_subscribe_url

    anchor = TrustedHost.parse("http://127.0.0.1:8765/bynder/_sns")
    topic = "arn:aws:sns:us-east-1:123456789012:bynder-acme"
    check_subscribe_url("http://127.0.0.1:8765/bynder/_sns/confirm?Token=1", topic, anchor)
    with pytest.raises(VerificationError):
        check_subscribe_url(f"http://127.0.0.1:8765{path}?Token=1", topic, anchor)


# --- no traceback, for any input -------------------------------------------------------------


BAD_INPUTS: list[tuple[str, ...]] = [
    ("connections", "show", "nope"), ("connections", "show", "../../etc"),
    ("connections", "add", "percolate", "Bad Name!"), ("connections", "add", "nope", "x"),
    ("connections", "add", "percolate", "x", "--set", "novalue"),
    ("connections", "add", "percolate", "x", "--set", "unknown=1"),
    ("connections", "add", "percolate", "x", "--secret", "nosuchfield"),
    ("connections", "add", "percolate", "x", "--set", "scope_id=\u0661"),
    ("connections", "add-sandbox", "http://127.0.0.1:9"), ("connections", "add-sandbox", "::"),
    ("connections", "add-sandbox", "not a url"), ("connections", "edit", "nope"),
    ("connections", "remove", "nope"), ("check", "nope"), ("check", "nope", "--json"),
    ("sync", "nope"), ("sync", "nope", "--json"), ("auth", "nope"),
    ("library", "show", "x", "y"), ("library", "ls", "--limit", "x"),
    ("library", "audit", "--offline", "--show", "weird"), ("library", "restore"),
    ("config", "set", "nope", "1"), ("config", "set", "public_url", "ftp://x"),
    ("config", "set", "sns_topics", "not-an-arn"), ("events", "request", "nope"),
    ("providers", "show", "nope"), ("sandbox", "compare"), ("sandbox", "compare", "/nope.har"),
    ("sandbox", "--host", "8.8.8.8"), ("--home", "/proc/1/nope", "connections", "list"),
]


@pytest.mark.parametrize("args", BAD_INPUTS, ids=lambda a: " ".join(a)[:40])
def test_no_traceback_for_bad_input(tmp_path, args):
    """Any input: a message (with a hint where there is a fix) and exit 1 or 2, no traceback."""
    r = run(tmp_path / "home", *args, stdin="x\n", timeout=60, DAMKIT_SECRETS_PASSPHRASE=PASS)
    assert r.returncode in (1, 2), (args, r.returncode, r.stdout[-300:], r.stderr[-300:])
    assert r.stderr.strip() or r.stdout.strip()
