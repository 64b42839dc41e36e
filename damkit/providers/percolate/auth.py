"""Percolate client-credentials tokens: fetched from ``/auth/v5/token/``, cached in memory.

``POST /auth/v5/token/`` with ``Authorization: Basic base64("client:{id}:{secret}")`` and the form
``grant_type=client_credentials`` answers ``{"access_token", "expires_in", ...}`` (percolate.md
§1.2). No refresh token is issued: a new token is fetched when the cached one is near its expiry
or the API answers 401 (once per request).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Generator
from typing import Any

import httpx

from ...errors import AuthError
from ...http import HttpClient, status_error
from ...redact import redact, register_secret
from .settings import PercolateSettings

log = logging.getLogger("damkit.providers.percolate")

TOKEN_PATH = "/auth/v5/token/"
EARLY_REFRESH = 60.0  # seconds before expiry a token is no longer used (at most half its life)


def client_user(client_id: str) -> str:
    """The Basic user part: the Client ID with its ``client:`` prefix (added when typed bare)."""
    text = client_id.strip()
    return text if text.lower().startswith("client:") else f"client:{text}"


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``; repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(********)"


def api_error(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` from ``{"errors":[{"code","message"}]}`` or ``{"error": ...}``."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("code") or ""), redact(str(errors[0].get("message") or ""))
    if body.get("error"):
        return str(body["error"]), redact(str(body.get("message") or body.get("error_description") or ""))
    return "", ""


def credentials_error(response: httpx.Response) -> AuthError:
    """Name the field to fix from the token endpoint's refusal (codes are a [G] choice)."""
    code, message = api_error(response)
    lowered = f"{code} {message}".lower()
    if "secret" in lowered:
        return AuthError(f"Percolate refused the Client Secret ({code or response.status_code})",
                         hint='guide step "Client Secret": copy the API Key again (Show secret) '
                              "into the field Client Secret")
    if "client" in lowered or "not found" in lowered:
        return AuthError(f"Percolate does not know this Client ID ({code or response.status_code})",
                         hint='guide step "Client ID": copy the Client ID from Settings > '
                              "Developer > API Clients into the field Client ID")
    return AuthError(f"Percolate refused the Client ID / Client Secret ({response.status_code})",
                     hint='guide steps "Client ID" and "Client Secret": check both fields')


class TokenManager:
    """One access token per connection, shared by concurrent requests."""

    def __init__(self, settings: PercolateSettings) -> None:
        self.settings = settings
        secret = settings.client_secret.get_secret_value()
        register_secret(secret)
        self._basic = httpx.BasicAuth(client_user(settings.client_id), secret)
        register_secret(base64.b64encode(f"{client_user(settings.client_id)}:{secret}".encode()).decode())
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenManager(client={client_user(self.settings.client_id)!r})"

    async def request_token(self, http: HttpClient) -> httpx.Response:
        """The raw token response (``check`` reads its status and error code)."""
        self.fetches += 1
        response = await http.request("POST", TOKEN_PATH, data={"grant_type": "client_credentials"},
                                      auth=self._basic, headers={"Accept": "application/json"})
        if response.status_code == 200:
            self._store(response)
        return response

    def _store(self, response: httpx.Response) -> None:
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise AuthError("Percolate's token answer has no access_token: is the API base URL "
                            "a Percolate API?", hint="field API base URL") from None
        register_secret(token)
        self._token = token
        early = min(EARLY_REFRESH, expires_in / 2)  # short-lived tokens are still used
        self._expires_at = time.monotonic() + max(0.0, expires_in - early)
        log.debug("percolate: new access token, valid %.0f s", expires_in)

    async def get(self, http: HttpClient) -> str:
        """A valid token, fetching one when none is cached or it is about to expire."""
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                response = await self.request_token(http)
                if response.status_code in (400, 401, 403):
                    raise credentials_error(response)
                if response.status_code != 200:
                    raise status_error(response, http.url(TOKEN_PATH))
            if self._token is None:
                raise AuthError("no access token")
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (a 401 answered it); a newer token fetched meanwhile is kept."""
        if self._token == token:
            self._token = None
            self._expires_at = 0.0
