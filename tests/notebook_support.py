"""Helpers shared by the notebook tests (tests/test_notebook_*.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ipywidgets as W

from damkit.providers import settings_model
from damkit.sandbox.app import SandboxConfig, SandboxState

ASSETS = 60  # the notebooks' sandbox size
RATE = 200.0  # client-side requests/s for sandbox syncs in tests


def manifest_secrets(manifest: dict[str, Any]) -> dict[str, str]:
    """``"<provider>.<field>" -> value`` of every secret field in a sandbox manifest."""
    out: dict[str, str] = {}
    for provider, fields in manifest["providers"].items():
        for name in settings_model(provider).secret_fields():
            value = fields.get(name)
            if isinstance(value, str) and value:
                out[f"{provider}.{name}"] = value
    return out


def seeded_secrets(assets: int = ASSETS) -> dict[str, str]:
    """The secrets of a sandbox built with the default seed (what a notebook's sandbox serves):
    the catalog and credentials depend on the seed only, not on the port."""
    return manifest_secrets(SandboxState(SandboxConfig(assets=assets)).manifest())


def store_secrets(path: Path) -> dict[str, str]:
    """Every value of a plaintext secret file worth searching for (tokens, keys)."""
    doc = json.loads(path.read_text("utf-8"))
    out = {}
    for conn, fields in doc["connections"].items():
        for name, value in fields.items():
            if len(value) >= 12 and not value.replace(".", "").isdigit():
                out[f"{conn}.{name}"] = value
    return out


def widget_states(root: W.Widget) -> list[dict[str, Any]]:
    """The synced state of ``root`` and every widget below it (what a browser would get)."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    todo: list[Any] = [root]
    while todo:
        widget = todo.pop()
        if not isinstance(widget, W.Widget) or id(widget) in seen:
            continue
        seen.add(id(widget))
        out.append(widget.get_state())
        for key in widget.keys:
            value = getattr(widget, key, None)
            if isinstance(value, W.Widget):
                todo.append(value)
            elif isinstance(value, (list, tuple)):
                todo.extend(v for v in value if isinstance(v, W.Widget))
    return out


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets whose value occurs in ``text``."""
    return [name for name, value in secrets.items() if value in text]
