"""Canto tokens: the token endpoint, the stored login, refresh and the bearer auth (core, no UI).

Tokens live in the connection's secret store as ``access_token``, ``refresh_token`` and
``expires_at`` (epoch seconds). :class:`CantoTokens` refreshes ``REFRESH_SKEW`` seconds before
expiry (``ctx.options["canto_refresh_skew"]`` overrides it) and once after a 401, under an
inter-process file lock in ``ctx.state_dir`` (re-reading the store after taking it, so two
processes refresh once), and saves a rotated refresh token before the new access token is used.

Token requests carry their parameters in a form body (Canto also takes them in the query string,
but a query string ends up in logs and exception texts). No token or secret is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import httpx

from ...errors import AuthError, HttpError
from ...http import HttpClient
from ...oslock import FileLock, LockTimeout
from ...redact import redact, register_secret
from ...settings import is_loopback_host
from ..base import ConnectionContext
from .settings import CantoSettings
from .steps import STEPS

log = logging.getLogger("damkit.canto.tokens")

REFRESH_SKEW = 60.0  # refresh this many seconds before expires_at
LOCK_TIMEOUT = 60.0
DEFAULT_EXPIRES_IN = 30 * 24 * 3600  # Canto's tokens last about 30 days (canto.md §1.2)

Reason = Literal["app", "login", "missing", "denied", "state", "other"]


def step_title(step_id: str) -> str:
    return next((s.title for s in STEPS if s.id == step_id), step_id)


def auth_hint(name: str) -> str:
    return f"run `damkit auth {name}` (guide step '{step_title('canto.login')}')"


APP_HINT = (f"check App ID and App Secret (guide step '{step_title('canto.api-key')}': Edit the "
            "key in Canto to copy the full App Secret)")


class CantoAuthError(AuthError):
    """An OAuth failure, with ``reason``: ``app`` (App ID / App Secret refused), ``login`` (code or
    refresh token refused: expired or revoked), ``missing`` (never logged in), ``denied`` (the user
    clicked Deny), ``state`` (the pasted address belongs to another login), ``other``."""

    def __init__(self, message: str, *, reason: Reason, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason: Reason = reason


def oauth_base(domain: str) -> str:
    """Canto's OAuth endpoint base for a tenant domain.

    ``https://acme.canto.com`` → ``https://oauth.canto.com/oauth/api/oauth2`` (the region is the
    domain without the tenant label); a loopback base (the sandbox) keeps its own origin and path.
    """
    parts = urlsplit(domain)
    host = (parts.hostname or "").lower()
    if is_loopback_host(host):
        return domain.rstrip("/") + "/oauth/api/oauth2"
    region = host.split(".", 1)[1] if "." in host else host
    return f"https://oauth.{region}/oauth/api/oauth2"


@dataclass(frozen=True)
class TokenSet:
    """Tokens of one login. The repr shows no value."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float

    def expiring(self, skew: float) -> bool:
        return time.time() >= self.expires_at - skew


def parse_token_response(data: Any, previous_refresh: str | None = None) -> TokenSet:
    """Canto's camelCase (``accessToken``, ``expiresIn`` as int or string) or the snake_case of
    the "compatible" endpoint. A missing refresh token keeps the previous one (no rotation)."""
    if not isinstance(data, dict):
        raise CantoAuthError("Canto's token endpoint did not answer with JSON", reason="other")
    access = data.get("accessToken") or data.get("access_token")
    refresh = data.get("refreshToken") or data.get("refresh_token") or previous_refresh
    raw_ttl = data.get("expiresIn", data.get("expires_in"))
    try:
        ttl = float(raw_ttl) if raw_ttl not in (None, "") else float(DEFAULT_EXPIRES_IN)
    except (TypeError, ValueError):
        ttl = float(DEFAULT_EXPIRES_IN)
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        raise CantoAuthError("Canto's token answer has no access or refresh token", reason="other")
    register_secret(access)
    register_secret(refresh)
    return TokenSet(access, refresh, time.time() + ttl)


class CantoOAuth:
    """Calls to Canto's token endpoint (no bearer auth: its own client)."""

    def __init__(self, ctx: ConnectionContext, client: HttpClient | None = None) -> None:
        settings = ctx.settings
        if not isinstance(settings, CantoSettings):
            raise TypeError("CantoOAuth needs CantoSettings")
        self.ctx = ctx
        self.settings = settings
        self.base = oauth_base(settings.domain)
        # None: a short-lived client per request, so a login object can be used from several
        # event loops (the TUI runs each step with run_sync in a worker thread).
        self.client = client
        register_secret(settings.app_secret.get_secret_value())

    async def aclose(self) -> None:
        """Nothing to close: an injected client belongs to whoever made it."""

    async def _post(self, url: str, data: dict[str, str], retries: int | None) -> httpx.Response:
        if self.client is not None:
            return await self.client.request("POST", url, data=data, auth=False, retries=retries)
        async with HttpClient(self.base, rate=self.ctx.rate, retries=3) as client:
            return await client.request("POST", url, data=data, auth=False, retries=retries)

    def authorize_url(self, redirect_uri: str, state: str, challenge: str) -> str:
        query = urlencode({"response_type": "code", "app_id": self.settings.app_id,
                           "redirect_uri": redirect_uri, "state": state,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        return f"{self.base}/authorize?{query}"

    async def token(self, grant: dict[str, str], *, previous_refresh: str | None = None,
                    retries: int | None = None) -> TokenSet:
        """POST the grant with the app's credentials; map OAuth errors to CantoAuthError."""
        body = {"app_id": self.settings.app_id,
                "app_secret": self.settings.app_secret.get_secret_value(), **grant}
        response = await self._post(f"{self.base}/token", body, retries)
        if response.status_code == 200:
            try:
                data = response.json()
            except ValueError:
                data = None
            return parse_token_response(data, previous_refresh)
        raise self.error(response)

    def error(self, response: httpx.Response) -> DamkitErrorLike:
        """The failure of a token request, naming what to fix."""
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = {}
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        described = str(data.get("error_description", "")) if isinstance(data, dict) else ""
        detail = redact(f"{code}: {described}" if described else code or f"HTTP {status}")
        if code in ("invalid_client", "unauthorized_client"):
            lead = "App Secret" if "secret" in described.lower() else "App ID"
            return CantoAuthError(f"Canto refused the App ID or App Secret ({detail})",
                                  reason="app", hint=f"{lead} looks wrong: {APP_HINT}")
        if code == "invalid_grant":
            return CantoAuthError(f"Canto refused the login ({detail}): it expired or was revoked",
                                  reason="login", hint=auth_hint(self.ctx.name))
        if status >= 500 or status == 429:
            return HttpError(f"Canto's OAuth service answered {status}", status=status,
                             kind="http")
        return CantoAuthError(f"Canto's token endpoint answered {status} ({detail})",
                              reason="other", hint="check the Canto Domain (guide step "
                              f"'{step_title('canto.integration')}')")


DamkitErrorLike = CantoAuthError | HttpError


class CantoTokens:
    """The stored login of one connection: read, refresh (locked, once), save."""

    def __init__(self, ctx: ConnectionContext, oauth: CantoOAuth) -> None:
        self.ctx = ctx
        self.oauth = oauth
        self.skew = float(ctx.options.get("canto_refresh_skew", REFRESH_SKEW))
        self.lock_path = ctx.state_dir / "canto-refresh.lock"
        self._alock = asyncio.Lock()
        self._current: TokenSet | None = None
        self.refreshes = 0  # how many refresh requests this instance sent

    def load(self) -> TokenSet | None:
        """Read the tokens from the secret store (another process may have refreshed them)."""
        secrets_ = self.ctx.secrets
        access, refresh = secrets_.get("access_token"), secrets_.get("refresh_token")
        expires = secrets_.get("expires_at")
        if not refresh:
            self._current = None
            return None
        register_secret(access)
        register_secret(refresh)
        try:
            expires_at = float(expires) if expires else 0.0
        except ValueError:
            expires_at = 0.0
        self._current = TokenSet(access or "", refresh, expires_at if access else 0.0)
        return self._current

    def save(self, tokens: TokenSet) -> None:
        """Refresh token first: once Canto rotated it, the old one is dead, so it must be on disk
        before anything else happens."""
        self.ctx.secrets.set("refresh_token", tokens.refresh_token)
        self.ctx.secrets.set("access_token", tokens.access_token)
        self.ctx.secrets.set("expires_at", f"{tokens.expires_at:.3f}")
        self._current = tokens

    def clear(self) -> None:
        for name in ("access_token", "refresh_token", "expires_at"):
            self.ctx.secrets.delete(name)
        self._current = None

    def missing_error(self) -> CantoAuthError:
        return CantoAuthError(f"connection '{self.ctx.name}' has no Canto login yet",
                              reason="missing", hint=auth_hint(self.ctx.name))

    async def access_token(self) -> str:
        current = self._current or self.load()
        if current is None:
            raise self.missing_error()
        if current.expiring(self.skew):
            current = await self.refresh()
        return current.access_token

    async def refresh(self, rejected: str | None = None, *, retries: int | None = None) -> TokenSet:
        """A fresh access token, refreshing at most once across processes.

        ``rejected`` is the access token a 401 refused: refresh unless the store already holds
        another one. Without it, refresh only if the stored token is still expiring.
        """
        async with self._alock:
            lock = FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT, thread_local=False)
            try:
                await asyncio.to_thread(lock.acquire)
            except LockTimeout:
                raise CantoAuthError("another damkit process kept refreshing the Canto login for "
                                     f"over {LOCK_TIMEOUT:g} s", reason="other",
                                     hint="retry in a moment") from None
            try:
                current = self.load()
                if current is None:
                    raise self.missing_error()
                fresh_elsewhere = (rejected is not None
                                   and current.access_token not in ("", rejected))
                if fresh_elsewhere and not current.expiring(self.skew):
                    return current
                if rejected is None and not current.expiring(self.skew):
                    return current
                self.refreshes += 1
                tokens = await self.oauth.token(
                    {"grant_type": "refresh_token", "refresh_token": current.refresh_token},
                    previous_refresh=current.refresh_token, retries=retries)
                self.save(tokens)
                log.info("canto: refreshed the login of connection '%s'", self.ctx.name)
                return tokens
            finally:
                lock.release()


class CantoBearer(httpx.Auth):
    """``Authorization: Bearer`` from :class:`CantoTokens`; on a 401, refresh once and retry."""

    def __init__(self, tokens: CantoTokens) -> None:
        self.tokens = tokens

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("CantoBearer is async only")

    async def async_auth_flow(self, request: httpx.Request) -> Any:
        token = await self.tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            fresh = await self.tokens.refresh(rejected=token)
            request.headers["Authorization"] = f"Bearer {fresh.access_token}"
            yield request
