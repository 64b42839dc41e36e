"""The provider registry: built-ins, run-time registration, the entry-point group for third
parties, clear errors for unknown names; and the rule that no frontend names a provider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from damkit.errors import SettingsError
from damkit.providers import all as all_providers
from damkit.providers import get, register
from damkit.providers.spec import Capabilities, ProviderSpec

ROOT = Path(__file__).resolve().parents[1]


def test_builtins_are_declared_once_with_their_capabilities() -> None:
    specs = {s.name: s for s in all_providers()}
    assert list(specs)[:3] == ["bynder", "canto", "percolate"]
    assert specs["canto"].capabilities.browser_login and specs["canto"].tag_noun == "keyword"
    assert specs["bynder"].capabilities.backlink and specs["bynder"].capabilities.change_notifications
    for spec in specs.values():
        connector = spec.connector_class()
        # the connector's rate and title are the spec's (declared once)
        assert connector.default_rate == spec.capabilities.rate
        assert connector.default_burst == spec.capabilities.burst
        assert connector.title == spec.title
        assert spec.settings_model().provider == spec.name
        assert spec.emulator_class().name == spec.name


def test_unknown_names_are_a_settings_error_listing_the_known() -> None:
    with pytest.raises(SettingsError) as info:
        get("nuxeo")
    assert info.value.field == "provider" and "bynder, canto, percolate" in (info.value.hint or "")
    with pytest.raises(SettingsError, match="not a slug"):
        register(ProviderSpec(name="Not A Slug", title="x"))
    with pytest.raises(SettingsError, match="already registered"):
        register(ProviderSpec(name="canto", title="Another Canto", capabilities=Capabilities()))
    assert get("Canto").title == "Canto"  # any case


def test_listing_the_providers_imports_no_connector() -> None:
    code = ("import sys\nfrom damkit.providers import all\n"
            "print([s.name for s in all()])\n"
            "print(sorted(m for m in sys.modules if m.endswith(('.connector', '.auth', '.check'))"
            " or m.startswith(('damkit.http', 'httpx', 'damkit.sandbox'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    assert out[0] == "['bynder', 'canto', 'percolate']" and out[1] == "[]"


def test_a_third_party_registers_through_the_entry_point_group(tmp_path: Path) -> None:
    """An installed distribution that declares `damkit.providers = toy = toy_provider:SPEC`
    (here: its metadata on sys.path) is found without any call to register()."""
    dist = tmp_path / "toydam-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toydam\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[damkit.providers]\ntoy = toy_provider:SPEC\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "tests")])}
    code = "from damkit.providers import get\nprint(get('toy').title)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Toydam"



def test_a_builtin_lookup_scans_no_entry_points(tmp_path: Path) -> None:
    """Looking up a built-in (every `damkit check`) reads no installed package's entry points;
    an unknown name still finds a plug-in's (the same process, after the built-in lookup)."""
    dist = tmp_path / "toydam-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toydam\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[damkit.providers]\ntoy = toy_provider:SPEC\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "tests")])}
    code = ("import importlib.metadata as md\nimport damkit.providers as p\n"
            "scans = []\nreal = md.entry_points\n"
            "p_ep = lambda **kw: scans.append(kw) or real(**kw)\nmd.entry_points = p_ep\n"
            "print(p.get(p.BUILTIN[0]).name, len(scans))\n"
            "print(p.get('toy').title, len(scans))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["bynder 0", "Toydam 1"]

def test_no_frontend_names_a_provider() -> None:
    """Outside damkit/providers/ and damkit/sandbox/, no code compares a provider's name or
    imports one provider's internals."""
    found = subprocess.run(
        ["grep", "-rnE", "--include=*.py",
         r"""["'](bynder|canto|percolate)["']|providers\.(bynder|canto|percolate)""",
         "damkit", "tui"], cwd=ROOT, capture_output=True, text=True).stdout
    offending = [line for line in found.splitlines()
                 if not line.startswith(("damkit/providers/", "damkit/sandbox/"))]
    assert offending == []
