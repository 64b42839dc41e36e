"""The house rules' own configuration stays complete as the code grows.

`make test` runs ruff, mypy and import-linter before the suite (docs/house-rules.md). The import
contracts name modules explicitly where import-linter has no "everything except" form; these tests
fail when a new module or provider folder is not covered, and when a declared dependency is not
used (or a used one not declared).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

#: The frontends inside the damkit package, and `python -m damkit` (which runs the command line).
FRONTENDS = {"cli", "notebook", "__main__"}

#: Imported, not declared by damkit, and always present with what is declared: the reason.
IMPORTED_THROUGH = {
    "numpy": "the notebook extra's pandas and matplotlib both require it",
}

#: Declared dependencies that no damkit module imports, each with the reason it is declared.
USED_WITHOUT_IMPORT = {
    "sniffio": "httpcore imports it on every connection-pool lock (httpcore/_synchronization.py); "
               "absent, each failed import searches sys.path",
    "httptools": "uvicorn picks it for the sandbox's HTTP parsing when installed (http='auto'): "
                 "180 instead of 330 µs of server CPU per request (benchmarks/sandbox_bench.py)",
}


def contract(contract_id: str) -> dict[str, object]:
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    (found,) = [c for c in contracts if c["id"] == contract_id]
    return found


def top_level_names(package: Path) -> set[str]:
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    return names


def test_the_core_contract_covers_every_core_module() -> None:
    core = {f"damkit.{n}" for n in top_level_names(ROOT / "damkit") - FRONTENDS}
    listed = set(contract("core-imports-no-frontend")["source_modules"])  # type: ignore[arg-type]
    assert core == listed, (f"add to the contract: {sorted(core - listed)}; "
                            f"remove from it: {sorted(listed - core)}")


def test_the_independence_contract_covers_every_provider() -> None:
    folders = {f"damkit.providers.{p.name}" for p in (ROOT / "damkit" / "providers").iterdir()
               if (p / "__init__.py").is_file()}
    listed = set(contract("providers-independent")["modules"])  # type: ignore[arg-type]
    assert folders == listed, f"not independent yet: {sorted(folders - listed)}"


def test_the_frontends_named_in_the_contracts_exist() -> None:
    frontends = set(contract("frontends-use-public-api")["source_modules"])  # type: ignore[arg-type]
    assert frontends == {"damkit_tui", "damkit.cli", "damkit.notebook"}
    for name in ("cli", "notebook"):
        assert name in top_level_names(ROOT / "damkit")


def test_make_test_checks_the_house_rules_before_the_suite() -> None:
    # `make -n` prints the commands without running them (nor the install, if one is due).
    r = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()

    def position(command: str) -> int:
        return next(i for i, line in enumerate(lines) if command in line)

    steps = [position(c) for c in ("bin/ruff check", "bin/mypy", "bin/lint-imports")]
    pytest_at = position("-m pytest")
    assert steps == sorted(steps) and steps[-1] < pytest_at, r.stdout


def imported_top_level(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def declared(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


def test_every_dependency_is_used_and_every_import_declared() -> None:
    project = PYPROJECT["project"]
    runtime = declared(project["dependencies"])
    extras = set().union(*(declared(reqs) for name, reqs in project["optional-dependencies"].items()
                           if name != "test"))
    dist_of = {mod: {d.lower().replace("_", "-") for d in dists}
               for mod, dists in packages_distributions().items()}
    first_party = {"damkit", "damkit_tui"}
    imported = imported_top_level(ROOT / "damkit") | imported_top_level(ROOT / "tui")
    third_party = imported - first_party - set(sys.stdlib_module_names) - set(IMPORTED_THROUGH)
    used: set[str] = set()
    for module in sorted(third_party):
        dists = dist_of.get(module)
        assert dists, f"{module} is imported but installed by no distribution"
        assert dists & (runtime | extras), f"{module} ({sorted(dists)}) is imported but not declared"
        used |= dists
    unused = runtime - used
    assert unused == set(USED_WITHOUT_IMPORT), (
        f"declared but never imported: {sorted(unused - set(USED_WITHOUT_IMPORT))} "
        "(drop them, or say in USED_WITHOUT_IMPORT why they stay)")


def test_textual_range_is_bounded_and_holds_the_installed_version() -> None:
    from importlib.metadata import version

    (textual,) = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]
                  if Requirement(r).name == "textual"]
    assert any(s.operator == "<" for s in textual.specifier), textual
    assert textual.specifier.contains(version("textual")), (textual, version("textual"))


def test_one_version_source() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "damkit.__version__"


def test_licence_is_an_spdx_expression() -> None:
    # The table form ({text = ...}) makes setuptools print a deprecation banner at every build.
    assert PYPROJECT["project"]["license"] == "MIT"
    requires = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    (setuptools,) = [r for r in requires if r.name == "setuptools"]
    assert not setuptools.specifier.contains("76.9"), setuptools  # SPDX strings need 77+
