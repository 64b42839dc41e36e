"""The notebooks in notebooks/ run top to bottom, headless, on the venv's own kernel, against the
sandbox they start; no secret reaches an output or the saved widget state; stored clean."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from notebook_support import leaks, seeded_secrets, store_secrets

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["01-connect-and-check.ipynb", "02-audit-tagged-assets.ipynb"]


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "change only the next cell" in text  # says which cell to change for a real DAM


@pytest.fixture
def venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `python3` kernelspec that runs this interpreter (the venv's), found first; private
    runtime and IPython dirs so that parallel workers never share a file."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (damkit venv)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))  # the notebook's workspace lands here
    return work


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """Every output and the notebook's metadata (the saved widget state) as one text."""
    parts = [json.dumps(nb.metadata, default=str)]
    for cell in nb.cells:
        if cell.cell_type == "code":
            parts.append(json.dumps(cell.outputs, default=str))
            parts.append(json.dumps(cell.get("metadata", {}), default=str))
    return "\n".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_against_the_sandbox(name: str, venv_kernel: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
    client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=False,
                            store_widget_state=True,
                            resources={"metadata": {"path": str(venv_kernel)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors == []
    # print() writes its parts one by one, and the kernel may send them as several stream outputs
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert printed.strip() == f"KERNEL {sys.executable}"  # the venv's
    text = outputs_text(nb)

    secrets = seeded_secrets()
    assert len(secrets) >= 7  # bynder's five, canto's, percolate's
    stores = list(venv_kernel.glob("damkit-notebook-*/workspace/secrets.json"))
    assert len(stores) == 1  # the notebook's own workspace, in our TMPDIR
    stored = store_secrets(stores[0])
    # the notebook's sandbox served the seeded secrets (same seed, any port)
    assert stored["sandbox-percolate.client_secret"] == secrets["percolate.client_secret"]
    assert stored["sandbox-bynder.token_secret"] == secrets["bynder.token_secret"]
    secrets.update(stored)  # with Canto's access and refresh tokens
    assert any(k.endswith("access_token") for k in secrets)
    assert leaks(text, secrets) == []
    assert leaks(nbformat.writes(nb), secrets) == []

    plain = "\n".join(o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
                      for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if name.startswith("01"):
        assert "ok=True  eligible=42" in plain
        assert "ok: 42 file(s) in the library, 0 failed" in plain
        assert "widgets" in nb.metadata  # the widgets' state was stored ...
        state = json.dumps(nb.metadata["widgets"])
        assert '"PasswordModel"' in state  # ... password inputs included, all of them empty
        for model in nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"][
                "state"].values():
            if model["model_name"] == "PasswordModel":
                assert model["state"].get("value", "") == ""
    else:
        assert "'library stats: assets': 127" in plain
        assert "'audit: rows in the library': 127" in plain
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if "image/png" in o.get("data", {})]
        assert len(images) == 1


def test_buttons_run_on_the_kernel_loop_without_blocking(venv_kernel: Path) -> None:
    """In a real kernel: a click returns at once with a task on the kernel's loop; the next
    cell runs while the sync goes on, and can await it."""
    cells = [
        "import asyncio, damkit.notebook as dn\n"
        "from damkit.sandbox import Sandbox\n"
        "sb = Sandbox(assets=60, providers=('percolate',),"
        " faults={'percolate': {'latency_ms': 20}}).start()\n"
        "ws = await dn.sandbox_workspace(sb)\n"
        "panel = dn.SyncPanel(ws, 'sandbox-percolate', rate=200, concurrency=2)\n"
        "form = dn.ConnectionForm(ws, connection='sandbox-percolate')",
        "panel.sync_button.click(); form.test_button.click()\n"
        "print('RUNNING', panel.task is not None and not panel.task.done(),"
        " panel.sync_button.disabled, asyncio.get_running_loop() is panel.task.get_loop())",
        "print('MEANWHILE', panel.bar.max, sorted(panel.events))",
        "report = await panel.task; check = await form.task\n"
        "print('DONE', report.status, report.downloaded, check.ok, panel.bar.value)\n"
        "sb.stop()",
    ]
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3",
                                                           "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, kernel_name="python3", timeout=60,
                   resources={"metadata": {"path": str(venv_kernel)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.outputs
                      if o.output_type == "stream" and o.name == "stdout")
    assert "RUNNING True True True" in printed
    assert "MEANWHILE" in printed
    assert "DONE ok 42 True 42" in printed
