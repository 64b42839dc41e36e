"""The setup guide on the command line: `damkit providers list/show`, and `damkit connections add`
walking the guide on a real terminal (a pseudo-terminal), against the sandbox over real HTTP."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from damkit.sandbox import Sandbox

SECRET_ENV = {"DAMKIT_SECRET_STORE": "encrypted", "DAMKIT_SECRETS_PASSPHRASE": "guide-test-pass"}


def damkit(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAMKIT_HOME": str(home), **SECRET_ENV}
    return subprocess.run([sys.executable, "-m", "damkit", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def test_providers_list_and_show_json(tmp_path: Path) -> None:
    listed = json.loads(damkit(tmp_path, "providers", "list", "--json").stdout)
    assert {p["name"] for p in listed} >= {"bynder", "canto", "percolate"}
    canto = next(p for p in listed if p["name"] == "canto")
    assert canto["capabilities"]["browser_login"] is True
    assert canto["capabilities"]["tag_noun"] == "keyword"

    shown = damkit(tmp_path, "providers", "show", "canto", "--json")
    assert shown.returncode == 0, shown.stderr
    guide = json.loads(shown.stdout)
    actions = [s["action"] for s in guide["steps"] if s["action"]]
    # a login needs the saved connection: Save comes before Authenticate
    assert actions.index("save") < actions.index("auth") < actions.index("check")
    fields = [f["name"] for s in guide["steps"] for f in s["fields"]]
    assert sorted(fields) == sorted(["app_id", "app_secret", "keyword", "domain"])
    secret = next(f for s in guide["steps"] for f in s["fields"] if f["name"] == "app_secret")
    assert secret["secret"] is True and secret["default"] is None

    human = damkit(tmp_path, "providers", "show", "percolate")
    assert human.returncode == 0
    assert "1. Add the DAM provider" in human.stdout and "Client Secret" in human.stdout
    assert "→ action: Test Connection" in human.stdout


def test_providers_show_unknown_names_the_known_ones(tmp_path: Path) -> None:
    r = damkit(tmp_path, "providers", "show", "nuxeo")
    assert r.returncode == 2
    assert "unknown provider 'nuxeo'" in r.stderr and "percolate" in r.stderr


def test_add_without_a_terminal_never_prompts(tmp_path: Path) -> None:
    """No terminal and no --set: the save is refused at once, naming a missing field."""
    r = damkit(tmp_path / "home", "connections", "add", "percolate", "acme")
    assert r.returncode == 2
    assert "is required" in r.stderr and "Scope ID" in r.stderr
    assert "Step" not in r.stdout and "*" not in r.stdout


class Terminal:
    """A damkit process on a pseudo-terminal: read its screen, type answers."""

    def __init__(self, home: Path, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "DAMKIT_HOME": str(home), "COLUMNS": "200", "TERM": "dumb",
               **SECRET_ENV}
        # a new session: no controlling terminal, so hidden input reads this pty, not the tests'
        self.proc = subprocess.Popen([sys.executable, "-m", "damkit", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.screen = ""

    def expect(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout  # a guard against a hang, not a speed assertion
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; screen:\n{self.screen[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"exited before {text!r}; screen:\n{self.screen[-2000:]}")
                self.screen += chunk.decode(errors="replace").replace("\r\n", "\n")
        return self.screen

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> int:
        try:
            code = self.proc.wait(timeout=60)
        finally:
            try:
                while True:
                    ready, _, _ = select.select([self.master], [], [], 0.2)
                    if not ready:
                        break
                    chunk = os.read(self.master, 65536)
                    if not chunk:
                        break
                    self.screen += chunk.decode(errors="replace").replace("\r\n", "\n")
            except OSError:
                pass
            os.close(self.master)
        return code


def test_add_on_a_terminal_walks_the_guide(sandbox: Sandbox, tmp_path: Path) -> None:
    """Each step's text, each field asked (the secret hidden), a refused value asked again, the
    connection saved at the guide's Save step, and Test Connection run when accepted."""
    m = sandbox.manifest()["providers"]["percolate"]
    home = tmp_path / "home"
    term = Terminal(home, "connections", "add", "percolate", "acme")
    term.expect("1. Add the DAM provider")
    term.expect("Scope ID *")
    term.type("")  # required: asked again
    term.expect("is required")
    term.type(str(m["scope_id"]))
    term.expect("Client ID *")
    term.type(str(m["client_id"]))
    term.expect("Client Secret *")
    term.type(str(m["client_secret"]))
    term.expect("Tag for Import *")
    term.type(" Gelato")  # a leading space is refused, with the trimmed spelling suggested
    term.expect("did you mean 'Gelato'")
    term.type(str(m["tag"]))
    term.expect("Change the advanced settings")
    term.type("y")
    term.expect("Find tags above the license [Y/n]")
    term.type("")  # the default
    term.expect("API base URL [")
    term.type(str(m["api_url"]))
    term.expect("saved acme")
    term.expect("Test Connection now?")
    term.type("")  # default: yes
    term.expect("Connection OK")
    term.expect("Sync now?")
    term.type("")  # default: no
    term.expect("added acme")
    assert term.close() == 0
    assert str(m["client_secret"]) not in term.screen  # typed hidden, never echoed
    shown = json.loads(damkit(home, "connections", "show", "acme", "--json").stdout)
    assert shown["settings"]["tag"] == m["tag"]
    assert shown["settings"]["client_secret"] == "********"
    assert shown["last_check"]["ok"] is True


def test_walk_asks_again_when_fields_that_go_together_are_missing(sandbox: Sandbox,
                                                                  tmp_path: Path) -> None:
    """Bynder's keys are optional one by one (alternatives exist) but go together: a skipped key
    is asked again on save. The walk's input and output are functions, so this runs in-process."""
    from damkit.cli.guide import walk
    from damkit.workspace import open_workspace

    m = sandbox.manifest()["providers"]["bynder"]
    answers = {"Bynder Domain": m["domain"], "Tag": m["tag"], "Enable backlink": "n",
               "Backlink metaproperty label": "", "Authentication": "oauth1",
               "OAuth 2 client ID": "", "Consumer key": m["consumer_key"],
               "Consumer secret": m["consumer_secret"], "Token key": m["token_key"]}
    secrets_asked: list[str] = []
    shown: list[str] = []
    actions: list[str] = []

    def ask(prompt: str) -> str:
        label = prompt.strip().split(" *")[0].split(" [")[0].split(" (")[0].rstrip(":? ")
        if prompt.rstrip().endswith(("[Y/n]", "[y/N]")) and label not in answers:
            return ""  # the default
        return str(answers[label])

    def ask_secret(prompt: str) -> str:
        label = prompt.strip().split(" *")[0].rstrip(": ")
        secrets_asked.append(label)
        if label == "Token secret" and secrets_asked.count(label) == 1:
            return ""  # skipped the first time
        if label in ("Permanent token", "OAuth 2 client secret"):
            return ""  # the other ways in: not used here
        return str(m[{"Consumer key": "consumer_key", "Consumer secret": "consumer_secret",
                      "Token key": "token_key", "Token secret": "token_secret"}[label]])

    ws = open_workspace(tmp_path / "ws", env={"DAMKIT_SECRET_STORE": "plaintext"})
    doc = walk(ws, "bynder", "acme", ask=ask, ask_secret=ask_secret, echo=shown.append,
               actions={"check": lambda: actions.append("check"),
                        "sync": lambda: actions.append("sync")})
    assert doc["provider"] == "bynder" and doc["settings"]["tag"] == m["tag"]
    assert secrets_asked.count("Token secret") == 2
    assert any("not saved" in line and "Token secret" in line for line in shown)
    assert actions == ["check"]  # Test Connection offered with yes, Sync with no
    assert ws.secrets.get("acme", "token_secret") == m["token_secret"]
    ws.close()
