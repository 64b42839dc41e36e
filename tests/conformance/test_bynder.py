"""Bynder-specific conformance (what the shared suite, test_conformance.py, does not cover). The real Bynder connector over real HTTP against the sandbox: every check diagnosis, each auth
mode, listing, download, backlink, and secrets kept out of logs and messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from damkit.errors import AuthError, DamkitError
from damkit.providers.base import CheckReport, ConnectionContext, RemoteAsset
from damkit.providers.bynder.auth import ClientCredentialsAuth
from damkit.providers.bynder.connector import BynderProvider
from damkit.providers.bynder.settings import BynderSettings
from damkit.sandbox import Sandbox, free_port
from damkit.sandbox.bynder import BynderEmulator

from provider_support import MemorySecrets

KEYS_STEP = 'Guide step "Bynder API credentials"'




@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(providers=("bynder",), assets=300) as sandbox:
        yield sandbox


def manifest(sb: Sandbox) -> dict[str, Any]:
    return dict(httpx.get(sb.manifest_url).json()["providers"]["bynder"])


def emulator(sb: Sandbox) -> BynderEmulator:
    emu = sb.state.emulators["bynder"]
    assert isinstance(emu, BynderEmulator)
    return emu


def provider(sb: Sandbox, tmp_path: Path, *, options: dict[str, Any] | None = None,
             **override: Any) -> BynderProvider:
    values = {k: v for k, v in manifest(sb).items() if k != "eligible"}
    values.update(override)
    settings = BynderSettings(**values)
    ctx = ConnectionContext(name="by", settings=settings, secrets=MemorySecrets(),
                            state_dir=tmp_path, options=options or {})
    return BynderProvider(ctx)


def step(report: CheckReport, name: str) -> Any:
    return next(s for s in report.steps if s.name == name)


def oauth2_values(sb: Sandbox) -> dict[str, Any]:
    creds = emulator(sb).creds
    return {"auth": "oauth2_client_credentials", "client_id": creds.client_id,
            "client_secret": creds.client_secret}


# --- check: success in every auth mode ----------------------------------------------------------

@pytest.mark.parametrize("mode", ["oauth1", "permanent_token", "oauth2_client_credentials"])
async def test_check_ok_in_each_auth_mode(sb: Sandbox, tmp_path: Path, mode: str) -> None:
    extra = oauth2_values(sb) if mode == "oauth2_client_credentials" else {"auth": mode}
    async with provider(sb, tmp_path, backlink=True, **extra) as p:
        report = await p.check()
    assert report.ok, report.steps
    assert report.eligible == manifest(sb)["eligible"]
    assert [s.name for s in report.steps] == ["Reach Bynder", "Credentials", "Permissions",
                                              "Tagged files", "Near misses", "Download"]
    assert step(report, "Permissions").detail.startswith("found: Metaproperty management")
    near = sb.state.catalog("bynder").near_misses()
    assert {n.spelling: n.count for n in report.near_misses} == near
    assert step(report, "Near misses").status == "warning"


async def test_oauth2_token_fetched_once_and_reused(sb: Sandbox, tmp_path: Path) -> None:
    async with provider(sb, tmp_path, **oauth2_values(sb)) as p:
        assert await p.count_tagged() == manifest(sb)["eligible"]
        assert await p.get_asset(sb.state.catalog("bynder").order[0]) is not None
        assert isinstance(p.auth, ClientCredentialsAuth) and p.auth.fetched == 1


# --- check: diagnoses ----------------------------------------------------------------------------

@pytest.mark.parametrize(("override", "says", "field"), [
    ({"consumer_key": "AAAAAAAA-AAAA-AAAA-AAAAAAAAAAAAAAAA"}, "Consumer key", "consumer_key"),
    ({"token_key": "BBBBBBBB-BBBB-BBBB-BBBBBBBBBBBBBBBB"}, "Token key", "token_key"),
    ({"consumer_secret": "not-the-secret"}, "signature is wrong", "consumer_secret"),
    ({"token_secret": "not-the-secret"}, "signature is wrong", "token_secret"),
])
async def test_check_names_the_wrong_key(sb: Sandbox, tmp_path: Path, override: dict[str, str],
                                         says: str, field: str) -> None:
    async with provider(sb, tmp_path, **override) as p:
        report = await p.check()
    assert not report.ok
    creds = step(report, "Credentials")
    assert creds.status == "failed" and says in creds.detail
    assert creds.hint and KEYS_STEP in creds.hint and f"({field})" in creds.hint
    assert step(report, "Reach Bynder").status == "ok"
    after = report.steps[[s.name for s in report.steps].index("Credentials") + 1:]
    assert after and all(s.status == "skipped" for s in after)  # nothing else is tried


@pytest.mark.parametrize(("override", "field"), [
    ({"client_id": "unknown-client"}, "client_id"),
    ({"client_secret": "wrong-client-secret"}, "client_secret"),
])
async def test_check_names_the_wrong_oauth2_value(sb: Sandbox, tmp_path: Path,
                                                  override: dict[str, str], field: str) -> None:
    values = {**oauth2_values(sb), **override}
    async with provider(sb, tmp_path, **values) as p:
        report = await p.check()
    creds = step(report, "Credentials")
    assert creds.status == "failed" and f"({field})" in (creds.hint or "")


async def test_check_revoked_permanent_token(sb: Sandbox, tmp_path: Path) -> None:
    revoke = f"{sb.url}/bynder/_sandbox/revoke"
    httpx.post(revoke, json={"credential": "permanent_token"})
    try:
        async with provider(sb, tmp_path, auth="permanent_token") as p:
            report = await p.check()
    finally:
        httpx.post(revoke, json={"credential": "permanent_token", "revoked": False})
    creds = step(report, "Credentials")
    assert creds.status == "failed" and "revoked" in creds.detail
    assert "(permanent_token)" in (creds.hint or "")


async def test_check_missing_permission_listed(tmp_path: Path) -> None:
    extra = {"bynder_missing_permissions": ["Edit media"]}
    with Sandbox(providers=("bynder",), assets=30, extra=extra) as sandbox:
        async with provider(sandbox, tmp_path, backlink=True) as p:
            report = await p.check()
        async with provider(sandbox, tmp_path, backlink=False) as p:
            without_backlink = await p.check()
    perms = step(report, "Permissions")
    # role names are in no public source: never "missing" on their account, only not verified
    assert report.ok and perms.status == "warning"
    assert "not verified: Edit media" in perms.detail and "Download original" in perms.detail
    assert perms.hint and "Enable backlink" in perms.hint
    assert without_backlink.ok and step(without_backlink, "Permissions").status == "skipped"
    assert report.permissions == {"Metaproperty management": True, "Permissions management": True,
                                  "Edit media": None, "Download original": True}
    assert without_backlink.permissions is None


async def test_check_without_permissions_management_or_download(tmp_path: Path) -> None:
    extra = {"bynder_missing_permissions": ["Permissions management", "Download original"]}
    with Sandbox(providers=("bynder",), assets=30, extra=extra) as sandbox:
        async with provider(sandbox, tmp_path, backlink=True) as p:
            report = await p.check()
    assert "not verified: " in step(report, "Permissions").detail
    assert report.permissions is not None and report.permissions["Permissions management"] is None
    assert report.permissions["Edit media"] is None  # not verifiable without the profile
    assert report.permissions["Download original"] is False  # the download probe was refused
    download = step(report, "Download")
    assert download.status == "failed" and "Download original" in download.detail
    assert not report.ok


async def test_check_zero_eligible_reports_near_misses(sb: Sandbox, tmp_path: Path) -> None:
    async with provider(sb, tmp_path, tag="gElAtO") as p:
        report = await p.check()
    tagged = step(report, "Tagged files")
    assert not report.ok and report.eligible == 0 and tagged.status == "failed"
    assert "'Gelato' (" in tagged.detail and "Tag the files" in (tagged.hint or "")
    assert "Gelato" in {n.spelling for n in report.near_misses}
    assert step(report, "Download").status == "skipped"


async def test_check_zero_eligible_no_near_miss(sb: Sandbox, tmp_path: Path) -> None:
    async with provider(sb, tmp_path, tag="NoSuchTag-42") as p:
        report = await p.check()
    assert not report.ok and report.eligible == 0 and report.near_misses == []
    assert step(report, "Near misses").status == "ok"


async def test_check_not_resolving(sb: Sandbox, tmp_path: Path) -> None:
    async with provider(sb, tmp_path, domain="acme-does-not-exist.invalid",
                        options={"retries": 0}) as p:
        report = await p.check()
    reach = step(report, "Reach Bynder")
    assert reach.status == "failed" and "does not resolve" in reach.detail
    assert "Bynder Domain and tag" in (reach.hint or "") and "(domain)" in (reach.hint or "")
    assert all(s.status == "skipped" for s in report.steps[1:])


async def test_check_nothing_listening(sb: Sandbox, tmp_path: Path) -> None:
    async with provider(sb, tmp_path, domain=f"http://127.0.0.1:{free_port()}/bynder",
                        options={"retries": 0}) as p:
        report = await p.check()
    reach = step(report, "Reach Bynder")
    assert reach.status == "failed" and "nothing answers" in reach.detail


async def test_check_tls_failure(sb: Sandbox, tmp_path: Path) -> None:
    https = sb.url.replace("http://", "https://") + "/bynder"  # the sandbox speaks plain http
    async with provider(sb, tmp_path, domain=https, options={"retries": 0}) as p:
        report = await p.check()
    reach = step(report, "Reach Bynder")
    assert reach.status == "failed" and "TLS" in reach.detail


async def test_check_not_a_bynder_portal(sb: Sandbox, tmp_path: Path) -> None:
    async with provider(sb, tmp_path, domain=f"{sb.url}/not-bynder") as p:
        report = await p.check()
    reach = step(report, "Reach Bynder")
    assert reach.status == "failed" and "not like a Bynder portal" in reach.detail


@pytest.mark.parametrize(("faults", "says"), [
    ({"burst_429": 1000, "retry_after": 0}, "429"),
    ({"fault_rate": 1.0}, "after every retry"),
])
async def test_check_throttled_or_failing_throughout(tmp_path: Path, faults: dict[str, Any],
                                                     says: str) -> None:
    with Sandbox(providers=("bynder",), assets=20, faults={"bynder": faults}) as sandbox:
        async with provider(sandbox, tmp_path, options={"backoff": 0.01}) as p:
            report = await p.check()
            tries = p.http.stats["requests"]
    reach = step(report, "Reach Bynder")
    assert tries == 3  # the check retries twice, then tells
    assert not report.ok and reach.status == "failed" and says in reach.detail
    assert reach.hint


async def test_check_recovers_from_a_short_429_burst(tmp_path: Path) -> None:
    faults = {"bynder": {"burst_429": 2, "retry_after": 0}}
    with Sandbox(providers=("bynder",), assets=20, faults=faults) as sandbox:
        async with provider(sandbox, tmp_path, options={"backoff": 0.01}) as p:
            report = await p.check()
    assert report.ok and p.http.stats["429"] == 2


# --- listing, single asset, download ------------------------------------------------------------

async def collect(p: BynderProvider) -> list[RemoteAsset]:
    out: list[RemoteAsset] = []
    async for page in p.list_assets():
        out += page
    return out


async def test_get_asset_and_unknown(sb: Sandbox, tmp_path: Path) -> None:
    key = sb.state.catalog("bynder").order[12]
    async with provider(sb, tmp_path, auth="permanent_token") as p:
        got = await p.get_asset(key)
        assert got is not None and got.id == key
        assert got.name == sb.state.catalog("bynder").assets[key].name
        assert await p.get_asset("00000000-0000-0000-0000000000000000") is None


async def test_archived_asset_is_no_longer_tagged(sb: Sandbox, tmp_path: Path) -> None:
    made = sb.control("POST", "bynder/assets", json={"name": "old.png", "tags": ["Gelato"]})
    async with provider(sb, tmp_path) as p:
        live = await p.get_asset(made["key"])
        assert live is not None and p.has_tag(live)
        sb.control("POST", f"bynder/assets/{made['key']}/archive", json={"archived": True})
        archived = await p.get_asset(made["key"])
        assert archived is not None and archived.extra["archived"] and not p.has_tag(archived)
        sb.control("POST", f"bynder/assets/{made['key']}/delete")
        assert await p.get_asset(made["key"]) is None


# --- backlink ------------------------------------------------------------------------------------

async def test_backlink_created_once_written_and_read(sb: Sandbox, tmp_path: Path) -> None:
    label = "Library URL"
    emu = emulator(sb)
    before = len(emu.metaproperties)
    key = sb.state.catalog("bynder").tagged("Gelato")[9].key
    url = "https://library.example/assets/9?from=bynder&x=1"
    async with provider(sb, tmp_path, backlink=True) as p:
        pid = await p.ensure_backlink_property(label)
        assert await p.ensure_backlink_property(label) == pid
        await p.write_backlink(key, pid, url)
        assert await p.read_metaproperty(key, "library_url") == url
    async with provider(sb, tmp_path, auth="permanent_token") as other:  # a new process
        assert await other.ensure_backlink_property(label) == pid
    assert len(emu.metaproperties) == before + 1
    created = emu.metaproperties[pid]
    assert created["type"] == "text" and created["label"] == label


async def test_backlink_needs_edit_media(sb: Sandbox, tmp_path: Path) -> None:
    control = f"{sb.url}/bynder/_sandbox/permissions"
    httpx.post(control, json={"missing": ["Edit media", "Metaproperty management"]})
    try:
        async with provider(sb, tmp_path) as p:
            with pytest.raises(AuthError) as err:
                await p.ensure_backlink_property("Another label")
            key = sb.state.catalog("bynder").order[1]
            with pytest.raises(AuthError):
                await p.write_backlink(key, "ANY", "https://x.example/")
    finally:
        httpx.post(control, json={"missing": []})
    assert "permission" in str(err.value)


# --- secrets -------------------------------------------------------------------------------------

async def test_secrets_never_in_logs_or_errors(sb: Sandbox, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    m = manifest(sb)
    secrets = [m["consumer_key"], m["consumer_secret"], m["token_key"], m["token_secret"],
               m["permanent_token"], emulator(sb).creds.client_secret]
    texts: list[str] = []
    async with provider(sb, tmp_path, backlink=True) as p:
        texts.append(repr(p) + repr(p.auth) + str(await p.check()))
        assets = await collect(p)
        async for _ in p.download(assets[0]):
            pass
    async with provider(sb, tmp_path, token_secret="a-wrong-token-secret-value") as bad:
        texts.append(str(await bad.check()))
        with pytest.raises(DamkitError) as err:
            await collect(bad)
        texts.append(str(err.value) + repr(err.value))
    async with provider(sb, tmp_path, **{**oauth2_values(sb), "client_secret": "wrong-secret-x"}) as o:
        with pytest.raises(DamkitError) as err2:
            await o.count_tagged()
        texts.append(str(err2.value))
    assert "signature" in texts[-2] and "client" in texts[-1].lower()
    everything = caplog.text + "\n".join(texts)
    assert "HTTP Request" in caplog.text or "127.0.0.1" in everything  # something was logged
    for secret in [*secrets, "a-wrong-token-secret-value", "wrong-secret-x"]:
        assert secret not in everything


async def test_unknown_role_names_never_fail_a_working_backlink(sb: Sandbox, tmp_path: Path) -> None:
    """Role names are in no public source: other names leave the permissions "not verified"."""
    try:
        sb.set_switches("bynder", "unknown_role_names")
        async with provider(sb, tmp_path, backlink=True) as p:
            report = await p.check()
    finally:
        sb.set_switches("bynder")
    perms = step(report, "Permissions")
    assert report.ok and perms.status == "warning" and "not verified" in perms.detail
    assert report.permissions == {name: None for name in report.permissions or {}}
    assert report.permissions and len(report.permissions) == 4
