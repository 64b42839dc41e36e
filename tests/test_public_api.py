"""The public API: ``damkit.__all__`` is a curated list, and importing damkit stays light.

Each import check runs in a fresh interpreter (a subprocess): the test process itself has long
since imported textual, pandas and the rest.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import damkit
import damkit.errors

INTENDED = [
    # the one entry point
    "Workspace",
    "open_workspace",
    # the typed error tree (damkit/errors.py)
    "DamkitError",
    "SettingsError",
    "NotFoundError",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexUnavailableError",
    "SecretStoreError",
    "HttpError",
    "AuthError",
    "Unreachable",
    "CredentialsRefused",
    "Forbidden",
    "RemoteNotFound",
    "RateLimited",
    "Unavailable",
    "CircuitOpen",
    "BodyCut",
    "BadAnswer",
    "LocalStorageError",
    "SyncError",
]

#: What a frontend's library or the HTTP stack would pull in; none may load on `import damkit`.
HEAVY = ("httpx", "httpcore", "textual", "ipywidgets", "pandas", "matplotlib", "typer", "rich",
         "damkit_tui", "starlette", "uvicorn", "cryptography", "tinydb", "keyring",
         "psycopg")

#: What `damkit --help` must not load: the console and the notebook libraries.
NOT_FOR_HELP = ("textual", "ipywidgets", "pandas", "matplotlib", "damkit_tui")


def loaded_after(code: str, tmp_path: Path) -> set[str]:
    """Top-level names of the modules loaded by ``code`` in a fresh interpreter."""
    out = tmp_path / "modules.json"
    script = code + (
        "\nimport json, sys\n"
        f"open({str(out)!r}, 'w').write(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return set(json.loads(out.read_text()))


def test_all_is_exactly_the_intended_list() -> None:
    assert sorted(damkit.__all__) == sorted(INTENDED)
    assert len(set(damkit.__all__)) == len(damkit.__all__)
    assert damkit.__all__ == sorted(damkit.__all__), "keep __all__ sorted"


def test_every_exported_name_resolves() -> None:
    for name in damkit.__all__:
        assert getattr(damkit, name) is not None, name
    assert inspect.isclass(damkit.Workspace)
    assert callable(damkit.open_workspace)
    from damkit.workspace import Workspace, open_workspace

    assert damkit.Workspace is Workspace and damkit.open_workspace is open_workspace
    assert set(damkit.__all__) <= set(dir(damkit))


def test_every_error_class_is_exported_and_in_the_tree() -> None:
    # An error a caller may catch must be reachable as damkit.<Name>, and every one is a DamkitError.
    defined = {name for name, obj in vars(damkit.errors).items()
               if inspect.isclass(obj) and obj.__module__ == "damkit.errors"}
    exported = {name for name in damkit.__all__ if name in defined}
    assert defined == exported, f"not exported from damkit: {sorted(defined - exported)}"
    for name in defined:
        assert issubclass(getattr(damkit, name), damkit.DamkitError), name
        assert getattr(damkit, name) is getattr(damkit.errors, name)


def test_the_typed_tree_has_the_documented_shape() -> None:
    # The engine and the frontends branch on these relations (DESIGN.md: the small typed tree).
    for name in ("Unreachable", "CredentialsRefused", "Forbidden", "RemoteNotFound", "RateLimited",
                 "Unavailable", "BadAnswer"):
        assert issubclass(getattr(damkit, name), damkit.HttpError), name
    assert issubclass(damkit.CredentialsRefused, damkit.AuthError)
    assert issubclass(damkit.RemoteNotFound, damkit.NotFoundError)
    assert not issubclass(damkit.LocalStorageError, damkit.HttpError)


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        damkit.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("damkit.NoSuchThing resolved")


def test_version_is_the_installed_distribution_version() -> None:
    from importlib.metadata import version

    assert damkit.__version__ == version("damkit")


def test_import_damkit_is_light(tmp_path: Path) -> None:
    loaded = loaded_after("import damkit", tmp_path)
    assert "damkit" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_errors_need_no_workspace(tmp_path: Path) -> None:
    # Catching damkit.RateLimited must not pull in the workspace and everything it imports.
    loaded = loaded_after("import damkit\nassert issubclass(damkit.RateLimited, damkit.HttpError)",
                          tmp_path)
    assert "httpx" not in loaded and "pydantic" not in loaded


def test_damkit_help_loads_no_console_or_notebook_library(tmp_path: Path) -> None:
    code = (
        "import contextlib, io, sys\n"
        "sys.argv = ['damkit', '--help']\n"
        "from damkit.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "assert 'Usage' in buf.getvalue(), buf.getvalue()[:500]\n"
    )
    loaded = loaded_after(code, tmp_path)
    assert "typer" in loaded  # the command line did run
    assert not loaded & set(NOT_FOR_HELP), sorted(loaded & set(NOT_FOR_HELP))
