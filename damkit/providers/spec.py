"""A provider, declared once: what it is called, what it can do, and where its parts live.

Each provider folder's ``__init__`` declares one :class:`ProviderSpec` named ``SPEC``. The spec is
cheap to build: its parts (settings model, setup steps, connector, sandbox emulator, login flow)
are named as ``"module:attribute"`` references and imported only when asked for, so listing the
providers (``damkit --help``, a provider picker) loads no connector and no HTTP stack.

Frontends and the engine ask the spec (mostly its :class:`Capabilities`) what a connection can do;
nothing outside ``damkit/providers/`` and ``damkit/sandbox/`` compares a provider's name. rclone's
backends are the model: options declared once with their help, features declared, not probed.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import AuthError

if TYPE_CHECKING:
    from ..settings import ConnectionSettings
    from .base import ConnectionContext, Provider, SetupStep

ChecksumKind = Literal["md5", "sha256", "none"]
TagNoun = Literal["tag", "keyword", "term"]

#: A part of a provider: ``"package.module:attribute"`` (imported on first use) or the object.
Ref = Any


def resolve(ref: Ref) -> Any:
    """The object a :data:`Ref` names (``"module:attr"`` is imported; anything else is itself)."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, declared (never probed by calling it and seeing what fails)."""

    #: the user logs in in a browser (OAuth) before the connection works; see :class:`BrowserLogin`
    browser_login: bool = False
    #: the library URL can be written back onto each synced asset (``Provider.write_backlink``)
    backlink: bool = False
    #: permissions the backlink needs on the DAM side (shown with the last check's findings)
    backlink_permissions: tuple[str, ...] = ()
    #: the DAM pushes change notifications to damkit's Event consumer URL
    change_notifications: bool = False
    #: the checksum the DAM gives for an original file (downloads are verified against it)
    checksum: ChecksumKind = "none"
    #: client-side requests per second: the documented limit, else a polite default
    rate: float | None = None
    #: requests allowed at once before ``rate`` applies (None: one)
    burst: int | None = None
    #: whether ``rate`` is the DAM's documented limit (False: a polite guess)
    rate_documented: bool = False
    #: the documented limit counts requests in any window of this many seconds (Bynder: at
    #: most 15 in any second): a window's worth may go at once, and no window holds more
    rate_window: float | None = None
    #: what the DAM calls the label that marks files for import
    tag_noun: TagNoun = "tag"
    #: secrets obtained by logging in (not typed): deleted with the connection, never prompted
    login_secrets: tuple[str, ...] = ()
    #: the secret whose presence means "logged in" (for ``damkit doctor``), if any
    login_marker: str | None = None

    def rate_limit_window(self) -> tuple[int, float] | None:
        """The documented limit as (requests, seconds) for the HTTP budget, if it is one."""
        if not (self.rate_documented and self.rate and self.rate_window):
            return None
        return int(self.rate * self.rate_window), self.rate_window


class LoopbackUnavailable(AuthError):
    """The browser login could not listen on its loopback port: fall back to pasting the address."""


class LoginRequest(Protocol):
    """One started browser login: where to send the user, and where the DAM sends them back."""

    @property
    def authorize_url(self) -> str: ...
    @property
    def redirect_uri(self) -> str: ...


class BrowserLogin(Protocol):
    """A provider's browser login (OAuth), as every frontend drives it.

    The command line prompts, the console shows a screen, the demo plays the user on the
    sandbox: all through these methods. Use as ``async with``.
    """

    async def __aenter__(self) -> BrowserLogin: ...
    async def __aexit__(self, *exc: object) -> None: ...

    def start(self, redirect_uri: str | None = None) -> LoginRequest:
        """A fresh login attempt; show ``authorize_url`` to the user."""

    async def complete(self, pasted: str) -> None:
        """Finish with what the user pasted: the address the browser ended on, or the code."""

    async def run_loopback(self, *, open_browser: bool = True, timeout: float = 300.0,
                           on_url: Callable[[Any], None] | None = None) -> Any:
        """Open the browser and wait for the redirect on a loopback port."""

    @property
    def started(self) -> bool:
        """A login was started and not finished (a retry of ``complete`` makes sense)."""

    def browser_available(self) -> bool:
        """A graphical browser can be opened on this machine (not over plain SSH)."""


@dataclass(frozen=True)
class ProviderSpec:
    """One DAM, declared once. Build it cheaply in the provider folder's ``__init__``."""

    name: str  # the slug stored on connections: lower-case letters and digits
    title: str  # what people read: "Bynder"
    capabilities: Capabilities = field(default_factory=Capabilities)
    settings: Ref = None  # the ConnectionSettings subclass
    steps: Ref = None  # the tuple of SetupStep (the setup guide)
    connector: Ref = None  # the Provider subclass
    emulator: Ref = None  # the sandbox Emulator subclass (None: no sandbox twin)
    login: Ref = None  # ``(ctx, port) -> BrowserLogin`` when ``capabilities.browser_login``
    #: ``(login) -> Awaitable[None]``: log in on the sandbox, playing the user (demo, tests)
    sandbox_login: Ref = None
    #: the settings field naming the DAM instance (its host names the Event consumer URL)
    instance_field: str = "domain"
    summary: str = ""  # one line for pickers and ``damkit providers``

    def settings_model(self) -> type[ConnectionSettings]:
        model: type[ConnectionSettings] = resolve(self.settings)
        return model

    def setup_steps(self) -> tuple[SetupStep, ...]:
        steps: tuple[SetupStep, ...] = tuple(resolve(self.steps))
        return steps

    def connector_class(self) -> type[Provider]:
        cls: type[Provider] = resolve(self.connector)
        return cls

    def emulator_class(self) -> Any:
        """The sandbox emulator class, or None when this provider has no sandbox twin."""
        return None if self.emulator is None else resolve(self.emulator)

    def login_flow(self, ctx: ConnectionContext, *, port: int | None = None) -> BrowserLogin:
        from ..errors import SettingsError

        if not self.capabilities.browser_login or self.login is None:
            raise SettingsError(f"'{ctx.name}' is a {self.title} connection: it needs no "
                                "browser login", field="name")
        login: BrowserLogin = resolve(self.login)(ctx, port=port)
        return login

    def sandbox_login_flow(self) -> Callable[[BrowserLogin], Awaitable[None]] | None:
        return None if self.sandbox_login is None else resolve(self.sandbox_login)

    @property
    def tag_noun(self) -> str:
        return self.capabilities.tag_noun


__all__ = ["BrowserLogin", "Capabilities", "LoginRequest", "LoopbackUnavailable", "ProviderSpec",
           "resolve"]
