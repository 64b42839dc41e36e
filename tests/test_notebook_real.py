"""Both notebooks in "real connection" mode: the one cell they name changed (``SANDBOX =
False``), against a workspace set up as a real one would be (the encrypted secret store, the
passphrase given the documented way, ``DAMKIT_SECRETS_PASSPHRASE``), whose connection points at
a sandbox on loopback. They run top to bottom headless, and nothing secret reaches an output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_notebook_exec import NOTEBOOKS, outputs_text, venv_kernel  # noqa: F401  (fixture)

from damkit.sandbox import Sandbox
from damkit.workspace import open_workspace

from notebook_support import leaks, manifest_secrets

pytestmark = pytest.mark.timeout(240)

PASSPHRASE = "notebook-real-passphrase-8812"


@pytest.fixture
def real_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              venv_kernel: Path,  # noqa: F811
              ) -> Iterator[tuple[Path, dict[str, str]]]:
    """``$DAMKIT_HOME`` with an encrypted store and the connection the notebooks name
    (``acme-bynder``), pointed at a fresh sandbox."""
    home = tmp_path / "home"
    env = {"DAMKIT_SECRET_STORE": "encrypted", "DAMKIT_SECRETS_PASSPHRASE": PASSPHRASE}
    with Sandbox(assets=60) as sb:
        manifest = sb.manifest()
        values = {k: v for k, v in manifest["providers"]["bynder"].items() if k != "eligible"}
        with open_workspace(home, env=env) as ws:
            ws.add_connection("bynder", "acme-bynder", values)
        assert (home / "secrets.enc").exists()  # the encrypted store, as on a real machine
        for key, value in {**env, "DAMKIT_HOME": str(home)}.items():
            monkeypatch.setenv(key, value)
        yield home, manifest_secrets(manifest)


def real_mode(name: str) -> nbformat.NotebookNode:
    """The notebook with only its named cell changed: ``SANDBOX = False``."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "SANDBOX = True" in c.source]
    assert len(cells) == 1  # the one cell the notebook names
    cells[0].source = cells[0].source.replace("SANDBOX = True", "SANDBOX = False", 1)
    return nb


@pytest.mark.parametrize("name", ["01-connect-and-check.ipynb", "02-audit-tagged-assets.ipynb"])
def test_real_connection_mode(name: str, real_home: tuple[Path, dict[str, str]],
                              venv_kernel: Path) -> None:  # noqa: F811
    home, secrets = real_home
    nb = real_mode(name)
    NotebookClient(nb, kernel_name="python3", timeout=180, allow_errors=False,
                   store_widget_state=True,
                   resources={"metadata": {"path": str(venv_kernel)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors == []
    plain = "\n".join(o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
                      for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "acme-bynder" in plain
    assert "PassphraseBox" not in plain  # the passphrase came from the environment
    if name.startswith("01"):
        assert "ok=True  eligible=42" in plain
        assert "ok: 42 file(s) in the library, 0 failed" in plain
        assert len(list((home / "DAM Import" / "acme-bynder").rglob("*.*"))) >= 42
    assert leaks(outputs_text(nb), {**secrets, "passphrase": PASSPHRASE}) == []
