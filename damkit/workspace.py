"""The Workspace: the one entry point every frontend uses.

A workspace is a folder: the library index (``index/``), the files (``DAM Import/``), logs,
per-connection state and ``workspace.json`` (settings of the workspace itself, e.g. the public URL
of the event consumer and the library URL template). Connection settings without secrets live in
the index; secrets live in the :class:`~damkit.secrets.SecretStore`, and the index keeps only
references to them.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import NotFoundError, SettingsError
from .index import Index, index_location, is_database_url, open_index
from .library import LIBRARY_FOLDER
from .providers import get as provider_spec
from .providers import settings_model
from .settings import (
    SNS_TOPIC_ARN_RE,
    ConnectionSettings,
    check_queue_url,
    clean_base_url,
    clean_connection_name,
    event_consumer_path,
    parse_settings,
    parse_sync_every,
)

if TYPE_CHECKING:
    from .providers.base import CheckReport, ConnectionContext, Provider, TagCount
    from .providers.spec import BrowserLogin, ProviderSpec
    from .secrets import SecretStore
    from .storage import LibraryStore

T = TypeVar("T")

BACKLINK_HINT = ("set it with `damkit config set library_url_template "
                 "'https://library.example.com/assets/{id}'` ({id}, {connection} and {path} are "
                 "filled in), or turn the backlink off")
ENV_HOME = "DAMKIT_HOME"


def default_home() -> Path:
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("damkit", appauthor=False))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkspaceConfig(BaseModel):
    """Settings of the workspace itself (``damkit config``)."""

    # hide_input_in_errors: an index_url pasted with its password is refused without echoing it
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True,
                              defer_build=True)

    public_url: str | None = Field(
        default=None,
        title="Public base URL",
        description="HTTPS address at which this workspace's event consumer is reachable "
        "(e.g. https://dam.example.com). The Bynder Event consumer URL is derived from it.",
    )
    library_url_template: str | None = Field(
        default=None,
        title="Library URL template",
        description="Address of an asset in the library, written into Bynder by the backlink; "
        "{id}, {connection} and {path} are filled in, e.g. https://library.example.com/assets/{id}",
    )
    library_url: str | None = Field(
        default=None,
        title="Library location",
        description="Where synced files land when not in the workspace's DAM Import folder: an "
        "S3-compatible bucket, s3://bucket/prefix (needs damkit[server]; DAMKIT_LIBRARY_URL "
        "overrides it). Credentials come from the AWS environment or config.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        title="S3 endpoint URL",
        description="Address of an S3-compatible server for library_url (e.g. "
        "http://127.0.0.1:9000); empty for AWS. DAMKIT_S3_ENDPOINT_URL overrides it.",
    )
    sns_trusted_cert_hosts: list[str] = Field(
        default_factory=list,
        title="Extra trusted SNS certificate hosts",
        description="Only for the sandbox: hosts besides sns.<region>.amazonaws.com whose "
        "signing certificates the event consumer trusts.",
    )
    sns_topics: list[str] = Field(
        default_factory=list,
        title="Allowed SNS topics",
        description="ARNs of the SNS topics (Bynder's) the event consumer accepts messages from, "
        "e.g. arn:aws:sns:eu-west-1:123456789012:bynder-acme. Every other topic is refused.",
    )
    queue_url: str | None = Field(
        default=None,
        title="Task queue database",
        description="PostgreSQL URL of the task queue (docs/scale-out.md), without a password "
        "(use DAMKIT_QUEUE_URL, PGPASSWORD or ~/.pgpass for it); DAMKIT_QUEUE_URL overrides it.",
    )
    sync_every: list[str] = Field(
        default_factory=list,
        title="Scheduled syncs",
        description="Minutes between scheduled syncs per connection, run by `damkit worker`: "
        "NAME=MINUTES entries, `*=MINUTES` for every other connection, e.g. acme=15,*=60.",
    )

    index_url: str | None = Field(
        default=None,
        title="Index database URL",
        description="PostgreSQL database holding the library index, for workspaces shared by "
        "several machines, e.g. postgresql://damkit@db.example.com/damkit (the password goes "
        "in PGPASSWORD or ~/.pgpass, never here). DAMKIT_INDEX_URL overrides it; unset: the "
        "index folder of the workspace.",
    )

    @field_validator("index_url")
    @classmethod
    def _index_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if not value or not value.strip():
            return None
        value = value.strip()
        if not is_database_url(value):
            raise ValueError("must be a postgresql:// URL, e.g. postgresql://damkit@db.example.com/damkit")
        if urlsplit(value).password or "password=" in value:
            raise ValueError("must not hold a password: put it in PGPASSWORD or ~/.pgpass")
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        return None if not value else clean_base_url(value, example="dam.example.com")

    @field_validator("sns_topics")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        arns = [arn.strip() for arn in value if arn.strip()]  # `config set a, b` or ""
        for arn in arns:
            if not SNS_TOPIC_ARN_RE.fullmatch(arn):
                raise ValueError(f"'{arn}' is not an SNS topic ARN "
                                 "(arn:aws:sns:<region>:<account>:<topic>)")
        return list(dict.fromkeys(arns))

    @field_validator("library_url")
    @classmethod
    def _library(cls, value: str | None) -> str | None:
        from .storage import parse_library_url

        if not value or not value.strip():
            return None
        parse_library_url(value)
        return value.strip()

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        from .storage import check_endpoint_url

        return check_endpoint_url(value) if value and value.strip() else None

    @field_validator("queue_url")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        return check_queue_url(value, stored=True) if value else None

    @field_validator("sync_every")
    @classmethod
    def _every(cls, value: list[str]) -> list[str]:
        entries = [v.strip() for v in value if v.strip()]
        parse_sync_every(entries)
        return entries

    @field_validator("library_url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if not value:
            return None
        if "{id}" not in value and "{path}" not in value:
            raise ValueError("must contain {id} or {path}")
        clean_base_url(value.split("{", 1)[0].rstrip("/") or value, example="library.example.com")
        return value


class ConnectionSecrets:
    """One connection's view of the secret store (what a provider gets as ``ctx.secrets``)."""

    def __init__(self, store: SecretStore, connection: str) -> None:
        self._store = store
        self._connection = connection

    def get(self, field: str) -> str | None:
        return self._store.get(self._connection, field)

    def set(self, field: str, value: str) -> None:
        self._store.set(self._connection, field, value)

    def delete(self, field: str) -> None:
        self._store.delete(self._connection, field)


class _MemorySecrets:
    """Secrets a draft provider obtains (never stored)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, field: str) -> str | None:
        return self._values.get(field)

    def set(self, field: str, value: str) -> None:
        self._values[field] = value

    def delete(self, field: str) -> None:
        self._values.pop(field, None)


class Workspace:
    """A damkit workspace. Open it with :func:`open_workspace`."""

    def __init__(self, root: Path, *, secret_store: SecretStore | None = None,
                 env: dict[str, str] | None = None, interactive: bool = False) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.library_dir.mkdir(exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        self._env = env
        self.index: Index = open_index(index_location(
            self.root / "index", env=env,
            configured=self.config().index_url if self.config_path.exists() else None))
        self._secrets = secret_store
        self._interactive = interactive  # may ask for the secrets passphrase on a terminal
        self._lock = threading.Lock()
        self._store: LibraryStore | None = None

    # --- places -------------------------------------------------------------------------------

    @property
    def library_dir(self) -> Path:
        return self.root / LIBRARY_FOLDER

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def state_dir(self, connection: str) -> Path:
        path = self.root / "state" / connection
        path.mkdir(parents=True, exist_ok=True)
        return path

    def library_store(self) -> LibraryStore:
        """Where library files live: this folder's ``DAM Import`` unless ``library_url`` (or
        ``DAMKIT_LIBRARY_URL``) names a bucket. Made once per Workspace."""
        with self._lock:
            if self._store is None:
                from .storage import open_store

                config = self.config()
                self._store = open_store(self.root, library_url=config.library_url,
                                         endpoint_url=config.s3_endpoint_url, env=self._env)
            return self._store

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # --- workspace config ---------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "workspace.json"

    def config(self) -> WorkspaceConfig:
        from .index.storage import read_json

        if not self.config_path.exists():
            return WorkspaceConfig()
        data = read_json(self.config_path) or {}
        try:
            return WorkspaceConfig.model_validate(data)
        except ValueError as exc:
            raise SettingsError(f"{self.config_path}: {exc}",
                                hint="fix or delete the file, then run `damkit config`") from None

    def set_config(self, **values: Any) -> WorkspaceConfig:
        from .index.storage import write_json_atomic

        current = self.config().model_dump()
        current.update(values)
        try:
            config = WorkspaceConfig.model_validate(current)
        except ValueError as exc:
            from .settings import _first_message

            raise SettingsError(_first_message(exc, WorkspaceConfig)) from None  # type: ignore[arg-type]
        write_json_atomic(self.config_path, config.model_dump())
        with self._lock:
            self._store = None  # library_url may have changed
        return config

    # --- secrets --------------------------------------------------------------------------------

    @property
    def secrets(self) -> SecretStore:
        """Resolved once, on first use (so commands that need no secret never probe a keyring)."""
        with self._lock:
            if self._secrets is None:
                from .secrets import resolve_secret_store

                self._secrets = resolve_secret_store(self.root, env=self._env,
                                                     interactive=self._interactive)
            return self._secrets

    # --- connections ----------------------------------------------------------------------------

    def connections(self) -> list[dict[str, Any]]:
        return sorted(self.index.list_connections(), key=lambda c: c["name"])

    def connection(self, name: str) -> dict[str, Any]:
        doc = self.index.get_connection(name)
        if doc is None:
            known = ", ".join(c["name"] for c in self.connections()) or "none yet"
            raise NotFoundError(f"no connection named '{name}'",
                                hint=f"connections: {known}; add one with `damkit connections add`")
        return doc

    def add_connection(self, provider: str, name: str, values: dict[str, Any]) -> dict[str, Any]:
        """Validate and save a new connection. Secrets go to the secret store, never the index."""
        clean_connection_name(name)
        model = settings_model(provider)
        if self.index.get_connection(name) is not None:
            raise SettingsError(f"a connection named '{name}' already exists", field="name",
                                hint="choose another name, or `damkit connections edit`")
        given = self._resolve_keys(model, values)
        from_env = self._env_secrets(name, model, given)
        settings = parse_settings(model, {**given, **from_env})
        return self._save(name, settings, created=now_iso(), from_env=set(from_env))

    def _env_secrets(self, name: str, model: type[ConnectionSettings],
                     given: dict[str, Any]) -> dict[str, str]:
        """Secret fields not given but set as ``DAMKIT_<CONNECTION>_<FIELD>``: the connection
        uses them from there (servers, CI), and nothing is saved to a store."""
        if not any(f not in given for f in model.secret_fields()):
            return {}
        found = {f: self.secrets.env_get(name, f) for f in model.secret_fields() if f not in given}
        return {f: v for f, v in found.items() if v is not None}

    def edit_connection(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change some fields; unchanged secrets stay in the store."""
        doc = self.connection(name)
        model = settings_model(doc["provider"])
        current = self.load_settings(name, require_secrets=False)
        merged: dict[str, Any] = {}
        for field in model.model_fields:
            value = getattr(current, field)
            merged[field] = value
        given = self._resolve_keys(model, values)
        merged.update(given)
        settings = parse_settings(model, _unwrap(merged))
        # a secret not given now and read from the environment stays there (never copied into
        # a store); a stored one it overrides stays stored as it was
        from_env = {f for f in model.secret_fields()
                    if f not in given and self.secrets.env_get(name, f) is not None}
        return self._save(name, settings, created=doc.get("created"), previous=doc,
                          from_env=from_env)

    def _resolve_keys(self, model: type[ConnectionSettings], values: dict[str, Any]) -> dict[str, Any]:
        return {model.resolve_field_name(k): v for k, v in values.items()}

    def _save(self, name: str, settings: ConnectionSettings, *, created: str | None,
              previous: dict[str, Any] | None = None,
              from_env: set[str] | None = None) -> dict[str, Any]:
        provider = settings.provider
        secrets = settings.secret_values()
        refs: dict[str, str] = dict((previous or {}).get("secrets", {}))
        for field, value in secrets.items():
            if field in (from_env or ()):  # read from the environment on every use; nothing to save
                refs.setdefault(field, f"secret:env:{name}/{field}")
                continue
            self.secrets.set(name, field, value)
            refs[field] = self.secrets.ref(name, field)
        for field in settings.secret_fields():
            if field not in secrets and field in refs and getattr(settings, field) is None:
                refs.pop(field)
                self.secrets.delete(name, field)
        doc = {
            "name": name,
            "provider": provider,
            "settings": settings.plain_dict(),
            "secrets": refs,
            "created": created or now_iso(),
            "updated": now_iso(),
        }
        for keep in ("last_check", "last_sync"):
            if previous and keep in previous:
                doc[keep] = previous[keep]
        self.index.put_connection(doc)
        return doc

    def remove_connection(self, name: str, *, delete_files: bool = False) -> None:
        """Forget a connection and its secrets. Its files and index entries stay unless asked."""
        doc = self.connection(name)
        fields = list(doc.get("secrets", {}))
        obtained = list(provider_spec(doc["provider"]).capabilities.login_secrets)
        if fields or obtained:
            self.secrets.delete_connection(name, fields + obtained)
        if delete_files:
            keys = self.index.asset_keys(name)
            self.index.remove_assets(name, sorted(keys))
            self.library_store().remove_connection(name)
        self.index.remove_connection(name)

    def load_settings(self, name: str, *, require_secrets: bool = True) -> ConnectionSettings:
        """Settings with their secrets from the store (env overrides first)."""
        doc = self.connection(name)
        model = settings_model(doc["provider"])
        values: dict[str, Any] = dict(doc.get("settings", {}))
        for field in model.secret_fields():
            value = self.secrets.get(name, field) if (field in doc.get("secrets", {})
                                                     or require_secrets) else None
            if value is None and field in doc.get("secrets", {}) and require_secrets:
                tried = self.secrets.sources_tried(name, field)
                hint = (f"set DAMKIT_SECRETS_PASSPHRASE (or run on a terminal to be asked), or "
                        f"set {env_name(name, field)}" if self.secrets.locked is not None else
                        f"set it with `damkit connections edit {name} --secret {field}` "
                        f"or the environment variable {env_name(name, field)}")
                raise SettingsError(
                    f"{name}: the secret '{model.field_spec(field).label}' was not found "
                    f"({'; '.join(tried)})",
                    field=field, hint=hint,
                )
            if value is not None:
                values[field] = value
        if not require_secrets:
            return model.model_construct(**values)
        return parse_settings(model, values)

    def spec(self, name: str) -> ProviderSpec:
        """What connection ``name``'s provider is and can do (its registered spec)."""
        return provider_spec(self.connection(name)["provider"])

    def context(self, name: str, *, rate: float | None = None) -> ConnectionContext:
        """Everything a provider instance (or its login) gets: settings with secrets, places."""
        from .providers.base import ConnectionContext

        return ConnectionContext(name=name, settings=self.load_settings(name),
                                 secrets=ConnectionSecrets(self.secrets, name),
                                 state_dir=self.state_dir(name), rate=rate)

    def provider(self, name: str, *, rate: float | None = None) -> Provider:
        """A ready provider instance for a connection (use as ``async with``)."""
        spec = self.spec(name)
        return spec.connector_class()(self.context(name, rate=rate))

    def login(self, name: str, *, port: int | None = None) -> BrowserLogin:
        """The browser login of a connection whose provider declares one (use as ``async with``);
        a :class:`SettingsError` for the others."""
        return self.spec(name).login_flow(self.context(name), port=port)

    def event_consumer_url(self, name: str) -> str | None:
        """The Event consumer URL of a provider with change notifications: derived from the
        public URL and the DAM instance, never typed (None for other providers, or before the
        public URL is set).

        Same instance → same URL, whichever workspace or connection asks (one request per URL).
        """
        doc = self.connection(name)
        spec = provider_spec(doc["provider"])
        if not spec.capabilities.change_notifications:
            return None
        public = self.config().public_url
        if not public:
            return None
        return public.rstrip("/") + event_consumer_path(spec.name,
                                                        doc["settings"][spec.instance_field])

    # --- browser login notes -------------------------------------------------------------------

    def record_login(self, name: str, *, library: str | None) -> dict[str, Any]:
        """Note a finished browser login: when, and which part of the DAM the user said they
        selected on its consent page (the DAM's answer does not say; see docs/tui.md)."""
        from .index.storage import write_json_atomic

        self.connection(name)  # a clear error for an unknown name
        note = {"at": now_iso(), "library": (library or "").strip() or None}
        write_json_atomic(self.state_dir(name) / "login.json", note)
        return note

    def login_note(self, name: str) -> dict[str, Any] | None:
        """The last :meth:`record_login` note of ``name`` (None when none was recorded)."""
        from .index.storage import read_json

        path = self.root / "state" / name / "login.json"
        data = read_json(path) if path.exists() else None
        return data if isinstance(data, dict) else None

    # --- check ----------------------------------------------------------------------------------

    async def check(self, name: str) -> CheckReport:
        """Test Connection; the outcome is recorded on the connection."""
        started = time.perf_counter()
        async with self.provider(name) as provider:
            report = await provider.check()
            self._check_backlink(provider.settings, report)
        self._check_login(name, report)
        report.seconds = round(time.perf_counter() - started, 4)
        doc = self.connection(name)
        doc["last_check"] = {"at": now_iso(), "ok": report.ok, "eligible": report.eligible,
                             "failure": (report.first_failure.detail if report.first_failure
                                         else None),
                             "permissions": report.permissions}
        self.index.put_connection(doc)
        return report

    async def tags(self, name: str, *, near: str | None = None, limit: int | None = None,
                   draft: tuple[str, dict[str, Any]] | None = None) -> list[TagCount]:
        """The tags (keywords, terms) connection ``name``'s DAM has in use, with their file
        counts, most used first; with ``near``, the spellings closest to it come first (the same
        letters in another case, then those starting with it, containing it, or resembling it),
        so a customer picks the spelling instead of typing it.

        ``draft``: ``(provider, values)`` of a form not saved yet (values over the saved ones
        when ``name`` exists); nothing is saved."""
        provider = self.provider(name) if draft is None else self._draft_provider(name, *draft)
        async with provider:
            found = await provider.list_tags(None, limit=TAGS_READ)
        ranked = rank_tags(found, near) if near and near.strip() else found
        return ranked[:limit] if limit is not None else ranked

    def _draft_provider(self, name: str, provider: str, values: dict[str, Any]) -> Provider:
        """A provider instance on unsaved settings (a form being filled): nothing is stored;
        tokens it obtains stay in memory."""
        from .providers.base import ConnectionContext

        model = settings_model(provider)
        merged: dict[str, Any] = {}
        saved = self.index.get_connection(name) if name else None
        if saved is not None and saved["provider"] == provider:
            current = self.load_settings(name, require_secrets=False)
            merged = {f: getattr(current, f, None) for f in model.model_fields}
            merged = {k: v for k, v in merged.items() if v is not None}
        merged.update(self._resolve_keys(model, values))
        if not merged.get(model.tag_field):
            merged[model.tag_field] = "-"  # listing the tags needs none; the model wants one
        settings = parse_settings(model, _unwrap(merged))
        secrets: Any = (ConnectionSecrets(self.secrets, name) if saved is not None
                        else _MemorySecrets())
        ctx = ConnectionContext(name=name or "draft", settings=settings, secrets=secrets,
                                state_dir=self.state_dir(name or "_draft"))
        return provider_spec(provider).connector_class()(ctx)

    def _check_login(self, name: str, report: CheckReport) -> None:
        """A failed check of a connection never logged in (its provider declares a browser
        login): the fix is the login action, as structured data each frontend turns into its
        own way to log in (a key, a button, a command)."""
        from .providers.base import Fix

        failed = report.first_failure
        spec = self.spec(name)
        caps = spec.capabilities
        marker = caps.login_marker or (caps.login_secrets[0] if caps.login_secrets else None)
        if (failed is None or not caps.browser_login or marker is None
                or self.secrets.source(name, marker) is not None):
            return
        step = next((s.id for s in spec.setup_steps() if s.action == "auth"), None)
        failed.fix = Fix(step=step, run="auth", message=f"not logged in to {spec.title} yet",
                         action=f"log in to {spec.title} first")

    def _check_backlink(self, settings: ConnectionSettings, report: CheckReport) -> None:
        """The backlink needs the workspace's library URL template: say so at check time."""
        from .providers.base import CheckStep

        problem = self.backlink_problem(settings)
        if problem:
            report.steps.append(CheckStep(name="Backlink URL", status="failed", detail=problem,
                                          hint=BACKLINK_HINT))
            report.ok = False

    def backlink_problem(self, settings: ConnectionSettings) -> str | None:
        """Why a backlink cannot be written for these settings (None when it can, or is off):
        the backlink needs this workspace's library URL template. Shared by the check (which
        reports it) and the sync (which refuses to run)."""
        if settings.backlink_property_label() is None:
            return None
        if not self.config().library_url_template:
            return ("the backlink is on but the workspace has no library URL template, so there "
                    "is no address to write into the DAM")
        return None

    # --- diagnostics ------------------------------------------------------------------------------

    def doctor(self) -> dict[str, Any]:
        """What `damkit doctor` shows: places, the secret store and why, and per connection where
        each secret comes from (never its value), the login state and the last check and sync."""
        import platform

        from . import __version__

        store = self.secrets
        stats = self.library_stats()
        connections = []
        for doc in self.connections():
            name = doc["name"]
            model = settings_model(doc["provider"])
            secrets = {f: store.source(name, f) for f in model.secret_fields()
                       if f in doc.get("secrets", {}) or store.source(name, f) == "env"}
            entry: dict[str, Any] = {
                "name": name, "provider": doc["provider"],
                "secrets": secrets,
                "missing_secrets": sorted(f for f, src in secrets.items() if src is None),
                "last_check": doc.get("last_check"), "last_sync": doc.get("last_sync"),
            }
            marker = provider_spec(doc["provider"]).capabilities.login_marker
            if marker is not None:
                entry["logged_in"] = store.source(name, marker) is not None
            connections.append(entry)
        return {
            "version": __version__,
            "python": platform.python_version(),
            "workspace": str(self.root),
            "library": self.library_store().url,
            "secret_store": store.kind,
            "secret_store_why": list(store.why),
            "warnings": list(store.warnings),
            "assets": stats.get("assets"),
            "connections": connections,
        }

    # --- library --------------------------------------------------------------------------------

    def library_stats(self, connection: str | None = None) -> dict[str, Any]:
        return self.index.stats(connection)

    def assets(self, **filters: Any) -> list[dict[str, Any]]:
        return self.index.assets(**filters)


#: tags read from the DAM by :meth:`Workspace.tags` (then ranked and cut to ``limit``)
TAGS_READ = 2000


def rank_tags(tags: list[TagCount], near: str) -> list[TagCount]:
    """``tags`` with the spellings near ``near`` first (most files first within each rank):
    the same letters in another case or spacing, then starting with it, containing it, then
    resembling it (a typo); the rest keep their order after them."""
    from difflib import SequenceMatcher

    wanted = near.strip().casefold()

    def rank(tag: TagCount) -> int:
        text = tag.tag.strip().casefold()
        if text == wanted:
            return 0
        if text.startswith(wanted):
            return 1
        if wanted in text:
            return 2
        if SequenceMatcher(None, wanted, text).ratio() >= 0.75:
            return 3
        return 4

    return sorted(tags, key=lambda t: (rank(t), -t.count))


def _unwrap(values: dict[str, Any]) -> dict[str, Any]:
    from pydantic import SecretStr

    return {k: (v.get_secret_value() if isinstance(v, SecretStr) else v) for k, v in values.items()}


def env_name(connection: str, field: str) -> str:
    """The environment variable a secret is read from: ``DAMKIT_<CONNECTION>_<FIELD>``."""
    from .secrets import env_var_name

    return env_var_name(connection, field)


def open_workspace(path: str | os.PathLike[str] | None = None, *,
                   secret_store: SecretStore | None = None,
                   env: dict[str, str] | None = None,
                   interactive: bool = False) -> Workspace:
    """Open (or create) a workspace: ``path``, else ``$DAMKIT_HOME``, else the user data dir.

    ``interactive=True`` lets the encrypted secret store ask for its passphrase on a terminal
    (the command line; the console asks before it takes the screen) when
    ``DAMKIT_SECRETS_PASSPHRASE`` is not set.
    """
    root = Path(path).expanduser() if path is not None else default_home()
    return Workspace(root.resolve(), secret_store=secret_store, env=env, interactive=interactive)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from blocking code (the CLI). Not for Jupyter: use ``await`` there."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    raise RuntimeError("run_sync() called inside a running event loop: await the coroutine")


__all__ = ["LIBRARY_FOLDER", "Workspace", "WorkspaceConfig", "open_workspace", "run_sync"]
