"""Open your own workspace from a notebook, asking for the secrets passphrase in a hidden box
when the encrypted store needs one and ``DAMKIT_SECRETS_PASSPHRASE`` is not set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as W

from ..workspace import Workspace, default_home, open_workspace
from .common import error_html

ENV_PASSPHRASE = "DAMKIT_SECRETS_PASSPHRASE"
ENCRYPTED_FILE = "secrets.enc"


def needs_passphrase(root: Path, env: dict[str, str]) -> bool:
    """The workspace's encrypted secret store exists (or is chosen) and no passphrase is given."""
    encrypted = (root / ENCRYPTED_FILE).exists() or env.get("DAMKIT_SECRET_STORE") == "encrypted"
    return encrypted and not env.get(ENV_PASSPHRASE)


class PassphraseBox:
    """A password box and Unlock: the passphrase goes to this workspace's environment only
    (never ``os.environ``, never an output); the box is emptied once used."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.box = W.Password(placeholder="secrets passphrase", description="Passphrase")
        self.button = W.Button(description="Unlock", icon="unlock")
        self.status = W.HTML("The secret store is encrypted: type its passphrase and click "
                             f"Unlock (or set {ENV_PASSPHRASE} before starting Jupyter).")
        self.button.on_click(lambda _b: self.unlock())
        self.widget = W.VBox([self.status, W.HBox([self.box, self.button])])

    def unlock(self) -> bool:
        value, self.box.value = self.box.value, ""
        if not value:
            self.status.value = error_html("Type the passphrase first.")
            return False
        self.env[ENV_PASSPHRASE] = value
        self.status.value = "Unlocked for this notebook: run the next cells."
        return True

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = "PassphraseBox()"
        return bundle


def real_workspace(path: str | Path | None = None) -> Workspace:
    """Your workspace (``path``, else ``$DAMKIT_HOME``, else the user data folder). When its
    secrets are encrypted and ``DAMKIT_SECRETS_PASSPHRASE`` is not set, a hidden box is shown
    to type the passphrase; the secrets are read only after Unlock."""
    root = Path(path).expanduser() if path is not None else default_home()
    env = dict(os.environ)
    ws = open_workspace(root, env=env)
    if needs_passphrase(root, env):
        from IPython.display import display

        display(PassphraseBox(env))  # type: ignore[no-untyped-call]
    return ws
