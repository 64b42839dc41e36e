"""The provider registry.

Each provider lives in its own folder. This module maps names to those folders and imports them
only when asked, so that ``damkit --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import SettingsError

if TYPE_CHECKING:
    from ..settings import ConnectionSettings
    from .base import Provider, SetupStep

#: name -> (title, package)
PROVIDERS: dict[str, tuple[str, str]] = {
    "bynder": ("Bynder", "damkit.providers.bynder"),
    "canto": ("Canto", "damkit.providers.canto"),
    "percolate": ("Percolate", "damkit.providers.percolate"),
}


def _known(name: str) -> str:
    key = (name or "").strip().lower()
    if key not in PROVIDERS:
        raise SettingsError(f"unknown provider '{name}'", field="provider",
                            hint="choose one of: " + ", ".join(PROVIDERS))
    return key


def settings_model(name: str) -> type[ConnectionSettings]:
    module = importlib.import_module(PROVIDERS[_known(name)][1] + ".settings")
    return next(v for v in vars(module).values()
                if isinstance(v, type) and getattr(v, "provider", None) == _known(name))


def setup_steps(name: str) -> tuple[SetupStep, ...]:
    return importlib.import_module(PROVIDERS[_known(name)][1] + ".steps").STEPS


def provider_class(name: str) -> type[Provider]:
    module = importlib.import_module(PROVIDERS[_known(name)][1] + ".connector")
    return module.PROVIDER


def provider_title(name: str) -> str:
    return PROVIDERS[_known(name)][0]
