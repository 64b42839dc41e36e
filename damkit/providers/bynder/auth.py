"""Bynder authentication as ``httpx.Auth`` classes, one per mode of :class:`BynderSettings`.

- ``oauth1``: the guide's consumer key/secret + token key/secret, RFC 5849 HMAC-SHA1 in the
  ``Authorization: OAuth ...`` header, signed with oauthlib (form bodies are signed too). A fresh
  nonce and timestamp per try, so a retried request is signed again.
- ``permanent_token``: ``Authorization: Bearer <token>``.
- ``oauth2_client_credentials``: a token from ``/v6/authentication/oauth2/token``
  (``grant_type=client_credentials``, client id/secret in the body), fetched inside the auth flow
  when missing or about to expire, and fetched again once after a 401.

Every secret is registered with :mod:`damkit.redact` so it never reaches a log or a message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator
from urllib.parse import urlencode

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client

from ...redact import register_secret
from .settings import BynderSettings

TOKEN_PATH = "/v6/authentication/oauth2/token"
FORM = "application/x-www-form-urlencoded"

# oauthlib DEBUG-logs the signature base string and the collected parameters, which carry the
# consumer key and the token key (secrets in damkit's settings). Its loggers never go below INFO.
_OAUTHLIB_LOG = logging.getLogger("oauthlib")
if _OAUTHLIB_LOG.level < logging.INFO:
    _OAUTHLIB_LOG.setLevel(logging.INFO)


def _secret(value: object) -> str:
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    text = "" if raw is None else str(raw)
    register_secret(text)
    return text


class OAuth1Auth(httpx.Auth):
    """OAuth 1.0a HMAC-SHA1, header style (what Bynder's OAuth1 SDKs sent)."""

    requires_request_body = True

    def __init__(self, consumer_key: str, consumer_secret: str, token_key: str,
                 token_secret: str) -> None:
        for value in (consumer_key, consumer_secret, token_key, token_secret):
            register_secret(value)
        self._client = Client(consumer_key, client_secret=consumer_secret,
                              resource_owner_key=token_key, resource_owner_secret=token_secret,
                              signature_method=SIGNATURE_HMAC_SHA1,
                              signature_type=SIGNATURE_TYPE_AUTH_HEADER)

    def __repr__(self) -> str:
        return "OAuth1Auth(********)"

    def sign(self, request: httpx.Request) -> None:
        content_type = request.headers.get("Content-Type", "")
        body = None
        headers = {}
        if content_type.startswith(FORM) and request.content:
            body = request.content.decode("utf-8")
            headers["Content-Type"] = FORM
        _, signed, _ = self._client.sign(str(request.url), request.method, body=body,
                                         headers=headers)
        request.headers["Authorization"] = signed["Authorization"]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        register_secret(token)
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


class ClientCredentialsAuth(httpx.Auth):
    """OAuth 2 client credentials, with the token kept in memory.

    When the token endpoint refuses, the flow returns *its* response (status 400/401 with
    ``{"error": ...}``) to the caller, whose error handling then names the client id/secret.
    """

    requires_response_body = True
    margin = 60.0  # refresh this many seconds before expiry

    def __init__(self, token_url: str, client_id: str, client_secret: str,
                 scope: str | None = None) -> None:
        register_secret(client_secret)
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._token: str | None = None
        self._expires = 0.0
        self.fetched = 0  # how many tokens were fetched (tests, diagnostics)

    def __repr__(self) -> str:
        return "ClientCredentialsAuth(********)"

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._client_secret}
        if self.scope:
            form["scope"] = self.scope
        return httpx.Request("POST", self.token_url, content=urlencode(form).encode(),
                             headers={"Content-Type": FORM, "Accept": "application/json"})

    def _store(self, response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        try:
            data = json.loads(response.content)
            token = str(data["access_token"])
            expires_in = float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            return False
        register_secret(token)
        self._token = token
        self._expires = time.time() + expires_in
        self.fetched += 1
        return True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None or time.time() > self._expires - self.margin:
            token_response = yield self._token_request()
            if not self._store(token_response):
                return  # the caller gets the token endpoint's refusal
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            token_response = yield self._token_request()
            if not self._store(token_response):
                return
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


def make_auth(settings: BynderSettings) -> httpx.Auth:
    """The ``httpx.Auth`` for the settings' auth mode."""
    if settings.auth == "oauth1":
        return OAuth1Auth(_secret(settings.consumer_key), _secret(settings.consumer_secret),
                          _secret(settings.token_key), _secret(settings.token_secret))
    if settings.auth == "permanent_token":
        return BearerAuth(_secret(settings.permanent_token))
    return ClientCredentialsAuth(settings.domain.rstrip("/") + TOKEN_PATH,
                                 str(settings.client_id), _secret(settings.client_secret))
