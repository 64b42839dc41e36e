"""Where damkit keeps connection secrets: one :class:`SecretStore`, resolved once and explicitly.

Order (see the reliability notes §2.4), one module each:

1. **Environment variables** (:mod:`.env`), read-only, consulted first on every
   :meth:`SecretStore.get`, on top of whichever writable store was chosen:
   ``DAMKIT_<CONNECTION>_<FIELD>``, upper-cased, ``-`` → ``_``
   (``DAMKIT_ACME_BYNDER_CONSUMER_SECRET``). Writes never go there.
2. **The OS keyring** (:mod:`.keyring_store`), when ``keyring.get_keyring()`` is a real backend
   (not the fail/null one, not a plaintext or self-prompting one) *and* a set/get/delete probe
   round-trip answers within ``probe_timeout`` seconds (a locked Secret Service waits for an
   unlock prompt nobody sees). Service ``damkit:<connection>``, username = field name.
3. **An encrypted file** (:mod:`.encrypted`), ``<workspace>/secrets.enc``: scrypt key derivation +
   AES-256-GCM over the whole file, atomic replace, mode 0600. Passphrase from the
   ``passphrase=`` argument, ``DAMKIT_SECRETS_PASSPHRASE``, or a prompt (:mod:`.prompt`; only with
   ``interactive=True`` and a TTY on stdin; a TUI asks first and passes ``passphrase=``).
4. **A plaintext file** (:mod:`.plaintext`), ``<workspace>/secrets.json`` (0600), only on
   explicit opt-in (``DAMKIT_INSECURE_SECRETS=1`` or ``allow_plaintext=True``), with a warning on
   every start.

``DAMKIT_SECRET_STORE=keyring|encrypted|plaintext`` (or ``env``) forces one store; it is an
error when that store is unusable. Without a writable store the kind is ``env-only``: environment
reads work, writes raise :class:`~damkit.errors.SecretStoreError` naming the fixes. The choice is
made by :func:`resolve_secret_store` (:mod:`.resolve`).

Every value read or written is registered with :mod:`damkit.redact`. Messages and ``why`` lines
name connections and fields, never values.
"""

from __future__ import annotations

from .base import ENCRYPTED_FILE, KINDS, PLAINTEXT_FILE
from .env import env_var_name
from .resolve import resolve_secret_store
from .store import SecretStore

__all__ = [
    "ENCRYPTED_FILE",
    "KINDS",
    "PLAINTEXT_FILE",
    "SecretStore",
    "env_var_name",
    "resolve_secret_store",
]
