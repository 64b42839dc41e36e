"""Without the notebook extra, `import damkit.notebook` says how to install it, and nothing else
of damkit needs ipywidgets, pandas or matplotlib."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = ("import sys\n"
         "for name in {names!r}:\n"
         "    sys.modules[name] = None  # as if not installed: importing it raises ImportError\n")


@pytest.mark.parametrize("missing", [("pandas",), ("ipywidgets",), ("matplotlib",),
                                     ("ipywidgets", "pandas", "matplotlib")])
def test_one_clear_error_naming_the_install_command(missing: tuple[str, ...]) -> None:
    code = BLOCK.format(names=missing) + (
        "try:\n"
        "    import damkit.notebook\n"
        "except ImportError as exc:\n"
        "    print('ERROR', exc)\n"
        "else:\n"
        "    print('IMPORTED')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.startswith("ERROR damkit.notebook needs"), out
    assert "pip install 'damkit[notebook]'" in out
    for name in missing:
        assert name in out


def test_the_rest_of_damkit_works_without_them() -> None:
    code = BLOCK.format(names=("ipywidgets", "pandas", "matplotlib")) + (
        "import damkit, damkit.workspace, damkit.setup_flow, damkit.cli, damkit.audit\n"
        "from damkit.providers import all\n"
        "print([s.name for s in all()])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "'percolate'" in out.stdout
