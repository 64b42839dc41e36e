"""What every secret store shares: names, the settings damkit reads from the environment, and
the env-only store (no writable backend)."""

from __future__ import annotations

from pathlib import Path

from ..errors import SecretStoreError

ENCRYPTED_FILE = "secrets.enc"
PLAINTEXT_FILE = "secrets.json"
#: A file the demo puts in its own workspace: the secrets there are the sandbox's throwaway keys,
#: kept in the plaintext file, and every command on that workspace uses it without a warning.
DEMO_MARKER = "sandbox-demo-workspace"

ENV_STORE = "DAMKIT_SECRET_STORE"
ENV_PASSPHRASE = "DAMKIT_SECRETS_PASSPHRASE"
ENV_INSECURE = "DAMKIT_INSECURE_SECRETS"

KINDS = ("keyring", "encrypted", "plaintext", "env-only")

FIXES = (
    "set DAMKIT_SECRETS_PASSPHRASE to a passphrase you choose (export "
    "DAMKIT_SECRETS_PASSPHRASE=...; it encrypts the workspace's secrets.enc) and run the command "
    "again, or run it on a terminal to be asked for one; or "
    "unlock an OS keyring (e.g. gnome-keyring in a D-Bus session), "
    "or opt in to a plaintext file with DAMKIT_INSECURE_SECRETS=1; "
    "DAMKIT_<CONNECTION>_<FIELD> environment variables are read in any case"
)


def check_names(connection: str, field: str) -> None:
    """ValueError unless both names are usable as keyring usernames and file keys."""
    for what, value in (("connection", connection), ("field", field)):
        if not isinstance(value, str) or not value or value != value.strip():
            raise ValueError(f"secret store: invalid {what} name {value!r}")
        if any(c in value for c in "/\\:\n\r\t\0 "):
            raise ValueError(f"secret store: {what} name {value!r} may not contain '/', ':' or spaces")


class Backend:
    """No writable store (env-only). ``locked`` is a secrets file that exists but cannot be opened."""

    kind = "env-only"
    location: str | None = None

    def __init__(self, locked: Path | None = None) -> None:
        self.locked = locked

    def get(self, connection: str, field: str) -> str | None:
        return None

    def set(self, connection: str, field: str, value: str) -> None:
        raise SecretStoreError(
            f"cannot save secret '{field}' of connection '{connection}': no writable secret store "
            "here (no usable OS keyring, no DAMKIT_SECRETS_PASSPHRASE, no terminal to ask for "
            "one); nothing was saved",
            hint=FIXES,
        )

    def delete_many(self, connection: str, fields: list[str]) -> None:
        # Nothing can have been saved without a writable store: nothing to delete, unless a
        # locked secrets file may still hold them; then say so rather than leave them silently.
        if self.locked is not None and self.locked.exists():
            raise SecretStoreError(
                f"cannot delete secrets of connection '{connection}': {self.locked} is locked",
                hint=f"set {ENV_PASSPHRASE} to unlock it",
            )


__all__ = ["DEMO_MARKER", "ENCRYPTED_FILE", "ENV_INSECURE", "ENV_PASSPHRASE", "ENV_STORE", "FIXES", "KINDS",
           "PLAINTEXT_FILE", "Backend", "check_names"]
