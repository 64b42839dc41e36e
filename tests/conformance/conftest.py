"""The conformance suite's fixtures: every registered provider, one sandbox, one workspace each.

rclone's fstests are the model: one suite, written against the provider interface only, that
every provider passes by being registered. The provider list comes from ONE function,
:func:`registered_providers`; nothing else here names a provider. What differs between providers
(a documented behaviour of one DAM) lives in :mod:`traits`, looked up by name with neutral
defaults, so a new provider needs no entry to run the whole suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from damkit.demo import add_sandbox_connections, demo_workspace, login_sandbox_connections
from damkit.sandbox import Sandbox
from damkit.sandbox.app import emulator_class
from damkit.workspace import Workspace


def registered_providers() -> list[str]:
    """Every provider the suite runs against: the registry, and nothing else."""
    from damkit import providers

    return list(providers.names())


def switch_cases(provider: str) -> list[tuple[str, ...]]:
    """Each sandbox switch of ``provider``'s emulator alone, plus the "Done when" pair: a server
    that ignores every tag filter AND returns assets without any membership field."""
    names = emulator_class(provider).switch_names()
    return [(n,) for n in names] + [("ignore_tag_filter", "omit_membership")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    providers = registered_providers()
    if "switches" in metafunc.fixturenames:
        cases = [(p, s) for p in providers for s in switch_cases(p)]
        metafunc.parametrize(("provider", "switches"), cases,
                             ids=[f"{p}-{'+'.join(s)}" for p, s in cases])
    elif "provider" in metafunc.fixturenames:
        metafunc.parametrize("provider", providers)


@pytest.fixture(scope="session")
def conformance_sandbox() -> Iterator[Sandbox]:
    """The suite's own sandbox (tests change catalogs, faults and switches: each test resets)."""
    # 56 tagged, every kind of near miss and hostile name; no server-side rate limit (the
    # rate-limit test injects 429s itself, and 15/s would make every Bynder sync take seconds)
    with Sandbox(assets=80, rate_limit=None) as sb:
        yield sb


@pytest.fixture
def sb(conformance_sandbox: Sandbox) -> Iterator[Sandbox]:
    conformance_sandbox.reset()
    yield conformance_sandbox
    conformance_sandbox.reset()


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[Callable[..., tuple[Workspace, str]]]:
    """``connect(sb, provider, **overrides)`` → (workspace, connection name): the sandbox's
    connection for ``provider`` as a user would add it, logged in where a login is needed."""
    opened: list[Workspace] = []

    def make(sandbox: Sandbox, provider: str, **overrides: Any) -> tuple[Workspace, str]:
        ws = demo_workspace(tmp_path / f"ws-{len(opened)}")
        opened.append(ws)
        manifest = sandbox.manifest()
        fields = {**manifest["providers"][provider], **overrides}
        (name,) = add_sandbox_connections(ws, {**manifest, "providers": {provider: fields}})
        asyncio.run(login_sandbox_connections(ws, [name]))
        return ws, name

    yield make
    for ws in opened:
        ws.close()
