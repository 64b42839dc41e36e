"""Canto OAuth login (loopback and paste), refresh, rotation, the cross-process refresh lock and
secret hygiene, against the real sandbox over HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from damkit.providers.canto.auth import (
    CALLBACK_PATH,
    CantoAuthError,
    CantoLogin,
    CantoOAuth,
    CantoTokens,
    oauth_base,
    parse_redirect,
)
from damkit.sandbox import Sandbox
from damkit.sandbox.canto import consent
from damkit.secrets import resolve_secret_store

from canto_support import emulator, expire, make_ctx, manifest_of, paste_login, revoke

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sb(sandbox: Sandbox) -> Sandbox:
    return sandbox


def test_oauth_base_from_domain() -> None:
    assert oauth_base("https://acme.canto.com") == "https://oauth.canto.com/oauth/api/oauth2"
    assert oauth_base("https://acme.ca.canto.com") == "https://oauth.ca.canto.com/oauth/api/oauth2"
    assert oauth_base("https://x.canto.global") == "https://oauth.canto.global/oauth/api/oauth2"
    assert oauth_base("http://127.0.0.1:8123/canto") == "http://127.0.0.1:8123/canto/oauth/api/oauth2"


def test_parse_redirect_forms() -> None:
    full = parse_redirect("  http://127.0.0.1:8976/canto/callback?code=abc123&state=s1 \n")
    assert (full.code, full.state, full.error) == ("abc123", "s1", None)
    assert parse_redirect("?code=c0de&state=s2").state == "s2"
    assert parse_redirect("code=c0de&state=s3").code == "c0de"
    bare = parse_redirect("c0debare")
    assert bare.code == "c0debare" and bare.state is None
    denied = parse_redirect("http://127.0.0.1/cb?error=access_denied&state=s4")
    assert denied.error == "access_denied" and denied.code is None
    with pytest.raises(CantoAuthError):
        parse_redirect("   ")
    with pytest.raises(CantoAuthError):
        parse_redirect("two words")


def test_authorize_url_has_state_pkce_and_loopback_redirect(sb: Sandbox, tmp_path: Path) -> None:
    ctx = make_ctx(sb, tmp_path)
    login = CantoLogin(ctx)
    request = login.start()
    q = dict(parse_qsl(urlsplit(request.authorize_url).query))
    assert request.authorize_url.startswith(f"{sb.url}/canto/oauth/api/oauth2/authorize?")
    assert q["app_id"] == manifest_of(sb)["app_id"] and q["response_type"] == "code"
    assert q["state"] == request.state and len(request.state) >= 40
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["redirect_uri"] == request.redirect_uri == f"http://127.0.0.1:8976{CALLBACK_PATH}"
    assert "app_secret" not in request.authorize_url
    second = login.start()
    assert second.state != request.state


async def test_paste_login_saves_tokens(sb: Sandbox, tmp_path: Path) -> None:
    ctx = make_ctx(sb, tmp_path)
    location = await paste_login(ctx)
    assert "code=" in location
    stored = ctx.secrets.values
    assert set(stored) == {"access_token", "refresh_token", "expires_at"}
    assert float(stored["expires_at"]) > time.time() + 24 * 3600
    user = httpx.get(f"{sb.url}/canto/api/v1/user",
                     headers={"Authorization": f"Bearer {stored['access_token']}"})
    assert user.status_code == 200


async def test_paste_checks_state_and_is_single_use(sb: Sandbox, tmp_path: Path) -> None:
    ctx = make_ctx(sb, tmp_path)
    async with CantoLogin(ctx, port=0) as login:
        first = login.start()
        second = login.start()  # a newer attempt replaces the first
        location = await asyncio.to_thread(consent, first.authorize_url)
        with pytest.raises(CantoAuthError) as info:
            await login.complete(location)
        assert info.value.reason == "state"
        assert ctx.secrets.values == {}
        good = await asyncio.to_thread(consent, second.authorize_url)
        await login.complete(good)
        assert ctx.secrets.get("refresh_token")
        with pytest.raises(CantoAuthError) as again:
            await login.complete(good)
        assert again.value.reason == "state"


async def test_paste_bare_code_and_deny(sb: Sandbox, tmp_path: Path) -> None:
    ctx = make_ctx(sb, tmp_path)
    async with CantoLogin(ctx, port=0) as login:
        request = login.start()
        location = await asyncio.to_thread(consent, request.authorize_url)
        code = dict(parse_qsl(urlsplit(location).query))["code"]
        await login.complete(code)  # PKCE still binds the code to this login
        assert ctx.secrets.get("access_token")
        denied = await asyncio.to_thread(consent, login.start().authorize_url, allow=False)
        with pytest.raises(CantoAuthError) as info:
            await login.complete(denied)
        assert info.value.reason == "denied"


async def test_paste_with_bad_app_secret_names_the_field(sb: Sandbox, tmp_path: Path) -> None:
    from canto_support import settings_of

    ctx = make_ctx(sb, tmp_path, settings=settings_of(sb, app_secret="WrongSecret-123456"))
    async with CantoLogin(ctx, port=0) as login:
        location = await asyncio.to_thread(consent, login.start().authorize_url)
        with pytest.raises(CantoAuthError) as info:
            await login.complete(location)
    assert info.value.reason == "app"
    assert "App Secret" in str(info.value) and "Create your API key" in str(info.value)
    assert "WrongSecret-123456" not in str(info.value)


async def test_loopback_login_test_plays_the_browser(sb: Sandbox, tmp_path: Path) -> None:
    ctx = make_ctx(sb, tmp_path)
    async with CantoLogin(ctx) as login:
        urls: asyncio.Queue = asyncio.Queue()
        task = asyncio.create_task(login.run_loopback(open_browser=False, port=0, timeout=20,
                                                      on_url=urls.put_nowait))
        request = await asyncio.wait_for(urls.get(), 5)
        assert request.redirect_uri.startswith("http://127.0.0.1:")
        assert request.redirect_uri.endswith(CALLBACK_PATH)
        # A forged redirect (wrong state) is refused and does not end the login.
        forged = await asyncio.to_thread(httpx.get, request.redirect_uri + "?code=x&state=forged")
        assert forged.status_code == 400
        # The browser: authorize page, Allow, then follow the redirect to the local listener.
        location = await asyncio.to_thread(consent, request.authorize_url)
        assert location.startswith(request.redirect_uri)
        landed = await asyncio.to_thread(httpx.get, location)
        assert landed.status_code == 200 and "close this window" in landed.text
        opened = await asyncio.wait_for(task, 10)
    assert opened is False
    assert ctx.secrets.get("refresh_token") and ctx.secrets.get("access_token")


async def test_loopback_times_out(sb: Sandbox, tmp_path: Path) -> None:
    async with CantoLogin(make_ctx(sb, tmp_path)) as login:
        with pytest.raises(TimeoutError):
            await login.run_loopback(open_browser=False, port=0, timeout=0.3)


async def test_refresh_on_expiry_rotates_and_persists(fresh_sandbox: Callable[..., Sandbox],
                                                      tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20, extra={"canto_token_ttl": 1})
    ctx = make_ctx(sb, tmp_path, canto_refresh_skew=0)
    await paste_login(ctx)
    old_refresh, old_access = ctx.secrets.get("refresh_token"), ctx.secrets.get("access_token")
    oauth = CantoOAuth(ctx)
    tokens = CantoTokens(ctx, oauth)
    try:
        assert await tokens.access_token() == old_access  # still valid: no refresh
        assert tokens.refreshes == 0
        await asyncio.sleep(1.1)
        fresh = await tokens.access_token()
        assert tokens.refreshes == 1 and fresh != old_access
        assert ctx.secrets.get("access_token") == fresh
        assert ctx.secrets.get("refresh_token") not in (None, old_refresh)
        user = httpx.get(f"{sb.url}/canto/api/v1/user", headers={"Authorization": f"Bearer {fresh}"})
        assert user.status_code == 200
        # The old refresh token died with the rotation.
        m = manifest_of(sb)
        dead = httpx.post(f"{m['domain']}/oauth/api/oauth2/token", data={
            "app_id": m["app_id"], "app_secret": m["app_secret"], "grant_type": "refresh_token",
            "refresh_token": old_refresh})
        assert dead.status_code == 400
    finally:
        await oauth.aclose()


async def test_rejected_token_refreshes_once_unless_fresh_elsewhere(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20)  # expire() touches every token
    ctx = make_ctx(sb, tmp_path)
    await paste_login(ctx)
    oauth = CantoOAuth(ctx)
    try:
        a, b = CantoTokens(ctx, oauth), CantoTokens(ctx, oauth)
        token = await a.access_token()
        assert await b.access_token() == token
        expire(sb)
        renewed = await a.refresh(rejected=token)
        assert renewed.access_token != token and a.refreshes == 1
        # b was refused the same old token: the store already holds a newer one, so no refresh.
        seen = await b.refresh(rejected=token)
        assert seen.access_token == renewed.access_token and b.refreshes == 0
    finally:
        await oauth.aclose()


async def test_revoked_login_says_run_damkit_auth(fresh_sandbox: Callable[..., Sandbox],
                                                  tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20)  # revoke() kills every token
    ctx = make_ctx(sb, tmp_path, name="shop-eu")
    await paste_login(ctx)
    revoke(sb)
    oauth = CantoOAuth(ctx)
    try:
        with pytest.raises(CantoAuthError) as info:
            await CantoTokens(ctx, oauth).refresh(rejected=ctx.secrets.get("access_token"))
    finally:
        await oauth.aclose()
    assert info.value.reason == "login" and "damkit auth shop-eu" in str(info.value)


async def test_no_login_yet(sb: Sandbox, tmp_path: Path) -> None:
    ctx = make_ctx(sb, tmp_path)
    oauth = CantoOAuth(ctx)
    try:
        with pytest.raises(CantoAuthError) as info:
            await CantoTokens(ctx, oauth).access_token()
    finally:
        await oauth.aclose()
    assert info.value.reason == "missing" and "damkit auth acme" in str(info.value)


WORKER = textwrap.dedent("""
    import asyncio, json, sys, time
    from pathlib import Path
    from damkit.http import HttpClient
    from damkit.providers.base import ConnectionContext
    from damkit.providers.canto.tokens import CantoOAuth, CantoTokens
    from damkit.providers.canto.settings import CantoSettings
    from damkit.secrets import resolve_secret_store

    root, go, settings = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    store = resolve_secret_store(root, env={"DAMKIT_SECRET_STORE": "plaintext"},
                                 allow_plaintext=True)

    class View:
        def get(self, f): return store.get("acme", f)
        def set(self, f, v): store.set("acme", f, v)
        def delete(self, f): store.delete("acme", f)

    async def main():
        ctx = ConnectionContext(name="acme", settings=CantoSettings(**settings), secrets=View(),
                                state_dir=root / "state", rate=None)
        tokens = CantoTokens(ctx, CantoOAuth(ctx))
        while not go.exists():
            time.sleep(0.005)
        token = await tokens.access_token()
        async with HttpClient(settings["domain"]) as client:
            response = await client.request("GET", "/api/v1/user",
                                            headers={"Authorization": "Bearer " + token})
        print(json.dumps({"refreshes": tokens.refreshes, "status": response.status_code}))

    asyncio.run(main())
""")


async def test_two_processes_refresh_once(sb: Sandbox, tmp_path: Path) -> None:
    """Both processes find the stored token expired; the lock lets one refresh, and the other
    re-reads the rotated tokens instead of spending the (now dead) refresh token."""
    store = resolve_secret_store(tmp_path, env={"DAMKIT_SECRET_STORE": "plaintext"},
                                 allow_plaintext=True)

    class View:
        def get(self, f: str) -> str | None:
            return store.get("acme", f)

        def set(self, f: str, v: str) -> None:
            store.set("acme", f, v)

        def delete(self, f: str) -> None:
            store.delete("acme", f)

    ctx = make_ctx(sb, tmp_path, secrets=View())
    await paste_login(ctx)
    store.set("acme", "expires_at", "0")  # both workers must think a refresh is due
    settings = manifest_of(sb)
    settings.pop("eligible")
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = emulator(sb).stats["refresh"]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(go),
                               json.dumps(settings)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    await asyncio.sleep(0.8)  # both are waiting for "go"
    go.touch()
    results = []
    for proc in procs:
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["status"] for r in results] == [200, 200]
    assert sum(r["refreshes"] for r in results) == 1
    assert emulator(sb).stats["refresh"] - before == 1
    assert float(store.get("acme", "expires_at") or 0) > time.time()


async def test_no_secret_in_logs_or_errors(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20)
    ctx = make_ctx(sb, tmp_path, canto_refresh_skew=10**9)  # every use refreshes
    async with CantoLogin(ctx, port=0) as login:
        request = login.start()
        location = await asyncio.to_thread(consent, request.authorize_url)  # the browser's part
        caplog.set_level(logging.DEBUG)  # damkit's part, every logger at DEBUG
        await login.complete(location)
        verifier = login._pending  # consumed
        assert verifier is None
        tokens = login.tokens
        first = dict(ctx.secrets.values)
        await tokens.access_token()
        errors = []
        revoke(sb)
        try:
            await tokens.access_token()
        except CantoAuthError as exc:
            errors.append(str(exc) + repr(exc))
    code = dict(parse_qsl(urlsplit(location).query))["code"]
    values = {code, manifest_of(sb)["app_secret"], *first.values(), *ctx.secrets.values.values()}
    values.discard(first["expires_at"])
    assert errors, "the revoked login must fail"
    text = caplog.text + "".join(errors) + repr(ctx.secrets.values.keys())
    assert "refreshed" in caplog.text or tokens.refreshes >= 1
    for value in values:
        assert value not in text


async def test_login_for_cli_paste_way_with_a_workspace(sb: Sandbox, tmp_path: Path) -> None:
    """`damkit auth NAME --no-browser`: print the URL, read the pasted address (a wrong one
    first), save the tokens in the workspace's secret store; then the provider checks ok."""
    from damkit.cli import login_flow
    from damkit.workspace import open_workspace

    store = resolve_secret_store(tmp_path / "ws", env={"DAMKIT_SECRET_STORE": "plaintext"},
                                 allow_plaintext=True)
    ws = open_workspace(tmp_path / "ws", secret_store=store)
    values = manifest_of(sb)
    values.pop("eligible")
    ws.add_connection("canto", "acme", values)
    shown: list[str] = []
    answers: list[str] = []

    def read_line(prompt: str) -> str:
        url = next(line.strip() for text in shown for line in text.splitlines()
                   if "/oauth/api/oauth2/authorize?" in line)
        if not answers:
            answers.append("http://127.0.0.1:8976/canto/callback?code=x&state=wrong")
        else:
            answers.append(consent(url))
        return answers[-1]

    await login_flow(ws, "acme", open_browser=False, read_line=read_line, echo=shown.append)
    assert len(answers) == 2 and any("Try again" in s for s in shown)
    assert store.get("acme", "refresh_token") and store.get("acme", "access_token")
    async with ws.provider("acme", rate=1000.0) as provider:
        report = await provider.check()
    assert report.ok and report.eligible == manifest_of(sb)["eligible"]
    assert all(store.get("acme", f) not in "".join(shown) for f in ("access_token", "refresh_token"))
    ws.close()
