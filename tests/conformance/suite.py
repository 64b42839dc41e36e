"""Helpers of the conformance suite (test_conformance.py, test_switches.py): how a check and a
sync are run, what the truth is, and what a clear failure looks like.

The suite: every registered provider, real connector, real sandbox, real HTTP.

Each test is written against the provider interface and the workspace only (no provider name):
Test Connection outcomes for the guide's pitfalls, listing and paging, download verification,
deletes, near misses, rate limits, login expiry, and every sandbox switch (a server that behaves
as a real one might where the facts are unknown). The invariant under every switch: nothing that
does not carry the tag is ever imported, and Test Connection either reports the true eligible
count or fails with a clear cause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from traits import traits

from damkit.providers import settings_model
from damkit.providers.base import CheckReport
from damkit.sandbox import Sandbox
from damkit.sync.engine import sync_connection
from damkit.sync.models import SyncReport
from damkit.workspace import Workspace

T = TypeVar("T")
RATE = 200.0  # client-side requests/s: the providers' polite defaults would only slow the tests
Connect = Callable[..., tuple[Workspace, str]]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def check(ws: Workspace, name: str) -> CheckReport:
    return run(ws.check(name))


def sync(ws: Workspace, name: str, **kw: Any) -> SyncReport:
    return run(sync_connection(ws, name, rate=RATE, **kw))


def truth(sb: Sandbox, provider: str) -> dict[str, tuple[str, str, int]]:
    """Provider id -> (name, md5, size) of every asset that carries the tag exactly and that
    the provider's default settings import (the catalog, not the wire, is the truth)."""
    catalog = sb.state.catalog(provider)
    skip_limited = traits(provider).excludes_limited
    return {a.key: (a.name, catalog.md5(a), a.size) for a in catalog.tagged(catalog.tag)
            if not (skip_limited and a.limited)}


def synced(ws: Workspace, name: str) -> dict[str, dict[str, Any]]:
    return {r["provider_id"]: r for r in ws.index.assets(connection=name)
            if r["status"] == "synced"}


def assert_clear_failure(report: CheckReport) -> None:
    """Not ok, and a failed step that says what is wrong and what to do."""
    assert not report.ok
    failed = report.first_failure
    assert failed is not None, [(s.name, s.status, s.detail) for s in report.steps]
    assert failed.detail.strip() and (failed.hint or "").strip(), failed


def assert_library(ws: Workspace, name: str, want: dict[str, tuple[str, str, int]]) -> None:
    """Exactly ``want`` synced, each file whole with the catalog's bytes."""
    import hashlib

    records = synced(ws, name)
    assert set(records) == set(want), (sorted(set(want) - set(records))[:5],
                                       sorted(set(records) - set(want))[:5])
    for pid, (_, md5, size) in want.items():
        path = ws.root / records[pid]["local_path"]
        data = path.read_bytes()
        assert len(data) == size and hashlib.md5(data, usedforsecurity=False).hexdigest() == md5


def url_field(provider: str) -> str:
    """The settings field that holds the DAM's address (declared ``kind="url"``)."""
    model = settings_model(provider)
    names = [n for n, f in model.model_fields.items()
             if (f.json_schema_extra or {}).get("kind") == "url"]  # type: ignore[union-attr]
    assert len(names) == 1, names
    return names[0]


