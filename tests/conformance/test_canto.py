"""Canto-specific conformance (what the shared suite, test_conformance.py, does not cover). The real Canto connector against the real sandbox over HTTP: listing, lookup, download, token
refresh in use, and every Test Connection diagnosis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from damkit.providers.base import CheckReport, ConnectionContext
from damkit.providers.canto.connector import CantoProvider, parse_canto_time, to_remote
from damkit.providers.canto.settings import CantoSettings
from damkit.sandbox import Sandbox, free_port

from canto_support import emulator, expire, make_ctx, manifest_of, paste_login, revoke, settings_of

STEP_NAMES = ["Reach Canto", "App credentials", "Login", "Keyword", "Near misses"]


@pytest.fixture(scope="module")
def sb(sandbox: Sandbox) -> Sandbox:
    return sandbox


@pytest.fixture
async def ctx(sb: Sandbox, tmp_path: Path) -> ConnectionContext:
    context = make_ctx(sb, tmp_path)
    await paste_login(context)
    return context


async def run_check(ctx: ConnectionContext) -> CheckReport:
    async with CantoProvider(ctx) as provider:
        report = await provider.check()
    assert [s.name for s in report.steps] == STEP_NAMES
    return report


def step(report: CheckReport, name: str) -> Any:
    return next(s for s in report.steps if s.name == name)


def test_to_remote_accepts_numbers_and_strings() -> None:
    item = {"id": "a" * 26, "name": "Logo.PNG", "scheme": "image", "size": 48213,
            "time": "20240102103000123", "keyword": ["Gelato"], "md5": "ABC",
            "url": {"download": "https://t.canto.com/api_binary/v1/image/x"}}
    asset = to_remote(item)
    assert (asset.size, asset.type, asset.checksum) == (48213, "png", "md5:abc")
    assert asset.modified == "2024-01-02T10:30:00.123000Z"
    assert to_remote({**item, "size": "12"}).size == 12
    assert parse_canto_time("garbage") is None


async def test_listing_pages_and_download_bytes(fresh_sandbox: Callable[..., Sandbox],
                                                tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=60)
    context = make_ctx(sb, tmp_path)
    await paste_login(context)
    catalog = sb.state.catalog("canto")
    async with CantoProvider(context) as provider:
        provider.page_size = 7  # type: ignore[misc]
        pages = [page async for page in provider.list_assets()]
        assets = [a for page in pages for a in page]
        assert len(pages) >= 6 and len(assets) == catalog.eligible()
        for asset in assets[:5]:
            data = b"".join([chunk async for chunk in provider.download(asset)])
            source = catalog.get(asset.id)
            assert source is not None
            assert data == catalog.content(source) and len(data) == asset.size
            assert asset.checksum == f"md5:{catalog.md5(source)}"


async def test_get_asset(sb: Sandbox, ctx: ConnectionContext) -> None:
    catalog = sb.state.catalog("canto")
    source = catalog.tagged(catalog.tag)[3]
    async with CantoProvider(ctx) as provider:
        asset = await provider.get_asset(source.key)
        assert asset is not None and asset.id == source.key and provider.has_tag(asset)
        assert asset.name == source.name
        assert await provider.get_asset("z" * 26) is None


async def test_expired_access_token_is_refreshed_during_listing(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=40)
    context = make_ctx(sb, tmp_path)
    await paste_login(context)
    old = context.secrets.get("refresh_token")
    expire(sb)  # the server says 401 although our expires_at is far away
    async with CantoProvider(context) as provider:
        assets = [a async for page in provider.list_assets() for a in page]
        assert provider.tokens.refreshes == 1
    assert len(assets) == sb.state.catalog("canto").eligible()
    assert context.secrets.get("refresh_token") not in (None, old)


# --- Test Connection ------------------------------------------------------------------------------


async def test_check_all_good_with_near_misses(sb: Sandbox, ctx: ConnectionContext) -> None:
    report = await run_check(ctx)
    m = manifest_of(sb)
    assert report.ok and report.eligible == m["eligible"]
    assert [s.status for s in report.steps] == ["ok", "ok", "ok", "ok", "warning"]
    near = sb.state.catalog("canto").near_misses()
    assert {n.spelling: n.count for n in report.near_misses} == near
    detail = step(report, "Near misses").detail
    assert all(f"'{spelling}'" in detail for spelling in near)
    assert all(s.seconds >= 0 for s in report.steps)


async def test_check_reads_one_listing_page_not_files(sb: Sandbox, tmp_path: Path) -> None:
    context = make_ctx(sb, tmp_path, settings=settings_of(sb, keyword="Print"))
    await paste_login(context)
    async with CantoProvider(context) as provider:
        report = await provider.check()
        requests = provider.client.stats["requests"]
    print_count = len(sb.state.catalog("canto").tagged("Print"))
    assert report.ok and report.eligible == print_count and not report.near_misses
    # reach, user, the listing the sync does (one page of 1000: membership proven per file),
    # loose count: never one request per file
    assert requests <= 5


async def test_check_zero_eligible_with_near_misses(sb: Sandbox, tmp_path: Path) -> None:
    context = make_ctx(sb, tmp_path, settings=settings_of(sb, keyword="gelatO"))
    await paste_login(context)
    report = await run_check(context)
    failed = step(report, "Keyword")
    assert not report.ok and report.eligible == 0 and failed.status == "failed"
    assert "There must be at least one file with the keyword" in failed.detail
    assert "Keyword for Import" in (failed.hint or "") and "Set up the keyword" in (failed.hint or "")
    eligible = manifest_of(sb)["eligible"]
    assert {n.spelling: n.count for n in report.near_misses}["Gelato"] == eligible
    assert f"'Gelato' ({eligible})" in failed.detail


async def test_check_zero_eligible(sb: Sandbox, tmp_path: Path) -> None:
    context = make_ctx(sb, tmp_path, settings=settings_of(sb, keyword="No Such Keyword"))
    await paste_login(context)
    report = await run_check(context)
    assert not report.ok and report.eligible == 0 and not report.near_misses
    assert any("at least one file" in w for w in report.warnings)


async def test_check_without_login(sb: Sandbox, tmp_path: Path) -> None:
    report = await run_check(make_ctx(sb, tmp_path, name="no-login"))
    login = step(report, "Login")
    assert not report.ok and login.status == "failed"
    assert "run `damkit auth no-login`" in (login.hint or "")
    assert [s.status for s in report.steps[3:]] == ["skipped", "skipped"]


async def test_check_revoked_login(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20)
    context = make_ctx(sb, tmp_path, name="revoked")
    await paste_login(context)
    revoke(sb)
    report = await run_check(context)
    login = step(report, "Login")
    assert login.status == "failed" and "expired or was revoked" in login.detail
    assert "run `damkit auth revoked`" in (login.hint or "")


async def test_check_expired_login(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    """Access token expired (server side) and refresh token expired too."""
    import asyncio

    sb = fresh_sandbox(providers=("canto",), assets=20,
                       extra={"canto_token_ttl": 0.5, "canto_refresh_ttl": 0.5})
    context = make_ctx(sb, tmp_path, name="old", canto_refresh_skew=0)
    await paste_login(context)
    await asyncio.sleep(0.6)
    report = await run_check(context)
    assert step(report, "Login").status == "failed"
    assert "run `damkit auth old`" in (step(report, "Login").hint or "")


async def test_check_refreshes_an_expired_access_token(fresh_sandbox: Callable[..., Sandbox],
                                                       tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20)
    context = make_ctx(sb, tmp_path)
    await paste_login(context)
    context.secrets.set("expires_at", "0")
    report = await run_check(context)
    assert report.ok and float(context.secrets.get("expires_at") or 0) > 1000


@pytest.mark.parametrize("field, value, names", [("app_id", "0" * 32, "App ID"),
                                                  ("app_secret", "Wrong-Secret-1234", "App Secret")])
async def test_check_bad_app_credentials(sb: Sandbox, tmp_path: Path, field: str, value: str,
                                         names: str) -> None:
    context = make_ctx(sb, tmp_path, settings=settings_of(sb, **{field: value}))
    report = await run_check(context)
    app = step(report, "App credentials")
    # Canto's answer to a made-up code is undocumented: the step warns, the login fails the check
    assert not report.ok and app.status == "warning" and report.first_failure is not None
    assert names in (app.hint or "") and "Create your API key" in (app.hint or "")
    assert value not in app.detail + (app.hint or "")


async def test_check_connection_refused(tmp_path: Path, sb: Sandbox) -> None:
    port = free_port()
    settings = settings_of(sb, domain=f"http://127.0.0.1:{port}/canto")
    report = await run_check(make_ctx(sb, tmp_path, settings=settings))
    reach = step(report, "Reach Canto")
    assert reach.status == "failed" and "cannot connect" in reach.detail
    assert "Canto Domain" in (reach.hint or "")


async def test_check_dns_failure(tmp_path: Path, sb: Sandbox) -> None:
    values = manifest_of(sb)
    values.pop("eligible")
    values["app_secret"] = SecretStr(values["app_secret"])
    # .invalid never resolves (RFC 2606); built unvalidated since it is not a Canto region.
    settings = CantoSettings.model_construct(**{**values, "domain": "https://acme.canto.invalid"})
    report = await run_check(make_ctx(sb, tmp_path, settings=settings))
    reach = step(report, "Reach Canto")
    assert reach.status == "failed" and "acme.canto.invalid" in reach.detail
    assert "Canto Domain" in (reach.hint or "")


async def test_check_tls_failure(tmp_path: Path, sb: Sandbox) -> None:
    settings = settings_of(sb, domain=f"https://127.0.0.1:{sb.port}/canto")  # plain-HTTP server
    report = await run_check(make_ctx(sb, tmp_path, settings=settings))
    reach = step(report, "Reach Canto")
    assert reach.status == "failed" and "TLS" in reach.detail


async def test_check_not_a_canto(tmp_path: Path, sb: Sandbox) -> None:
    settings = settings_of(sb, domain=f"{sb.url}/percolate")  # another API on the same port
    report = await run_check(make_ctx(sb, tmp_path, settings=settings))
    reach = step(report, "Reach Canto")
    assert reach.status == "failed" and "not a Canto" in reach.detail
    assert step(report, "App credentials").status == "skipped"


@pytest.mark.parametrize("faults, words", [({"burst_429": 1000, "retry_after": 0}, "429"),
                                           ({"fault_rate": 1.0}, "kept answering 5")])
async def test_check_provider_failing_throughout(fresh_sandbox: Callable[..., Sandbox],
                                                 tmp_path: Path, faults: dict[str, Any],
                                                 words: str) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20)
    context = make_ctx(sb, tmp_path)
    await paste_login(context)
    sb.control("PUT", "canto/faults", json=faults)
    report = await run_check(context)
    reach = step(report, "Reach Canto")
    assert not report.ok and reach.status == "failed" and words in reach.detail
    assert reach.hint and ("rate limiting" in reach.hint or "failing on its side" in reach.hint)
    assert report.seconds < 60  # a hang guard: the quick policy's retries end in seconds


async def test_no_secret_in_logs_or_reports(sb: Sandbox, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    context = make_ctx(sb, tmp_path, canto_refresh_skew=10**9)  # force refreshes on the way
    await paste_login(context)
    caplog.set_level(logging.DEBUG)
    first = dict(context.secrets.values)
    async with CantoProvider(context) as provider:
        report = await provider.check()
        assets = [a async for page in provider.list_assets() for a in page]
        _ = b"".join([c async for c in provider.download(assets[0])])
    bad = make_ctx(sb, tmp_path / "bad", settings=settings_of(sb, app_secret="Leaky-Secret-999"))
    await paste_login_may_fail(bad)
    bad_report = await run_check(bad)
    text = caplog.text + report.model_dump_json() + bad_report.model_dump_json()
    secrets = {manifest_of(sb)["app_secret"], "Leaky-Secret-999", first["access_token"],
               first["refresh_token"], context.secrets.values["access_token"],
               context.secrets.values["refresh_token"]}
    assert len(secrets) == 6
    for value in secrets:
        assert value not in text


async def paste_login_may_fail(ctx: ConnectionContext) -> None:
    try:
        await paste_login(ctx)
    except Exception as exc:  # bad app secret: the exchange fails, its text must be clean
        assert "Leaky-Secret-999" not in str(exc) + repr(exc)
    else:
        raise AssertionError("a login with a bad App Secret must fail")


def test_emulator_counts_refreshes(sb: Sandbox) -> None:
    assert set(emulator(sb).stats) >= {"token", "refresh", "authorization_code"}
    assert httpx.get(f"{sb.url}/canto/api/v1/user").status_code == 404
