"""Packaging: every package is listed, the console installs as ``damkit_tui``, never ``tui``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for name, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(base).parts
            found.add(".".join((name, *rel)))
    assert found == listed, f"not listed: {sorted(found - listed)}; listed but absent: {sorted(listed - found)}"


def test_the_console_is_not_installed_as_tui(tmp_path):
    # Run outside the checkout, so that only installed packages can be imported.
    r = subprocess.run([sys.executable, "-c", "import damkit_tui, damkit; print(damkit_tui.run.__name__)\n"
                        "try:\n    import tui\nexcept ImportError:\n    print('no tui')\n"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr[-500:]
    assert r.stdout.split() == ["run", "no", "tui"]
