"""Percolate's tagged listing as a pipeline: the next asset page is fetched while a page's
metadata is read, a page's metadata chunks are read at once, and nothing outlives the listing.

The real connector over real HTTP against the sandbox. The only stand-in is a counter wrapped
around the connector's one request method, to see how many requests are in flight at once (the
sandbox answers them all; nothing is faked). No test asserts a duration: ``asyncio.wait_for``
only guards against a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from damkit.errors import AuthError
from damkit.providers.base import ConnectionContext
from damkit.providers.percolate.connector import METADATA_CHUNK, PercolateProvider, utc_iso
from damkit.providers.percolate.settings import PercolateSettings
from damkit.sandbox import Sandbox

from provider_support import MemorySecrets

P = "percolate"
HANG = 120.0  # seconds: a guard against a hang, never a speed assertion
LISTING_TASKS = ("_tagged_page", "_metadata")


def make(tmp_path: Path, sandbox: Sandbox) -> PercolateProvider:
    values = dict(httpx.get(sandbox.manifest_url).json()["providers"][P])
    values.pop("eligible")
    ctx = ConnectionContext(name="pc", settings=PercolateSettings(**values),
                            secrets=MemorySecrets(), state_dir=tmp_path)
    return PercolateProvider(ctx)


def in_flight(provider: PercolateProvider) -> dict[str, Any]:
    """Wrap ``provider.api`` to record the most requests outstanding at once, and which."""
    seen: dict[str, Any] = {"now": 0, "most": 0, "paths": []}
    real = provider.api

    async def counted(path: str, params: dict[str, Any] | None = None,
                      http: Any = None) -> httpx.Response:
        seen["now"] += 1
        seen["paths"].append(path.split("?")[0])
        seen["most"] = max(seen["most"], seen["now"])
        try:
            return await real(path, params, http)
        finally:
            seen["now"] -= 1

    provider.api = counted  # type: ignore[method-assign]
    return seen


def listing_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks()
            if not t.done() and t.get_coro().__qualname__.split(".")[-1] in LISTING_TASKS]


async def test_pages_and_metadata_overlap_and_nothing_is_lost(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # pages of 2.5 metadata chunks: the last chunk of each page is a short one
    monkeypatch.setattr(PercolateProvider, "page_size", METADATA_CHUNK * 5 // 2)
    sandbox = fresh_sandbox(providers=(P,), assets=3000)
    async with make(tmp_path, sandbox) as provider:
        seen = in_flight(provider)
        pages = await asyncio.wait_for(_collect(provider), HANG)
        requests = provider.http.stats["requests"]
    catalog = sandbox.state.catalog(P)
    tagged = [a.key for a in catalog.tagged(catalog.tag)]
    ids = [a.id for page in pages for a in page]
    assert len(ids) == len(set(ids)) == len(tagged) > 2 * provider.page_size
    assert set(ids) == set(tagged)
    assert all(catalog.tag in a.tags for page in pages for a in page)
    # a page's three metadata chunks and the next asset page are asked for at once
    assert seen["most"] >= 4, seen["most"]
    # and no request more than a sequential listing: pages + ceil(page / chunk) each, + terms
    listed = -(-len(tagged) // provider.page_size)
    assert seen["paths"].count("/api/v5/asset/") == listed
    assert requests <= listed * 4 + 4


async def _collect(provider: PercolateProvider) -> list[Any]:
    return [page async for page in provider.list_assets()]


async def test_stopping_early_cancels_the_prefetch(fresh_sandbox: Callable[..., Sandbox],
                                                   tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=(P,), assets=3000)
    # asset pages answer slowly, metadata at once: the prefetched page is still on its way
    sandbox.set_faults(P, latency_ms=1000, match=r"^/api/v5/asset/?$")
    async with make(tmp_path, sandbox) as provider:
        pages = provider.list_assets()
        first = await asyncio.wait_for(pages.__anext__(), HANG)
        ahead = listing_tasks()
        assert first and len(ahead) == 1  # the next page, fetched ahead
        await pages.aclose()  # as when a sync is stopped
        assert ahead[0].cancelled() and listing_tasks() == []
        # the connection still works after the cancelled request
        assert await provider.count(None) > 0

        # a consumer that breaks out of its loop (as the sync engine does when it is stopped)
        # and lets go of the listing: the event loop closes it, which cancels the page ahead
        async def first_page_only() -> asyncio.Task[Any]:
            async for _ in provider.list_assets():
                break
            (task,) = listing_tasks()
            return task

        ahead_too = await asyncio.wait_for(first_page_only(), HANG)
        await asyncio.wait([ahead_too], timeout=HANG)  # the loop's finaliser runs aclose() soon
        assert ahead_too.cancelled() and listing_tasks() == []


async def test_a_refused_metadata_chunk_fails_the_listing_and_leaves_nothing_running(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=(P,), assets=3000)
    sandbox.set_faults(P, fault_rate=1.0, fault_statuses=[403], match="metadata")
    async with make(tmp_path, sandbox) as provider:
        with pytest.raises(AuthError):
            await asyncio.wait_for(_collect(provider), HANG)
        await asyncio.sleep(0)
        assert listing_tasks() == []
    assert provider.tally.eligible == 0


@pytest.mark.parametrize("value", [
    "2016-12-09T15:57:14+00:00", "2016-12-09T17:57:14+02:00", "2016-12-09T15:57:14",
    "2016-12-09T15:57:14.250+00:00", "2016-12-09 15:57:14+00:00", "2016-13-09T15:57:14+00:00",
    "not a date at all, 25 chars", "", None])
def test_utc_iso_shortcut_gives_what_parsing_gives(value: Any) -> None:
    def parsed(raw: Any) -> str | None:  # the long way, as utc_iso did before its shortcut
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError:
            return str(raw)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()

    assert utc_iso(value) == parsed(value)
