"""The sandbox ASGI app: every emulator mounted under its name, plus the control API.

The emulators are the registered providers' (each :class:`~damkit.providers.spec.ProviderSpec`
names its ``emulator``), so a provider registered at run time is served too.
``/bynder/...``, ``/canto/...``, ``/percolate/...`` speak the providers' wire formats, behind
the fault middleware (:mod:`.faults`); ``/_sandbox/...`` is the control API (:mod:`.control`,
never part of a provider's API and never faulted).
"""

from __future__ import annotations

import importlib
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from .base import Emulator
from .catalog import Catalog
from .faults import FaultMiddleware, FaultSpec, FaultState, install_log_filter
from .routing import IndexedRouter

#: Extra emulators with no provider spec: name -> "module:Class" or the class (tests of the
#: sandbox itself). Every registered provider's emulator is served without being listed here.
EMULATORS: dict[str, Any] = {}


def emulators() -> dict[str, Any]:
    """name -> emulator reference: the registered providers' (from their specs), then extras."""
    from ..providers import all as all_providers

    found: dict[str, Any] = {spec.name: spec.emulator for spec in all_providers()
                             if spec.emulator is not None}
    found.update(EMULATORS)
    return found


@dataclass
class SandboxConfig:
    assets: int = 300
    seed: int = 7
    tag: str = "Gelato"
    #: Faults of every provider at start (see :mod:`.faults`); ``faults`` overrides per provider,
    #: e.g. ``{"bynder": {"burst_429": 3, "retry_after": 0}}``.
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    rate_limit: float | None = 15.0  # Bynder's requests/s per client host (its IP); None = off
    #: the emulators to run; None: every registered provider's
    providers: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Switches on at start, per provider (see :mod:`.switches`),
    #: e.g. ``{"percolate": ("ignore_tag_filter",)}``.
    switches: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def fault_spec(self, provider: str) -> FaultSpec:
        """The faults ``provider`` starts with (and returns to on reset)."""
        base = FaultSpec.from_dict({"latency_ms": self.latency_ms, "fault_rate": self.fault_rate})
        return FaultSpec.from_dict(dict(self.faults.get(provider, {})), base=base)


def emulator_class(name: str) -> type[Emulator]:
    ref = emulators()[name]
    if isinstance(ref, type):
        return ref
    module_name, _, cls_name = str(ref).partition(":")
    cls: type[Emulator] = getattr(importlib.import_module(module_name), cls_name)
    return cls


class SandboxState:
    """Shared state of one running sandbox: config, base URL, catalogs, emulators and faults."""

    def __init__(self, config: SandboxConfig, base_url: str = "http://127.0.0.1:0") -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.emulators: dict[str, Emulator] = {}
        self.lock = threading.RLock()
        self.providers = self._available(config)
        for name in config.faults:
            if name not in self.providers:
                raise ValueError(f"faults given for unknown provider {name!r}")
        self.faults: dict[str, FaultState] = {
            name: FaultState(name, config.seed, config.fault_spec(name)) for name in self.providers}
        for name, faults in self.faults.items():
            faults.catalog = lambda name=name: self.catalog(name)  # for the listing shift
        self.switches: dict[str, set[str]] = {}
        self.reset_switches()
        self.build()

    @staticmethod
    def _available(config: SandboxConfig) -> tuple[str, ...]:
        """The providers to run. With the default list, an emulator module that does not exist
        yet is skipped with a warning; an explicitly requested one must exist."""
        names: list[str] = []
        known = emulators()
        wanted = tuple(known) if config.providers is None else config.providers
        for name in wanted:
            if name not in known:
                raise ValueError(f"unknown sandbox provider {name!r}; known: {', '.join(known)}")
            try:
                emulator_class(name)
            except ModuleNotFoundError as exc:
                module_name = str(known[name]).partition(":")[0]
                if config.providers is not None or exc.name != module_name:
                    raise
                warnings.warn(f"sandbox: no emulator for {name} yet ({module_name})", stacklevel=3)
                continue
            names.append(name)
        return tuple(names)

    def build(self) -> None:
        """(Re)create every emulator with a catalog generated from the seed."""
        with self.lock:
            fresh: dict[str, Emulator] = {}
            for name in self.providers:
                cls = emulator_class(name)
                # visible while the next one is built (emulators may look each other up)
                fresh[name] = self.emulators[name] = cls(self, cls.make_catalog(self.config))
            self.emulators.clear()
            self.emulators.update(fresh)

    def reset(self) -> None:
        """Back to the state at start: each emulator's ``reset()``, catalogs rebuilt from the
        seed (new emulator objects: references taken before are stale), faults as configured."""
        with self.lock:
            for emu in list(self.emulators.values()):
                emu.reset()
            self.build()
            for name, faults in self.faults.items():
                faults.set(self.config.fault_spec(name))
            self.reset_switches()

    def reset_switches(self) -> None:
        """Each provider's switches as configured (``*`` applies to every provider)."""
        from .switches import validate

        for name in self.providers:
            allowed = emulator_class(name).switch_names()
            common = {w for w in self.config.switches.get("*", ()) if w in allowed}
            self.switches[name] = common | validate(name, self.config.switches.get(name, ()), allowed)

    def catalog(self, provider: str) -> Catalog:
        return self.emulators[provider].catalog

    def manifest(self) -> dict[str, Any]:
        with self.lock:
            emulators = dict(self.emulators)
        return {"providers": {name: emu.manifest() for name, emu in emulators.items()},
                "base_url": self.base_url, "control": f"{self.base_url}/_sandbox",
                "seed": self.config.seed, "assets": self.config.assets,
                "faults": {name: f.spec.to_dict() for name, f in self.faults.items()},
                "switches": {name: sorted(on) for name, on in self.switches.items()}}


class EmulatorApp:
    """Routes a mount to the provider's *current* emulator (a reset replaces the object)."""

    def __init__(self, state: SandboxState, name: str) -> None:
        self.state = state
        self.name = name
        self._router: IndexedRouter | None = None
        self._for: Emulator | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emu = self.state.emulators[self.name]
        router = self._router
        if router is None or self._for is not emu:
            router = self._router = IndexedRouter(emu.routes())
            self._for = emu
        await router(scope, receive, send)


def build_app(state: SandboxState) -> Starlette:
    from .control import control_routes
    from .switches import SwitchMiddleware

    install_log_filter()
    routes: list[Any] = [Mount("/_sandbox", routes=control_routes(state))]
    for name in state.emulators:
        switched = SwitchMiddleware(EmulatorApp(state, name),
                                    lambda name=name: state.switches.get(name, set()))
        routes.append(Mount(f"/{name}", app=FaultMiddleware(switched, state.faults[name])))
    app = Starlette(routes=routes)
    app.router = IndexedRouter(routes)
    app.state.sandbox = state
    return app
