"""The one interface every provider implements.

A provider is a folder ``damkit/providers/<name>/`` whose ``__init__`` declares its
:class:`~damkit.providers.spec.ProviderSpec` (``SPEC``); the spec names its :class:`Provider`
subclass (the connector). See ``docs/adding-a-provider.md``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..errors import (
    BadAnswer,
    CredentialsRefused,
    DamkitError,
    Forbidden,
    RateLimited,
    RemoteNotFound,
    Unavailable,
    Unreachable,
    typed,
)
from ..redact import redact
from ..settings import ConnectionSettings

if TYPE_CHECKING:
    from .spec import ProviderSpec

StepStatus = Literal["ok", "failed", "warning", "skipped"]


@dataclass(frozen=True)
class SetupStep:
    """One step of a provider's setup guide, as data the TUI and the notebook render."""

    id: str
    title: str
    where: str  # where it happens: "Bynder: Settings > Advanced settings > Portal settings > API tokens"
    what: str  # what to do there, in the guide's words
    fields: tuple[str, ...] = ()  # settings fields this step yields
    warnings: tuple[str, ...] = ()  # the guide's "Important:" notes for this step
    action: str | None = None  # a damkit action this step runs: "save", "check", "auth", "events-request"


class RemoteAsset(BaseModel):
    """One asset as a provider lists it (what the sync engine compares with the index)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    type: str = ""  # file extension or kind: "png", "pdf", "image"
    size: int | None = None
    checksum: str | None = None  # "md5:<hex>" / "sha256:<hex>" when the provider gives one
    tags: tuple[str, ...] = ()
    modified: str | None = None  # ISO-8601 UTC
    version: str | None = None  # provider's version marker, if any
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """What decides "changed": version, else checksum, else modified time; with the size.

        Metadata edits (tags, the backlink) move the modified time but not the version or the
        checksum, so they cause no download where the provider gives either.
        """
        if self.version is not None:
            return f"v:{self.version}|{self.size}"
        if self.checksum:
            return f"c:{self.checksum}|{self.size}"
        return f"m:{self.modified}|{self.size}"


class NearMiss(BaseModel):
    spelling: str
    count: int


class TagCount(BaseModel):
    """One tag (keyword, term) as the DAM spells it, with how many files carry it exactly."""

    model_config = ConfigDict(frozen=True)

    tag: str
    count: int


class Fix(BaseModel):
    """A structured hint: which guide step and which field fix a failure, and how exactly.

    Frontends render it (the console jumps to the field, the command line prints the exact
    command); nobody parses it back out of text.
    """

    step: str | None = None  # the guide step's id, e.g. "canto.api-key"
    field: str | None = None  # the settings field's name, e.g. "app_secret"
    message: str = ""  # what is wrong, in a sentence
    action: str = ""  # the exact fix, e.g. "set the keyword to 'Gelato'"
    value: str | None = None  # the value ``field`` should take, when the fix is a setting
    run: str | None = None  # the damkit action that fixes it ("auth": log in), when one does

    def text(self) -> str:
        """The one text form of a fix (``CheckStep.hint``), the same for every provider."""
        where = "; ".join(part for part in (f"guide step {self.step}" if self.step else "",
                                            f"field {self.field}" if self.field else "") if part)
        return f"{self.action} ({where})" if where else self.action


class CheckStep(BaseModel):
    name: str
    status: StepStatus
    seconds: float = 0.0
    detail: str = ""
    hint: str | None = None  # names the guide step and the field to fix (text form of ``fix``)
    fix: Fix | None = None  # the same, structured


class CheckReport(BaseModel):
    """The answer to "Test Connection"."""

    provider: str
    connection: str
    ok: bool = False
    eligible: int | None = None
    tag: str = ""
    steps: list[CheckStep] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)  # anything else worth saying
    #: spellings of the tag that differ only in case or outer spaces (never imported)
    near_misses: list[NearMiss] = Field(default_factory=list)
    #: permission name -> found (True), missing (False) or not verified (None); None when the
    #: check did not look (Bynder looks only with the backlink on)
    permissions: dict[str, bool | None] | None = None
    #: another spelling of the tag carries more files than the configured one: the fix is the
    #: setting (``field`` set to ``value``), offered before retagging files in the DAM
    better_spelling: Fix | None = None
    seconds: float = 0.0

    @property
    def first_failure(self) -> CheckStep | None:
        return next((s for s in self.steps if s.status == "failed"), None)


class StepTimer:
    """Helper for ``check()``: ``with report_step(report, "Credentials") as step: ...``."""

    def __init__(self, report: CheckReport, name: str) -> None:
        self.report = report
        self.step = CheckStep(name=name, status="ok")
        self.start = 0.0

    def __enter__(self) -> CheckStep:
        self.start = time.perf_counter()
        return self.step

    def __exit__(self, *exc: object) -> None:
        self.step.seconds = round(time.perf_counter() - self.start, 4)
        self.report.steps.append(self.step)


class StepFailed(Exception):
    """Raised inside a check stage: ends that step with a status, a detail and a hint."""

    def __init__(self, detail: str, hint: str | None = None, *, status: StepStatus = "failed",
                 fix: Fix | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint if hint is not None or fix is None else fix.text()
        self.status: StepStatus = status
        self.fix = fix


def describe_error(exc: DamkitError, *, site: Fix, keys: Fix, access: Fix | None = None) -> StepFailed:
    """Test Connection's one mapping from a typed error to a failed step with its fix.

    ``site``: the step and field that say where the DAM is (its domain or API URL); ``keys``:
    those holding the credentials; ``access``: where permissions or the scope are set.
    Branches on the error's type, never on its text.
    """
    exc = typed(exc)
    if isinstance(exc, Unreachable):
        fix = site.model_copy(update={"message": exc.message})
    elif isinstance(exc, CredentialsRefused):
        fix = keys.model_copy(update={"message": exc.message})
    elif isinstance(exc, Forbidden):
        fix = (access or keys).model_copy(update={
            "message": exc.message,
            "action": "give the credentials' user the permission this step needs"})
    elif isinstance(exc, RemoteNotFound):
        fix = (access or site).model_copy(update={"message": exc.message})
    elif isinstance(exc, RateLimited):
        wait = f"{exc.retry_after:.0f} s" if exc.retry_after else "a minute"
        fix = Fix(message=exc.message, action=f"the DAM is rate limiting these credentials: wait "
                                              f"{wait} and test again (another program may be "
                                              "using the same keys)")
    elif isinstance(exc, Unavailable):
        fix = Fix(message=exc.message, action="the DAM is failing on its side: nothing to "
                                              "change in the settings; test again later")
    elif isinstance(exc, BadAnswer):
        fix = site.model_copy(update={"message": exc.message,
                                      "action": "this does not answer like the DAM's API: "
                                                + site.action})
    else:
        return StepFailed(exc.message, exc.hint)
    return StepFailed(exc.message, fix=fix)


Stage = Callable[[CheckStep], Awaitable[None]]


async def run_stages(
    report: CheckReport,
    stages: list[tuple[str, Stage]],
    *,
    describe: Callable[[DamkitError], StepFailed],
    stop_on_failure: Callable[[str], bool] = lambda name: True,
) -> CheckReport:
    """Run Test Connection's stages in order: the one way every provider's check runs.

    Each stage fills its step or raises :class:`StepFailed`; any other damkit error is turned
    into a failed step by ``describe`` (which names the guide step and field to fix). After a
    failure for which ``stop_on_failure(name)`` is true, the remaining stages are marked
    "skipped". ``ok`` means no step failed and at least one file carries the tag exactly.
    """
    started = time.perf_counter()
    stopped = False
    for name, stage in stages:
        if stopped:
            report.steps.append(CheckStep(name=name, status="skipped",
                                          detail="not run: an earlier step failed"))
            continue
        with StepTimer(report, name) as step:
            try:
                await stage(step)
            except StepFailed as exc:
                step.status, step.detail, step.hint = exc.status, exc.detail, exc.hint
                step.fix = exc.fix
            except DamkitError as exc:
                failure = describe(exc)
                step.status, step.detail, step.hint = "failed", redact(failure.detail), failure.hint
                step.fix = failure.fix
        stopped = step.status == "failed" and stop_on_failure(name)
    report.ok = (all(s.status != "failed" for s in report.steps)
                 and (report.eligible or 0) >= 1)
    report.better_spelling = better_spelling(report)
    report.seconds = round(time.perf_counter() - started, 4)
    return report


def better_spelling(report: CheckReport) -> Fix | None:
    """The setting to change when a near miss carries more files than the tag as configured.

    The verdict stays what carries the exact tag; this only says which spelling is in use, so
    that every frontend offers to change the setting first and retagging second.
    """
    exact = report.eligible or 0
    best = max(report.near_misses, key=lambda m: m.count, default=None)
    if best is None or best.count <= exact:
        return None
    from . import find

    spec = find(report.provider)
    field_name, label, step_id = "tag", "the tag", None
    if spec is not None:
        model = spec.settings_model()
        field_name = model.tag_field
        label = model.field_spec(field_name).label
        step_id = next((s.id for s in spec.setup_steps() if field_name in s.fields), None)
    noun = spec.tag_noun if spec is not None else "tag"
    return Fix(step=step_id, field=field_name, value=best.spelling,
               message=(f"{best.count} file(s) carry the {noun} '{best.spelling}', {exact} carry "
                        f"'{report.tag}' as set"),
               action=f"set {label} to '{best.spelling}'")


class SecretAccess(Protocol):
    """What a provider may do with its connection's secrets (tokens it obtains, e.g. Canto's)."""

    def get(self, field: str) -> str | None: ...
    def set(self, field: str, value: str) -> None: ...
    def delete(self, field: str) -> None: ...


@dataclass
class ConnectionContext:
    """Everything a provider instance gets: its name, settings (with secrets), and places."""

    name: str
    settings: ConnectionSettings
    secrets: SecretAccess
    state_dir: Path  # per-connection folder for lock files and small state
    rate: float | None = None  # overrides the provider's default client-side rate limit
    options: dict[str, Any] = field(default_factory=dict)


class Provider:
    """Base class. Subclasses set ``name`` and implement the async methods.

    ``title``, ``default_rate`` and ``default_burst`` come from the registered spec (its
    :class:`~damkit.providers.spec.Capabilities`), so they are declared once.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    settings_model: ClassVar[type[ConnectionSettings]]
    steps: ClassVar[tuple[SetupStep, ...]]
    default_rate: ClassVar[float | None] = None  # requests per second, client side (from the spec)
    default_burst: ClassVar[int | None] = None  # requests at once before the rate applies (spec)
    #: ``default_rate`` is the DAM's published limit (a ceiling), not just where a rate opens
    rate_documented: ClassVar[bool] = False
    page_size: int = 500  # a class default; a connection may ask for smaller pages

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.find_spec()
        if spec is not None:
            cls.title = spec.title
            cls.default_rate = spec.capabilities.rate
            cls.default_burst = spec.capabilities.burst
            cls.rate_documented = spec.capabilities.rate_documented

    @classmethod
    def find_spec(cls) -> ProviderSpec | None:
        """The registered spec of this connector's provider (None before it is registered)."""
        from . import find

        name = cls.__dict__.get("name") or getattr(cls, "name", None)
        return find(name) if name else None

    @classmethod
    def spec(cls) -> ProviderSpec:
        from . import get

        return get(cls.name)

    def __init__(self, ctx: ConnectionContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close HTTP clients."""

    async def check(self) -> CheckReport:
        """Test Connection: every step with status, time and hint; eligible count; near misses."""
        raise NotImplementedError

    def list_assets(self) -> AsyncIterator[list[RemoteAsset]]:
        """Yield pages of the assets that carry the tag exactly."""
        raise NotImplementedError

    async def get_asset(self, asset_id: str) -> RemoteAsset | None:
        """Re-read one asset (None when deleted or gone); used by change notifications."""
        raise NotImplementedError

    def download(self, asset: RemoteAsset) -> AsyncIterator[bytes]:
        """Stream the original file's bytes. Raises HttpError on failure."""
        raise NotImplementedError

    def has_tag(self, asset: RemoteAsset) -> bool:
        return self.settings.import_tag in asset.tags

    async def replay(self, path: str, params: list[tuple[str, str]]) -> Any:
        """GET ``path`` (below the connection's base URL) signed as this connector signs its
        own requests; returns the ``httpx.Response`` (``damkit sandbox compare``)."""
        raise NotImplementedError

    # --- the backlink (providers whose capabilities declare ``backlink``) ------------------------

    async def ensure_backlink_property(self, label: str) -> str:
        """The id of the DAM field labelled ``label`` that receives library URLs (created if
        missing)."""
        raise NotImplementedError(f"{self.name} declares no backlink")

    async def write_backlink(self, asset_id: str, prop: str, url: str) -> None:
        """Write ``url`` into field ``prop`` of asset ``asset_id``."""
        raise NotImplementedError(f"{self.name} declares no backlink")

    # --- tag discovery ---------------------------------------------------------------------------

    async def list_tags(self, contains: str | None = None, limit: int = 200) -> list[TagCount]:
        """The DAM's tags (keywords, terms) in use, each spelt exactly as the DAM spells it with
        how many files carry it, most used first; at most ``limit``. ``contains``: only spellings
        containing that text, any case. Large portals are read page by page."""
        raise NotImplementedError


ProgressCallback = Callable[[dict[str, Any]], None]
