"""Tag discovery and the better spelling, on the three sandbox providers over real HTTP:
``damkit tags NAME --json`` lists each tag with its exact file count (near spellings of
``--near`` first), and a check of a wrong-case tag stays honest about what carries it exactly
while its structured fix (and the command line) points at the setting first."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from damkit.demo import add_sandbox_connections, demo_workspace, login_sandbox_connections
from damkit.sandbox import Sandbox
from damkit.workspace import Workspace, rank_tags

pytestmark = pytest.mark.timeout(120)

PROVIDERS = ("bynder", "canto", "percolate")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("tags") / "ws"
    with Sandbox(assets=60) as sb:
        ws = demo_workspace(home)
        names = add_sandbox_connections(ws, sb.manifest())
        asyncio.run(login_sandbox_connections(ws, names))
        yield ws, sb.manifest()
        ws.close()


def cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAMKIT_HOME": str(ws.root), "DAMKIT_SECRET_STORE": "plaintext"}
    return subprocess.run([sys.executable, "-m", "damkit", *args], capture_output=True,
                          text=True, env=env, timeout=90)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tags_json_lists_each_tag_with_its_count(setup: Any, provider: str) -> None:
    ws, manifest = setup
    name = f"sandbox-{provider}"
    r = cli(ws, "tags", name, "--json", "--near", "gelato", "--limit", "8")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["connection"] == name and data["current"] == "Gelato"
    tags = {t["tag"]: t["count"] for t in data["tags"]}
    assert tags["Gelato"] == manifest["providers"][provider]["eligible"]
    assert tags["gelato"] >= 1 and tags["GELATO"] >= 1  # each spelling, exactly as spelt
    # near spellings of "gelato" first: every spelling of those letters before anything else
    near = [t["tag"].strip().casefold() == "gelato" for t in data["tags"]]
    assert near == sorted(near, reverse=True) and near[0]
    assert len(data["tags"]) <= 8


def test_tags_for_people(setup: Any) -> None:
    ws, _ = setup
    r = cli(ws, "tags", "sandbox-bynder", "--limit", "3")
    assert r.returncode == 0, r.stderr
    assert "'Gelato'" in r.stdout and "(set)" in r.stdout


def test_unknown_connection_is_a_clear_error(setup: Any) -> None:
    ws, _ = setup
    r = cli(ws, "tags", "nope", "--json")
    assert r.returncode != 0
    assert "no connection named 'nope'" in json.loads(r.stdout)["error"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wrong_case_points_at_the_setting(setup: Any, provider: str) -> None:
    ws, manifest = setup
    name = f"sandbox-{provider}"
    field = ws.spec(name).settings_model().tag_field
    ws.edit_connection(name, {field: "gelato"})
    try:
        report = asyncio.run(ws.check(name))
        fix = report.better_spelling
        assert fix is not None and fix.field == field and fix.value == "Gelato"
        assert fix.step and fix.step.startswith(provider)
        # the verdict stays honest: what carries the exact tag
        assert report.eligible is not None
        assert report.eligible < manifest["providers"][provider]["eligible"]
        r = cli(ws, "check", name)
        label = ws.spec(name).settings_model().field_spec(field).label
        command = f'damkit connections edit {name} --set "{label}=Gelato"'
        assert command in r.stdout
        assert r.stdout.index(command) < r.stdout.index("retag")  # the setting first
    finally:
        ws.edit_connection(name, {field: "Gelato"})
    report = asyncio.run(ws.check(name))
    assert report.ok and report.better_spelling is None


def test_rank_tags_near_first() -> None:
    from damkit.providers import TagCount

    tags = [TagCount(tag=t, count=c) for t, c in
            [("Print", 50), ("Gelato", 40), ("gelato-old", 3), ("Gelatto", 2), ("Web", 9)]]
    ranked = [t.tag for t in rank_tags(tags, "gelato")]
    assert ranked[:3] == ["Gelato", "gelato-old", "Gelatto"]
    assert ranked[3:] == ["Print", "Web"]  # the rest, most used first
