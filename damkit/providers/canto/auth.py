"""Canto OAuth 2 login (core, no UI).

Authorization code with ``state`` and PKCE S256, two ways (reliability-notes §4):

- loopback: :meth:`CantoLogin.run_loopback` listens once on ``127.0.0.1:<port>``, opens the browser
  when one exists (or lets the caller drive the URL), waits for the redirect, checks the state and
  exchanges the code;
- over SSH: :meth:`CantoLogin.start` gives the authorize URL; the user opens it on any machine, the
  browser ends on the (unreachable) loopback redirect, and :meth:`CantoLogin.complete` takes the
  pasted address (or the bare code), checks the state and exchanges the code.

The tokens are saved through :class:`~damkit.providers.canto.tokens.CantoTokens` (see there for
refresh, rotation and the cross-process lock). No token, code or secret is logged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
import sys
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ...http import HttpClient
from ...redact import redact, register_secret
from ..base import ConnectionContext
from ..spec import LoopbackUnavailable
from .steps import CALLBACK_PATH, DEFAULT_REDIRECT_PORT
from .tokens import (
    APP_HINT,
    REFRESH_SKEW,
    CantoAuthError,
    CantoBearer,
    CantoOAuth,
    CantoTokens,
    TokenSet,
    auth_hint,
    oauth_base,
    parse_token_response,
    step_title,
)

__all__ = [
    "APP_HINT", "CALLBACK_PATH", "DEFAULT_REDIRECT_PORT", "REFRESH_SKEW", "CantoAuthError",
    "CantoBearer", "CantoLogin", "CantoOAuth", "CantoTokens", "LoginRequest", "TokenSet",
    "auth_hint", "browser_available", "oauth_base", "parse_redirect",
    "parse_token_response", "pkce_pair", "step_title",
]

log = logging.getLogger("damkit.canto.auth")

LOGIN_TTL = 600.0  # a started login (state + verifier) is good for 10 minutes


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the login --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRequest:
    """What to show the user: open ``authorize_url``; Canto sends the browser to
    ``redirect_uri?code=...&state=...``."""

    authorize_url: str
    state: str
    redirect_uri: str
    expires_at: float


@dataclass(frozen=True)
class _Pending:
    state: str = field(repr=False)
    verifier: str = field(repr=False)
    redirect_uri: str
    expires_at: float


@dataclass(frozen=True)
class RedirectAnswer:
    code: str | None = field(repr=False)
    state: str | None
    error: str | None
    error_description: str | None


def parse_redirect(pasted: str) -> RedirectAnswer:
    """The address the browser was sent to (full URL, ``?query`` or ``code=..&state=..``), or a
    bare code."""
    text = pasted.strip().strip("'\"<>")
    if not text:
        raise CantoAuthError("nothing was pasted", reason="other",
                             hint="paste the whole address the browser shows after Allow")
    if "=" in text or "://" in text or text.startswith("?"):
        if "://" in text:
            parts = urlsplit(text)
            query = "&".join(p for p in (parts.query, parts.fragment) if p)
        else:
            query = text.split("?", 1)[-1]
        params = dict(parse_qsl(query, keep_blank_values=True))
        code = params.get("code") or None
        if code:
            register_secret(code)
        return RedirectAnswer(code, params.get("state"), params.get("error"),
                              params.get("error_description"))
    if any(c.isspace() for c in text):
        raise CantoAuthError("the pasted text is neither an address nor a code", reason="other",
                             hint="paste the whole address the browser shows after Allow")
    register_secret(text)
    return RedirectAnswer(text, None, None, None)


def browser_available() -> bool:
    """A graphical browser can be opened here (not over a plain SSH session)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


class CantoLogin:
    """Log a connection in to Canto. One login at a time per instance.

    >>> login = CantoLogin(ctx)
    >>> request = login.start()            # SSH: show request.authorize_url
    >>> await login.complete(pasted_text)  # the address the browser ended on (or the code)

    or ``await login.run_loopback(open_browser=True)`` on a desktop.
    """

    def __init__(self, ctx: ConnectionContext, *, port: int | None = None,
                 client: HttpClient | None = None) -> None:
        self.ctx = ctx
        self.port = DEFAULT_REDIRECT_PORT if port is None else port
        self.oauth = CantoOAuth(ctx, client)
        self.tokens = CantoTokens(ctx, self.oauth)
        self._pending: _Pending | None = None

    @classmethod
    def for_workspace(cls, workspace: Any, name: str, *, port: int | None = None) -> CantoLogin:
        """A login for connection ``name`` of a :class:`damkit.workspace.Workspace` (its settings
        with secrets, its secret store, its state folder)."""
        return cls(workspace.context(name), port=port)

    @property
    def started(self) -> bool:
        """A login was started and has not finished (a retry of :meth:`complete` makes sense)."""
        return self._pending is not None

    def browser_available(self) -> bool:
        return browser_available()

    async def __aenter__(self) -> CantoLogin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.oauth.aclose()

    def default_redirect_uri(self, port: int | None = None) -> str:
        """The Redirect URL to register on the Canto API key (``ctx.options["canto_redirect_uri"]``
        overrides it)."""
        configured = self.ctx.options.get("canto_redirect_uri")
        if configured and port is None:
            return str(configured)
        return f"http://127.0.0.1:{self.port if port is None else port}{CALLBACK_PATH}"

    def start(self, redirect_uri: str | None = None) -> LoginRequest:
        """A new login attempt: fresh state and PKCE verifier (the previous attempt is dropped)."""
        uri = redirect_uri or self.default_redirect_uri()
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        register_secret(verifier)
        expires = time.time() + LOGIN_TTL
        self._pending = _Pending(state, verifier, uri, expires)
        return LoginRequest(self.oauth.authorize_url(uri, state, challenge), state, uri, expires)

    async def complete(self, pasted: str) -> None:
        """Finish the login from the pasted redirect address (or bare code): check the state,
        exchange the code, save the tokens. Raises CantoAuthError (``reason`` says why)."""
        answer = parse_redirect(pasted)
        await self._finish(answer)

    def _check(self, answer: RedirectAnswer) -> _Pending:
        pending = self._pending
        if pending is None or time.time() > pending.expires_at:
            self._pending = None
            raise CantoAuthError("no login is waiting (it was never started, already finished or "
                                 "older than 10 minutes)", reason="state",
                                 hint=auth_hint(self.ctx.name))
        if answer.state is not None and not hmac.compare_digest(answer.state, pending.state):
            raise CantoAuthError("the pasted address belongs to another login attempt (state "
                                 "differs)", reason="state",
                                 hint="paste the address from the latest authorize link")
        if answer.error:
            self._pending = None
            if answer.error == "access_denied":
                raise CantoAuthError("access was denied in Canto (Deny was clicked)",
                                     reason="denied", hint="start again and click Allow")
            raise CantoAuthError(redact(f"Canto refused the login: {answer.error}: "
                                        f"{answer.error_description or ''}").strip(": "),
                                 reason="other", hint=auth_hint(self.ctx.name))
        if not answer.code:
            raise CantoAuthError("the pasted address has no code", reason="other",
                                 hint="paste the whole address the browser shows after Allow")
        return pending

    async def _finish(self, answer: RedirectAnswer) -> None:
        pending = self._check(answer)
        self._pending = None  # state and code are single use, whatever the exchange answers
        tokens = await self.oauth.token({"grant_type": "authorization_code",
                                         "code": answer.code or "",
                                         "redirect_uri": pending.redirect_uri,
                                         "code_verifier": pending.verifier})
        self.tokens.save(tokens)
        log.info("canto: connection '%s' logged in", self.ctx.name)

    async def run_loopback(self, *, open_browser: bool = True, timeout: float = 300.0,
                           port: int | None = None,
                           on_url: Callable[[LoginRequest], None] | None = None) -> bool:
        """Listen once on ``127.0.0.1:<port>`` (``port=0``: any free port), start the login, open
        the browser (only when ``open_browser`` and one exists) and/or hand the request to
        ``on_url``, wait for the redirect, then exchange the code.

        Returns whether a browser was opened. Raises CantoAuthError, or TimeoutError after
        ``timeout`` seconds with no valid redirect.
        """
        listener = _Listener(CALLBACK_PATH)
        bind_port = self.port if port is None else port
        try:
            server = await asyncio.start_server(listener.handle, "127.0.0.1", bind_port)
        except OSError as exc:
            raise LoopbackUnavailable(f"cannot listen on 127.0.0.1:{bind_port} for Canto's "
                                      f"redirect ({exc.strerror or exc})",
                                      hint="close what uses the port, or log in with --no-browser "
                                           "and paste the address") from None
        actual = server.sockets[0].getsockname()[1]
        opened = False
        try:
            request = self.start(self.default_redirect_uri(actual))
            listener.expected_state = request.state
            if on_url is not None:
                on_url(request)
            if open_browser and browser_available():
                opened = await asyncio.to_thread(webbrowser.open, request.authorize_url)
            answer = await asyncio.wait_for(listener.result, timeout)
        except TimeoutError:
            self._pending = None
            raise TimeoutError(f"no answer from Canto within {timeout:g} s") from None
        finally:
            server.close()
            await server.wait_closed()
        await self._finish(answer)
        return opened


class _Listener:
    """A one-shot HTTP/1.1 handler for the redirect (asyncio streams, no framework)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.expected_state: str | None = None
        self.result: asyncio.Future[RedirectAnswer] = asyncio.get_running_loop().create_future()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, page = await self._answer(reader)
            body = (f"<!doctype html><html><head><title>damkit</title></head><body><p>{page}</p>"
                    "</body></html>").encode()
            head = (f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                    "Cache-Control: no-store\r\n\r\n")
            writer.write(head.encode() + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        line = await asyncio.wait_for(reader.readline(), 10)
        while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
            pass
        parts = line.decode("latin-1").split()
        if len(parts) < 2 or parts[0] != "GET":
            return "405 Method Not Allowed", "Method not allowed."
        target = urlsplit(parts[1])
        if target.path.rstrip("/") != self.path:
            return "404 Not Found", "Not found."
        answer = parse_redirect("?" + target.query)
        expected = self.expected_state or ""
        if answer.state is None or not hmac.compare_digest(answer.state, expected):
            return "400 Bad Request", "This answer belongs to another login attempt; ignored."
        if self.result.done():
            return "409 Conflict", "The login already finished."
        self.result.set_result(answer)
        if answer.error:
            return "200 OK", "Canto did not grant access. You can close this window."
        return "200 OK", "damkit received the Canto login. You can close this window."
