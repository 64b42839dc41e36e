"""The provider registry: the one place that knows which DAMs exist.

The built-in providers are folders of this package, each declaring a cheap
:class:`~damkit.providers.spec.ProviderSpec` named ``SPEC`` in its ``__init__``. Third parties
register theirs through the entry-point group ``damkit.providers`` (each entry point names a
``ProviderSpec``); tests and plug-ins loaded at run time call :func:`register`. Specs are cheap:
listing the providers imports no connector, so ``damkit --help`` stays fast.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from ..errors import SettingsError
from .spec import BrowserLogin, Capabilities, LoginRequest, LoopbackUnavailable, ProviderSpec

if TYPE_CHECKING:
    from ..settings import ConnectionSettings
    from .base import CheckReport, CheckStep, Fix, NearMiss, Provider, RemoteAsset, SetupStep, TagCount

#: The models frontends render, loaded from :mod:`.base` on first use (keeps ``--help`` fast).
_MODELS = frozenset({"CheckReport", "CheckStep", "Fix", "NearMiss", "Provider", "RemoteAsset",
                     "SetupStep", "TagCount"})


def __getattr__(name: str) -> object:
    if name in _MODELS:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module 'damkit.providers' has no attribute {name!r}")

#: The built-in providers' folders, in the order pickers show them.
BUILTIN: tuple[str, ...] = ("bynder", "canto", "percolate")
ENTRY_POINT_GROUP = "damkit.providers"

_lock = threading.RLock()
_specs: dict[str, ProviderSpec] = {}
_loaded = False


def _load() -> dict[str, ProviderSpec]:
    global _loaded
    with _lock:
        if not _loaded:
            _load_builtins()
            for spec in _entry_point_specs():
                _specs.setdefault(spec.name, spec)
            _loaded = True
        return _specs


def _load_builtins() -> None:
    for folder in BUILTIN:
        spec: ProviderSpec = importlib.import_module(f"{__name__}.{folder}").SPEC
        _specs.setdefault(spec.name, spec)


def _lookup(key: str) -> ProviderSpec | None:
    """``key``'s spec. A built-in name (or one registered at run time) needs no scan of the
    installed packages' entry points (a tenth of `damkit check`'s start): a plug-in never
    replaces a built-in, whose name it cannot take."""
    with _lock:
        if not _loaded:
            _load_builtins()
            if key in _specs:
                return _specs[key]
        return _load().get(key)


def _entry_point_specs() -> list[ProviderSpec]:
    from importlib.metadata import entry_points

    found: list[ProviderSpec] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, ProviderSpec):
            raise SettingsError(f"entry point {entry.name!r} of {ENTRY_POINT_GROUP} is not a "
                                "ProviderSpec", hint="point it at the provider's SPEC")
        found.append(spec)
    return found


def register(spec: ProviderSpec, *, replace: bool = False) -> ProviderSpec:
    """Add a provider at run time (tests, plug-ins). Its name must be new unless ``replace``."""
    from ..settings import SLUG_RE

    if not SLUG_RE.fullmatch(spec.name):
        raise SettingsError(f"provider name {spec.name!r} is not a slug", field="provider")
    with _lock:
        specs = _load()
        if spec.name in specs and not replace and specs[spec.name] is not spec:
            raise SettingsError(f"a provider named {spec.name!r} is already registered",
                                field="provider")
        specs[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Forget a provider registered at run time (tests clean up with this)."""
    with _lock:
        _load().pop(name, None)


def all() -> tuple[ProviderSpec, ...]:
    """Every registered provider, built-ins first."""
    return tuple(_load().values())


def names() -> tuple[str, ...]:
    return tuple(_load())


def get(name: str) -> ProviderSpec:
    """The spec of ``name`` (any case); a :class:`SettingsError` naming the known ones else."""
    key = (name or "").strip().lower()
    spec = _lookup(key)
    if spec is None:
        raise SettingsError(f"unknown provider '{name}'", field="provider",
                            hint="choose one of: " + ", ".join(_load()))
    return spec


def find(name: str) -> ProviderSpec | None:
    """The spec of ``name``, or None when no such provider is registered."""
    return _lookup((name or "").strip().lower())


# --- shorthands (one spec lookup each) ------------------------------------------------------------


def settings_model(name: str) -> type[ConnectionSettings]:
    return get(name).settings_model()


def setup_steps(name: str) -> tuple[SetupStep, ...]:
    return get(name).setup_steps()


def provider_class(name: str) -> type[Provider]:
    return get(name).connector_class()


def provider_title(name: str) -> str:
    return get(name).title


def capabilities(name: str) -> Capabilities:
    return get(name).capabilities


__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "BrowserLogin", "Capabilities", "CheckReport",
           "CheckStep", "Fix", "LoginRequest", "LoopbackUnavailable", "NearMiss", "Provider",
           "ProviderSpec", "RemoteAsset", "SetupStep", "TagCount", "all", "capabilities",
           "find", "get", "names", "provider_class", "provider_title", "register",
           "settings_model", "setup_steps", "unregister"]
