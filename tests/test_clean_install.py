"""A clean install: build damkit's wheel, install it with its declared dependencies into a fresh
virtual environment, and use it there as a new user would.

This proves what the editable checkout cannot: that the wheel holds every package (the console as
``damkit_tui``, never ``tui``), that the declared dependencies are enough to run ``damkit check``
against the sandbox, and that ``damkit --help`` loads no console or notebook library.

The fresh environment gets its packages from the package index through pip's cache (the same
index ``make test`` installs from); nothing is shared with the test environment, and the damkit
code comes only from the wheel. About 30 s: a wheel build (~7 s) and an install (~20 s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

#: The console and the notebook libraries: `damkit --help` must load none of them.
NOT_FOR_HELP = {"textual", "ipywidgets", "pandas", "matplotlib", "damkit_tui"}


class Env:
    """The fresh virtual environment and a scratch folder outside the checkout to run in."""

    def __init__(self, venv: Path, work: Path) -> None:
        self.venv = venv
        self.work = work  # cwd: no checkout folder (tui/, damkit/) can shadow the installed ones
        self.python = venv / "bin" / "python"
        self.damkit = venv / "bin" / "damkit"
        self.env = {
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(work),
            "DAMKIT_HOME": str(work / "home"),
            # Headless: no keyring here; the encrypted file store with its passphrase from the
            # environment, as on a server.
            "DAMKIT_SECRET_STORE": "encrypted",
            "DAMKIT_SECRETS_PASSPHRASE": "clean-install-passphrase",
            "LANG": "C.UTF-8",
        }

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                              cwd=self.work, env=self.env, timeout=timeout, stdin=subprocess.DEVNULL)


def copy_sources(dest: Path) -> Path:
    """The files a wheel is built from, copied so that the build leaves nothing in the checkout."""
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("damkit", "tui"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("clean-install")
    src = copy_sources(base / "src")
    dist = base / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "--wheel-dir", str(dist), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    assert "deprecat" not in build.stderr.lower(), build.stderr[-3000:]  # e.g. the licence banner
    (wheel,) = dist.glob("damkit-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    # The test environment's pip installs into the fresh one (`--python`), from the index.
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                              "install", "--quiet", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    work = base / "work"
    work.mkdir()
    yield Env(venv, work)


def test_the_wheel_is_what_runs(clean: Env) -> None:
    r = clean.run(clean.python, "-c", "import damkit, damkit_tui; print(damkit.__file__); "
                  "print(damkit_tui.__file__); print(damkit.__version__)")
    assert r.returncode == 0, r.stderr[-2000:]
    damkit_file, tui_file, version = r.stdout.split()
    site = str(clean.venv)
    assert damkit_file.startswith(site) and tui_file.startswith(site), r.stdout
    assert not damkit_file.startswith(str(ROOT))
    from damkit import __version__

    assert version == __version__


def test_import_tui_fails(clean: Env) -> None:
    r = clean.run(clean.python, "-c", "import tui")
    assert r.returncode != 0
    assert "ModuleNotFoundError: No module named 'tui'" in r.stderr


def test_damkit_help_works_and_loads_no_console_or_notebook(clean: Env) -> None:
    r = clean.run(clean.damkit, "--help")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Usage" in r.stdout and "check" in r.stdout
    # The real entry point under -X importtime: every module it imported is listed on stderr.
    timed = clean.run(clean.python, "-X", "importtime", clean.damkit, "--help")
    assert timed.returncode == 0, timed.stderr[-2000:]
    loaded = {m.group(1).strip().split(".")[0]
              for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \| (.+)$", timed.stderr, re.M)}
    assert "typer" in loaded and "damkit" in loaded  # the parse found the command line's imports
    assert not loaded & NOT_FOR_HELP, sorted(loaded & NOT_FOR_HELP)


def test_damkit_check_against_the_sandbox(clean: Env) -> None:
    server = subprocess.Popen([str(clean.damkit), "sandbox"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=clean.work, env=clean.env)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # "damkit sandbox on http://127.0.0.1:PORT"
        match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
        assert match, first + (server.stderr.read() if server.poll() is not None else "")
        url = match.group(1)
        deadline = time.monotonic() + 60  # a guard against a hang, not a speed figure
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/manifest", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the sandbox never answered"
            time.sleep(0.1)

        added = clean.run(clean.damkit, "connections", "add-sandbox", url, "--json")
        assert added.returncode == 0, added.stdout[-1000:] + added.stderr[-2000:]
        names = json.loads(added.stdout)["added"]
        assert "sandbox-percolate" in names
        for name in names:
            r = clean.run(clean.damkit, "check", name, "--json")
            assert r.returncode == 0, (name, r.stdout[-2000:], r.stderr[-2000:])
            report = json.loads(r.stdout)
            assert report["ok"] is True, report
            assert report["eligible"] > 0, report
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
