"""What each emulated provider module provides to the sandbox app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from starlette.routing import BaseRoute

from .catalog import Catalog

if TYPE_CHECKING:
    from .app import SandboxConfig, SandboxState


class Emulator:
    """One provider's emulator, mounted by the sandbox app under ``/<name>``.

    Subclasses build their :class:`Catalog` (ids in the provider's format), declare their routes
    (paths relative to the mount point) and describe what a user would type to connect to them.
    """

    name: ClassVar[str]

    def __init__(self, state: SandboxState, catalog: Catalog) -> None:
        self.state = state
        self.catalog = catalog

    @property
    def base_url(self) -> str:
        """The emulator's public base URL, e.g. ``http://127.0.0.1:8765/bynder``."""
        return f"{self.state.base_url}/{self.name}"

    @classmethod
    def make_catalog(cls, config: SandboxConfig) -> Catalog:
        """Override to give ids in the provider's format (``make_key``)."""
        return Catalog(cls.name, seed=config.seed, size=config.assets, tag=config.tag)

    #: switches this emulator honours beyond the common ones (:data:`.switches.COMMON`)
    own_switches: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def switch_names(cls) -> tuple[str, ...]:
        from .switches import COMMON

        return (*COMMON, *cls.own_switches)

    @property
    def switches(self) -> set[str]:
        """The switches on now (a live view: the control API changes them at run time)."""
        return self.state.switches.get(self.name, set())

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def manifest(self) -> dict[str, Any]:
        """Exactly the settings a user would type (connection settings field names), secrets
        included, plus ``"eligible"``: how many assets carry the import tag exactly."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget tokens, nonces and other per-run state (the catalog is rebuilt by the app)."""
