"""Percolate-specific conformance (what the shared suite, test_conformance.py, does not cover). The real Percolate connector against the real sandbox (and a few loopback impostors), over HTTP."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from damkit.errors import AuthError, DamkitError
from damkit.providers.base import CheckReport, ConnectionContext, RemoteAsset
from damkit.providers.percolate.check import TAGGED_WARNING
from damkit.providers.percolate.connector import PercolateProvider
from damkit.providers.percolate.settings import PercolateSettings
from damkit.sandbox import Sandbox, free_port
from damkit.sandbox.percolate import PercolateEmulator

from provider_support import MemorySecrets

STEP_NAMES = ["Reach Percolate", "Credentials", "Scope", "Tag", "Eligible files"]




@pytest.fixture(scope="module")
def sb(sandbox: Sandbox) -> Sandbox:
    """The session's shared sandbox (all providers); tests that change it use fresh_sandbox."""
    return sandbox


def emulator(sandbox: Sandbox) -> PercolateEmulator:
    emu = sandbox.state.emulators["percolate"]
    assert isinstance(emu, PercolateEmulator)
    return emu


def settings_of(sandbox: Sandbox, **override: Any) -> dict[str, Any]:
    values = dict(httpx.get(sandbox.manifest_url).json()["providers"]["percolate"])
    values.pop("eligible")
    values.update(override)
    return values


def make(tmp_path: Path, values: dict[str, Any]) -> PercolateProvider:
    ctx = ConnectionContext(name="pc", settings=PercolateSettings(**values), secrets=MemorySecrets(),
                            state_dir=tmp_path)
    return PercolateProvider(ctx)


async def run_check(tmp_path: Path, values: dict[str, Any]) -> CheckReport:
    async with make(tmp_path, values) as provider:
        return await provider.check()


def step(report: CheckReport, name: str) -> Any:
    return next(s for s in report.steps if s.name == name)


def assert_stopped_at(report: CheckReport, name: str) -> Any:
    """``name`` failed, every later step was skipped, and the report is not ok."""
    assert [s.name for s in report.steps] == STEP_NAMES
    assert not report.ok
    failed = step(report, name)
    assert failed.status == "failed" and failed.hint and failed.detail
    later = STEP_NAMES[STEP_NAMES.index(name) + 1:]
    assert all(step(report, n).status == "skipped" for n in later)
    return failed


class Impostor:
    """A loopback HTTP server that is not Percolate: one fixed answer to everything."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        answer = (status, body, headers)
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                outer.hits += 1
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                code, data, extra = answer
                self.send_response(code)
                for key, value in {"Content-Length": str(len(data)), **extra}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _reply

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def impostor() -> Iterator[Callable[..., Impostor]]:
    started: list[Impostor] = []

    def start(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Impostor:
        server = Impostor(status, body, headers or {})
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


# --- registry and happy path -----------------------------------------------------------------------

async def test_check_passes_and_counts_the_eligible(sb: Sandbox, tmp_path: Path) -> None:
    report = await run_check(tmp_path, settings_of(sb))  # its time: benchmarks/check_bench.py
    assert report.ok, report.model_dump_json(indent=1)
    assert [s.name for s in report.steps] == STEP_NAMES
    assert report.eligible == sb.manifest()["providers"]["percolate"]["eligible"]
    assert all(s.status in ("ok", "warning") and s.seconds >= 0 and s.detail for s in report.steps)
    # the catalog has near misses of the tag: reported with exact spelling and count, not imported
    expected = emulator(sb).catalog.near_misses()
    assert expected and {m.spelling: m.count for m in report.near_misses} == expected
    tag_step = step(report, "Tag")
    assert tag_step.status == "warning" and "'Gelato '" in tag_step.detail
    assert "Tag for Import" in (tag_step.hint or "")


async def test_bare_client_id_is_prefixed(sb: Sandbox, tmp_path: Path) -> None:
    values = settings_of(sb)
    values["client_id"] = values["client_id"].removeprefix("client:")
    values["scope_id"] = values["scope_id"].removeprefix("license:")
    report = await run_check(tmp_path, values)
    assert report.ok and step(report, "Credentials").status == "ok"


async def test_listing_pages_through_meta_total(fresh_sandbox: Callable[..., Sandbox],
                                                tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=2500)
    async with make(tmp_path, settings_of(sandbox)) as provider:
        pages = [page async for page in provider.list_assets()]
        requests = provider.http.stats["requests"]
    eligible = sandbox.manifest()["providers"]["percolate"]["eligible"]
    assert eligible > 1000 and [len(p) for p in pages][:3] == [500, 500, 500]
    assert sum(len(p) for p in pages) == eligible
    # token, terms, term names, pages and one metadata read per 250 assets: no per-asset calls
    assert requests <= 3 * len(pages) + 6


async def test_credentials_do_not_follow_a_cross_host_redirect(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=30,
                            extra={"percolate": {"cdn_host": "localhost"}})
    emu = emulator(sandbox)
    source = next(a for a in emu.catalog.tagged(emu.catalog.tag) if a.ext == "png")
    async with make(tmp_path, settings_of(sandbox)) as provider:
        remote = await provider.get_asset(source.key)
        assert remote is not None
        data = b"".join([chunk async for chunk in provider.download(remote)])
    assert data == emu.catalog.content(source)
    assert emu.cdn_requests == 1 and emu.cdn_auth_seen == 0


async def test_get_asset_follows_tag_changes_and_deletion(fresh_sandbox: Callable[..., Sandbox],
                                                          tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=30)
    catalog = emulator(sandbox).catalog
    key = catalog.tagged(catalog.tag)[0].key
    async with make(tmp_path, settings_of(sandbox)) as provider:
        before = await provider.get_asset(key)
        assert before is not None and provider.has_tag(before)
        catalog.set_tags(key, remove=[catalog.tag])
        after = await provider.get_asset(key)
        assert after is not None and not provider.has_tag(after)
        catalog.delete(key)
        assert await provider.get_asset(key) is None
        assert await provider.get_asset("asset:999999") is None


async def test_expired_token_is_fetched_again_once(fresh_sandbox: Callable[..., Sandbox],
                                                   tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=30)
    emu = emulator(sandbox)
    async with make(tmp_path, settings_of(sandbox)) as provider:
        first = [a async for page in provider.list_assets() for a in page]
        assert provider.tokens.fetches == 1
        emu.expire_tokens()
        second = [a async for page in provider.list_assets() for a in page]
        assert provider.tokens.fetches == 2 and len(second) == len(first)
        emu.expire_tokens()
        data = b"".join([c async for c in provider.download(first[0])])
        assert provider.tokens.fetches == 3 and len(data) == first[0].size


# --- diagnoses ------------------------------------------------------------------------------------

async def test_nothing_listening(tmp_path: Path, sb: Sandbox) -> None:
    report = await run_check(tmp_path, settings_of(sb, api_url=f"http://127.0.0.1:{free_port()}"))
    failed = assert_stopped_at(report, "Reach Percolate")
    assert "cannot connect" in failed.detail and "API base URL" in failed.hint


async def test_domain_that_does_not_resolve(tmp_path: Path, sb: Sandbox) -> None:
    report = await run_check(tmp_path, settings_of(sb, api_url="https://percolate.damkit-test.invalid"))
    failed = assert_stopped_at(report, "Reach Percolate")
    assert "does not resolve" in failed.detail and "API base URL" in failed.hint


async def test_tls_failure(tmp_path: Path, sb: Sandbox) -> None:
    # https to the sandbox's plain-http port: the TLS handshake fails
    report = await run_check(tmp_path, settings_of(sb, api_url=f"https://127.0.0.1:{sb.port}/percolate"))
    failed = assert_stopped_at(report, "Reach Percolate")
    assert failed.detail.startswith("TLS failed")


async def test_a_server_that_is_not_percolate(tmp_path: Path, sb: Sandbox,
                                              impostor: Callable[..., Impostor]) -> None:
    server = impostor(200, b"<html><body>Welcome</body></html>", {"Content-Type": "text/html"})
    report = await run_check(tmp_path, settings_of(sb, api_url=server.url))
    failed = assert_stopped_at(report, "Reach Percolate")
    assert "not a Percolate API" in failed.detail and "text/html" in failed.detail
    assert server.hits == 1  # the secret was never sent there


async def test_another_dam_is_not_percolate(sb: Sandbox, tmp_path: Path) -> None:
    report = await run_check(tmp_path, settings_of(sb, api_url=f"{sb.url}/canto"))
    failed = assert_stopped_at(report, "Reach Percolate")
    assert "not a Percolate API" in failed.detail


async def test_token_refused_right_after_issue(fresh_sandbox: Callable[..., Sandbox],
                                               tmp_path: Path) -> None:
    """Tokens that expire at once: the login is expired/revoked, not a wrong secret."""
    sandbox = fresh_sandbox(providers=("percolate",), assets=20,
                            extra={"percolate": {"token_ttl": 0}})
    report = await run_check(tmp_path, settings_of(sandbox))
    failed = assert_stopped_at(report, "Credentials")
    assert "expired or revoked" in failed.detail and "Client Secret" in failed.hint


async def test_wrong_client_secret(sb: Sandbox, tmp_path: Path) -> None:
    report = await run_check(tmp_path, settings_of(sb, client_secret="0123456789abcdef-wrong"))
    failed = assert_stopped_at(report, "Credentials")
    assert "Client Secret" in failed.detail
    assert 'guide step "Client Secret"' in failed.hint and "field to fix: Client Secret" in failed.hint


async def test_wrong_client_id(sb: Sandbox, tmp_path: Path) -> None:
    report = await run_check(tmp_path, settings_of(sb, client_id="client:1"))
    failed = assert_stopped_at(report, "Credentials")
    assert "client:1" in failed.detail
    assert 'guide step "Client ID"' in failed.hint and "field to fix: Client ID" in failed.hint


async def test_revoked_api_client(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=20)
    async with make(tmp_path, settings_of(sandbox)) as provider:
        assert [p async for p in provider.list_assets()]
        assert httpx.post(f"{sandbox.url}/percolate/_revoke").json()["revoked"] is True
        with pytest.raises(AuthError) as info:  # the cached token stops working, no new one
            [p async for p in provider.list_assets()]
        assert "Client ID" in str(info.value)
    report = await run_check(tmp_path, settings_of(sandbox))
    failed = assert_stopped_at(report, "Credentials")
    assert "deleted" in failed.detail and "Client ID" in failed.hint
    httpx.post(f"{sandbox.url}/percolate/_revoke", json={"revoked": False})
    assert (await run_check(tmp_path, settings_of(sandbox))).ok


@pytest.mark.parametrize("which", ["unknown", "another client's"])
async def test_scope_not_accessible(sb: Sandbox, tmp_path: Path, which: str) -> None:
    scope = "license:1" if which == "unknown" else emulator(sb).other_license
    report = await run_check(tmp_path, settings_of(sb, scope_id=scope))
    failed = assert_stopped_at(report, "Scope")
    assert scope in failed.detail and "403" in failed.detail
    assert 'guide step "Scope ID (license ID)"' in failed.hint and "Scope ID" in failed.hint
    assert step(report, "Credentials").status == "ok"


async def test_valid_token_of_another_client_cannot_read_the_scope(sb: Sandbox,
                                                                   tmp_path: Path) -> None:
    other = emulator(sb).other_client
    report = await run_check(tmp_path, settings_of(sb, client_id=other.client_id,
                                                   client_secret=other.secret))
    assert_stopped_at(report, "Scope")


async def test_tag_missing_with_near_misses(sb: Sandbox, tmp_path: Path) -> None:
    report = await run_check(tmp_path, settings_of(sb, tag="GeLaTo"))
    assert not report.ok and report.eligible == 0
    tag_step = step(report, "Tag")
    assert tag_step.status == "failed" and "no tag named exactly 'GeLaTo'" in tag_step.detail
    assert "'Gelato' (" in tag_step.detail and 'guide step "Tag for Import"' in tag_step.hint
    counts = {m.spelling: m.count for m in report.near_misses}
    assert counts["Gelato"] == sb.manifest()["providers"]["percolate"]["eligible"]
    assert counts["gelato"] == emulator(sb).catalog.near_misses()["gelato"]
    eligible = step(report, "Eligible files")
    assert eligible.status == "failed" and TAGGED_WARNING in eligible.detail
    assert TAGGED_WARNING in report.warnings


async def test_tag_exists_but_no_file_carries_it(fresh_sandbox: Callable[..., Sandbox],
                                                 tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=20)
    catalog = emulator(sandbox).catalog
    added = catalog.add("lonely.png", tags=["Lonely"])
    catalog.delete(added.key)
    report = await run_check(tmp_path, settings_of(sandbox, tag="Lonely"))
    assert step(report, "Tag").status == "ok"
    eligible = step(report, "Eligible files")
    assert eligible.status == "failed" and "0 files" in eligible.detail
    assert TAGGED_WARNING in eligible.detail and "Tag for Import" in eligible.hint
    assert not report.ok and report.eligible == 0
    async with make(tmp_path, settings_of(sandbox, tag="Lonely")) as provider:
        assert [p async for p in provider.list_assets()] == []


@pytest.mark.parametrize("status", [503, 429])
async def test_overloaded_impostor_throughout(tmp_path: Path, sb: Sandbox, status: int,
                                              impostor: Callable[..., Impostor]) -> None:
    server = impostor(status, b'{"errors":[]}', {"Content-Type": "application/json",
                                                  "Retry-After": "0"})
    # wait_for: a hang guard only (no clock is asserted); the retries are counted below
    report = await asyncio.wait_for(run_check(tmp_path, settings_of(sb, api_url=server.url)), 60)
    failed = assert_stopped_at(report, "Reach Percolate")
    assert "overloaded or unavailable" in failed.detail and str(status) in failed.detail
    assert server.hits == 3  # first try + 2 quick retries


async def test_sandbox_5xx_throughout(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=20,
                            faults={"percolate": {"fault_rate": 1.0}})
    # wait_for: a hang guard only (no clock is asserted): two quick retries, then the verdict
    report = await asyncio.wait_for(run_check(tmp_path, settings_of(sandbox)), 60)
    failed = assert_stopped_at(report, "Reach Percolate")
    assert "overloaded or unavailable" in failed.detail


async def test_5xx_after_login_via_control_api(fresh_sandbox: Callable[..., Sandbox],
                                               tmp_path: Path) -> None:
    """Faults switched on at run time only for the asset API: the Scope step names it."""
    sandbox = fresh_sandbox(providers=("percolate",), assets=20)
    response = httpx.put(f"{sandbox.url}/_sandbox/percolate/faults",
                         json={"fault_rate": 1.0, "match": "/api/v5/asset"})
    if response.status_code in (404, 405):
        pytest.skip("the sandbox control API (PUT /_sandbox/percolate/faults) is not there yet")
    assert response.status_code < 300, response.text
    report = await run_check(tmp_path, settings_of(sandbox))
    assert step(report, "Credentials").status == "ok"
    failed = assert_stopped_at(report, "Scope")
    assert "overloaded or unavailable" in failed.detail


# --- secrets ------------------------------------------------------------------------------------

async def test_secret_never_in_logs_errors_or_reprs(sb: Sandbox, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = settings_of(sb)
    wrong = "s3cr3t-wrong-value-0042"
    texts: list[str] = []
    async with make(tmp_path, good) as provider:
        report = await provider.check()
        assert report.ok
        async for page in provider.list_assets():
            texts.append(repr(page[0]))
        texts += [repr(provider), repr(provider.tokens), repr(provider.settings),
                  report.model_dump_json()]
        token = provider.tokens._token
    async with make(tmp_path, settings_of(sb, client_secret=wrong)) as provider:
        report = await provider.check()
        texts.append(report.model_dump_json())
        with pytest.raises(AuthError) as info:
            [p async for p in provider.list_assets()]
        texts += [str(info.value), repr(info.value), str(info.value.hint)]
        assert "Client Secret" in str(info.value)
    blob = "\n".join(texts) + caplog.text
    assert caplog.records  # something was logged, and none of it leaks
    for secret in (good["client_secret"], wrong, token or "no-token"):
        assert secret not in blob


async def test_errors_are_damkit_errors(sb: Sandbox, tmp_path: Path) -> None:
    async with make(tmp_path, settings_of(sb, scope_id="license:1")) as provider:
        with pytest.raises(DamkitError) as info:
            [p async for p in provider.list_assets()]
    assert "license:1" in str(info.value) and "Scope ID" in str(info.value.hint)


async def test_remote_asset_shape(sb: Sandbox, tmp_path: Path) -> None:
    async with make(tmp_path, settings_of(sb)) as provider:
        asset = await provider.get_asset("asset:1")
    assert isinstance(asset, RemoteAsset)
    assert asset.name == "../../etc/passwd"  # untrusted: the sync engine sanitises it
    assert asset.extra["scope_id"].startswith("license:") and asset.version is None


async def test_a_tag_whose_longest_word_is_not_first_is_found(fresh_sandbox: Callable[..., Sandbox],
                                                              tmp_path: Path) -> None:
    """Term search looks prefix-based: the tag is found by listing the terms, not by a word."""
    sandbox = fresh_sandbox(providers=("percolate",), assets=20)
    made = sandbox.control("POST", "percolate/assets", json={"name": "big.png",
                                                              "tags": ["Big Summer"]})
    report = await run_check(tmp_path, settings_of(sandbox, tag="Big Summer"))
    assert report.ok and report.eligible == 1
    async with make(tmp_path, settings_of(sandbox, tag="Big Summer")) as provider:
        ids = [a.id async for page in provider.list_assets() for a in page]
    assert ids == [made["key"]]
