"""The conformance suite: every registered provider, real connector, real sandbox, real HTTP.

Written against the provider interface and the workspace only (no provider name): Test
Connection outcomes for the guide's pitfalls, listing and paging, download verification, deletes,
near misses, archived and limited-use media, rate limits and login expiry. The sandbox's
switches are in test_switches.py; the helpers in suite.py.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from suite import (
    RATE,
    Connect,
    assert_clear_failure,
    assert_library,
    check,
    run,
    sync,
    synced,
    truth,
    url_field,
)
from traits import traits

from damkit.providers import provider_class, settings_model
from damkit.sandbox import Sandbox, free_port

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
