"""The conformance suite: every registered provider, real connector, real sandbox, real HTTP.

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
from pathlib import Path
from typing import Any, TypeVar

import httpx

from damkit.providers import provider_class, settings_model
from damkit.providers.base import CheckReport
from damkit.sandbox import Sandbox, free_port
from damkit.sync.engine import sync_connection
from damkit.sync.models import SyncReport
from damkit.workspace import Workspace
from traits import traits

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


# --- registration and Test Connection --------------------------------------------------------

def test_registered(provider: str) -> None:
    cls = provider_class(provider)
    assert cls.name == provider and cls.settings_model is settings_model(provider)
    assert cls.steps, "a provider declares its guide's steps"


def test_check_reports_the_true_eligible_count(sb: Sandbox, connect: Connect,
                                               provider: str) -> None:
    ws, name = connect(sb, provider)
    report = check(ws, name)
    assert report.ok, [(s.name, s.status, s.detail) for s in report.steps]
    assert report.eligible == len(truth(sb, provider))
    assert all(s.seconds >= 0 and s.status in ("ok", "warning", "skipped") for s in report.steps)


def test_near_misses_are_reported_never_imported(sb: Sandbox, connect: Connect,
                                                 provider: str) -> None:
    ws, name = connect(sb, provider)
    report = check(ws, name)
    spellings = {m.spelling for m in report.near_misses}
    catalog = sb.state.catalog(provider)
    assert spellings and spellings <= set(catalog.near_misses())
    result = sync(ws, name)
    assert result.status == "ok", result.error
    imported = set(synced(ws, name))
    near_only = {a.key for s in catalog.near_misses() for a in catalog.tagged(s)
                 if catalog.tag not in a.tags}
    assert near_only and not imported & near_only


def test_pitfall_tag_nobody_carries(sb: Sandbox, connect: Connect, provider: str) -> None:
    tag_field = settings_model(provider).tag_field
    ws, name = connect(sb, provider, **{tag_field: "Nobody Carries This 7f3a"})
    report = check(ws, name)
    assert_clear_failure(report)
    assert not report.eligible


def test_pitfall_wrong_address(sb: Sandbox, connect: Connect, provider: str) -> None:
    field = url_field(provider)
    ws, name = connect(sb, provider)
    ws.edit_connection(name, {field: f"http://127.0.0.1:{free_port()}/{provider}"})
    report = check(ws, name)
    assert_clear_failure(report)
    assert report.steps[0].status == "failed"


# --- listing, paging, download verification --------------------------------------------------

def test_sync_imports_exactly_the_tagged_files_verified(sb: Sandbox, connect: Connect,
                                                        provider: str) -> None:
    ws, name = connect(sb, provider)
    result = sync(ws, name)
    assert result.status == "ok", result.error
    assert_library(ws, name, truth(sb, provider))
    again = sync(ws, name)  # idempotent: nothing new to fetch
    assert again.status == "ok" and set(synced(ws, name)) == set(truth(sb, provider))


def test_listing_pages_past_one_page(fresh_sandbox: Callable[..., Sandbox], connect: Connect,
                                     provider: str) -> None:
    big = fresh_sandbox(providers=(provider,), assets=1500)
    ws, name = connect(big, provider)
    want = truth(big, provider)
    assert len(want) > 1000

    async def listed() -> list[str]:
        async with ws.provider(name, rate=RATE) as p:
            return [a.id async for page in p.list_assets() for a in page]

    ids = run(listed())
    assert len(ids) == len(set(ids)) and set(ids) == set(want)
    assert check(ws, name).eligible == len(want)


# --- changes upstream: deletes, untagging, archiving, limited use ------------------------------

def test_deleted_and_untagged_are_marked_gone(sb: Sandbox, connect: Connect,
                                              provider: str) -> None:
    ws, name = connect(sb, provider)
    assert sync(ws, name).status == "ok"
    tag = sb.state.catalog(provider).tag
    deleted, untagged = sorted(truth(sb, provider))[:2]
    sb.control("POST", f"{provider}/assets/{deleted}/delete")
    sb.control("POST", f"{provider}/assets/{untagged}/untag", json={"tag": tag})
    result = sync(ws, name)
    assert result.status == "ok", result.error
    records = {r["provider_id"]: r for r in ws.index.assets(connection=name)}
    assert records[deleted]["status"] == records[untagged]["status"] == "gone"
    assert set(synced(ws, name)) == set(truth(sb, provider))


def test_archived_media_are_not_imported(sb: Sandbox, connect: Connect, provider: str) -> None:
    tag = sb.state.catalog(provider).tag
    made = sb.control("POST", f"{provider}/assets", json={"name": "archived.png", "tags": [tag]})
    sb.control("POST", f"{provider}/assets/{made['key']}/archive", json={"archived": True})
    ws, name = connect(sb, provider)
    report = check(ws, name)
    assert report.ok and report.eligible == len(truth(sb, provider))
    assert sync(ws, name).status == "ok"
    assert made["key"] not in synced(ws, name)


def test_limited_use_follows_the_provider(sb: Sandbox, connect: Connect, provider: str) -> None:
    tag = sb.state.catalog(provider).tag
    made = sb.control("POST", f"{provider}/assets", json={"name": "limited.png", "tags": [tag]})
    sb.control("POST", f"{provider}/assets/{made['key']}/limit", json={"limited": True})
    ws, name = connect(sb, provider)
    report = check(ws, name)
    assert report.ok and report.eligible == len(truth(sb, provider))
    assert sync(ws, name).status == "ok"
    assert (made["key"] in synced(ws, name)) is not traits(provider).excludes_limited


# --- rate limits and login expiry --------------------------------------------------------------

def test_rate_limited_answers_are_waited_out(sb: Sandbox, connect: Connect,
                                             provider: str) -> None:
    ws, name = connect(sb, provider)
    sb.set_faults(provider, burst_429=3, retry_after=0)
    result = sync(ws, name)
    assert result.status == "ok", result.error
    assert sb.faults(provider)["injected"]["429"] == 3
    assert_library(ws, name, truth(sb, provider))


def test_expired_login_is_renewed(sb: Sandbox, connect: Connect, provider: str) -> None:
    route = traits(provider).expire_route
    ws, name = connect(sb, provider)
    assert sync(ws, name, dry_run=True).status == "dry_run"
    if route is None:  # this provider's login does not expire: nothing to renew
        assert check(ws, name).ok
        return
    httpx.post(f"{sb.url}/{provider}/{route}").raise_for_status()
    report = check(ws, name)
    assert report.ok and report.eligible == len(truth(sb, provider))
    assert sync(ws, name).status == "ok"
    assert set(synced(ws, name)) == set(truth(sb, provider))


# --- the sandbox's switches: a server that is "wrong" where the facts are unknown -------------

def test_switch_never_imports_untagged(sb: Sandbox, connect: Connect, provider: str,
                                       switches: tuple[str, ...], tmp_path: Path) -> None:
    tag = sb.state.catalog(provider).tag
    for state in ("archive", "limit"):  # give hide_archived / limited_included something to show
        made = sb.control("POST", f"{provider}/assets", json={"name": f"{state}.png",
                                                              "tags": [tag]})
        body = {"archived": True} if state == "archive" else {"limited": True}
        sb.control("POST", f"{provider}/assets/{made['key']}/{state}", json=body)
    ws, name = connect(sb, provider)
    sb.set_switches(provider, *switches)
    want = truth(sb, provider)

    report = check(ws, name)
    if report.ok:
        assert report.eligible == len(want), (switches, report.eligible, len(want))
    else:
        assert_clear_failure(report)

    result = sync(ws, name)
    imported = set(synced(ws, name))
    assert imported <= set(want), sorted(imported - set(want))[:5]  # never anything untagged
    if report.ok:
        assert result.status == "ok" and imported == set(want), result.error
    else:
        assert result.status != "ok" or imported == set(want)
