"""Switches that make an emulator behave as a real server *might* where the facts are unknown.

Each emulator follows one documented guess for every [G] fact (docs/sandbox.md); a switch turns
the opposite guess on, so that the connectors are tested against both. Switches are per
provider, set at start (``damkit sandbox --switch bynder:ignore_tag_filter``, or
``SandboxConfig.switches``) or at run time (``PUT /_sandbox/<provider>/switches``), and return to
the configured set on reset.

Switches that change an emulator's data live in the emulator (it reads
``self.switches``); the two that change how errors look (``html_401``, ``unknown_error_body``)
are applied here, to every answer of the provider's mount.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: name -> what the emulator does when it is on (the opposite of the documented guess)
SWITCHES: dict[str, str] = {
    "ignore_tag_filter": "the server-side tag filter (Bynder tags=, Canto keywords=, Percolate "
                         "term_ids=) is ignored: lists and counts hold every asset",
    "omit_membership": "assets come back without the field that says which tags they carry "
                       "(Bynder tags, Canto keyword/tag, Percolate metadata term fields)",
    "html_401": "every 401 answers with an HTML page instead of the provider's JSON",
    "unknown_error_body": "every 4xx/5xx answers with a JSON body of a shape no client knows",
    "hide_archived": "Bynder: lists leave archived media out unless archive=1 (the opposite of "
                     "'archive=0 means no filtering')",
    "limited_included": "Bynder: limited-use media are listed without limited=1",
    "unknown_role_names": "Bynder: security-profile roles come under other names than damkit's "
                          "guess (METAPROPERTY_MANAGEMENT, ...)",
    "asset_term_ids": "Percolate: v5 assets carry term_ids (no public fixture shows it)",
    "term_search_substring": "Percolate: term search matches anywhere in the name, not as a "
                             "prefix",
}

#: switches every emulator honours (the rest are named after the one provider they apply to)
COMMON = ("ignore_tag_filter", "omit_membership", "html_401", "unknown_error_body")

#: the switches :class:`SwitchMiddleware` applies (the others live in the emulators)
REWRITING = frozenset({"html_401", "unknown_error_body"})

HTML_401 = (b"<!DOCTYPE html><html><head><title>401 Unauthorized</title></head>"
            b"<body><h1>Unauthorized</h1><p>Please sign in.</p></body></html>")
UNKNOWN_BODY = {"fault": {"faultstring": "Request rejected", "detail": {"errorcode": "E-0001"}}}


class SwitchError(ValueError):
    """An unknown switch, or one the provider does not have."""


def validate(provider: str, names: Any, allowed: tuple[str, ...]) -> set[str]:
    """The switch names in ``names`` (a list of strings), checked against ``allowed``."""
    if not isinstance(names, (list, tuple, set)) or not all(isinstance(n, str) for n in names):
        raise SwitchError("switches must be a list of names")
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise SwitchError(f"{provider} has no switch {', '.join(unknown)}; "
                          f"known: {', '.join(allowed)}")
    return set(names)


def parse_flag(value: str) -> tuple[str, str]:
    """``bynder:ignore_tag_filter`` → (``bynder``, ``ignore_tag_filter``); ``*:name`` = all."""
    provider, sep, name = value.partition(":")
    if not sep or not provider or name not in SWITCHES:
        raise SwitchError(f"--switch {value!r}: write PROVIDER:NAME (or *:NAME) with NAME one of "
                          f"{', '.join(SWITCHES)}")
    return provider, name


class SwitchMiddleware:
    """Rewrites error answers of one provider mount when ``html_401`` / ``unknown_error_body``
    is on. Reads the live set on every request, so a switch takes effect at once."""

    def __init__(self, app: ASGIApp, active: Any) -> None:
        self.app = app
        self.active = active  # () -> set[str]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        on: set[str] = self.active() if scope["type"] == "http" else set()
        if REWRITING.isdisjoint(on):
            await self.app(scope, receive, send)
            return
        rewriter = _Rewriter(send, on)
        await self.app(scope, receive, rewriter.send)


class _Rewriter:
    def __init__(self, send: Send, on: set[str]) -> None:
        self._send = send
        self._on = on
        self._start: Message | None = None
        self._replace: tuple[bytes, bytes] | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            status = int(message["status"])
            if status == 401 and "html_401" in self._on:
                self._replace = (HTML_401, b"text/html; charset=utf-8")
            elif status >= 400 and "unknown_error_body" in self._on:
                self._replace = (json.dumps(UNKNOWN_BODY).encode(), b"application/json")
            if self._replace is None:
                await self._send(message)
                return
            body, kind = self._replace
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() not in (b"content-length", b"content-type")]
            headers += [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
            await self._send({**message, "headers": headers})
            return
        if self._replace is None:
            await self._send(message)
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            await self._send({"type": "http.response.body", "body": self._replace[0],
                              "more_body": False})
