"""The settings schema every frontend renders.

Each provider declares one pydantic model derived from :class:`ConnectionSettings`. Its fields carry
the guide's label, help text and whether they are secret (see :func:`setting`). The CLI, the TUI and
the notebook read :meth:`ConnectionSettings.fields` and validate through
:meth:`ConnectionSettings.check_field` / :func:`parse_settings`, so all three agree.

Secret fields are :class:`pydantic.SecretStr`: their repr, str and JSON dump are masked.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .display import first_unsafe
from .errors import SettingsError

MASK = "********"

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")

FieldKind = Literal["text", "secret", "bool", "choice", "url"]


def setting(
    label: str,
    help: str,
    *,
    default: Any = ...,
    secret: bool = False,
    kind: FieldKind | None = None,
    choices: tuple[str, ...] | None = None,
    placeholder: str | None = None,
    advanced: bool = False,
    step: str | None = None,
) -> Any:
    """A settings field with the guide's label and help text.

    ``advanced`` fields (API base URLs for the sandbox, alternative auth) are hidden behind an
    "advanced" fold in forms. ``step`` names the guide step that yields the value.
    """
    extra: dict[str, Any] = {
        "secret": secret,
        "kind": kind or ("secret" if secret else "text"),
        "advanced": advanced,
    }
    if choices:
        extra["choices"] = list(choices)
    if placeholder:
        extra["placeholder"] = placeholder
    if step:
        extra["step"] = step
    return Field(default=default, title=label, description=help, json_schema_extra=extra)


@dataclass(frozen=True)
class FieldSpec:
    """What a frontend needs to render one field."""

    name: str
    label: str
    help: str
    kind: FieldKind
    secret: bool
    required: bool
    default: Any
    choices: tuple[str, ...] | None
    placeholder: str | None
    advanced: bool
    step: str | None


class ConnectionSettings(BaseModel):
    """Base of every provider's settings model."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, str_strip_whitespace=False,
                              defer_build=True)

    provider: ClassVar[str] = ""
    #: The field that holds the tag/keyword/term for import.
    tag_field: ClassVar[str] = "tag"
    #: Whether a tag can hold a comma in this DAM (False where its API takes comma-joined lists
    #: with no escape, so a tag with a comma can never match).
    tag_allows_comma: ClassVar[bool] = True

    @field_validator("*", mode="before")
    @classmethod
    def _no_invisible(cls, value: Any) -> Any:
        """No field may hold a control or invisible character (zero-width, bidi override, CR):
        such a value never matches what the DAM shows, and would break or forge a line."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            bad = first_unsafe(raw)
            if bad is not None:
                raise ValueError(f"contains an invisible or control character ({bad}); "
                                 "retype the value instead of pasting it")
        return value

    @classmethod
    def fields(cls) -> list[FieldSpec]:
        specs = []
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            choices = extra.get("choices")
            specs.append(
                FieldSpec(
                    name=name,
                    label=info.title or name,
                    help=info.description or "",
                    kind=extra.get("kind", "text"),  # type: ignore[arg-type]
                    secret=bool(extra.get("secret")),
                    required=info.is_required(),
                    default=None if info.is_required() else info.get_default(call_default_factory=True),
                    choices=tuple(str(c) for c in choices) if isinstance(choices, list) else None,
                    placeholder=extra.get("placeholder"),  # type: ignore[arg-type]
                    advanced=bool(extra.get("advanced")),
                    step=extra.get("step"),  # type: ignore[arg-type]
                )
            )
        return specs

    @classmethod
    def field_spec(cls, name: str) -> FieldSpec:
        for spec in cls.fields():
            if spec.name == name:
                return spec
        raise SettingsError(f"{cls.provider}: there is no field '{name}'", field=name,
                            hint="fields: " + ", ".join(s.name for s in cls.fields()))

    @classmethod
    def secret_fields(cls) -> list[str]:
        return [s.name for s in cls.fields() if s.secret]

    @classmethod
    def resolve_field_name(cls, key: str) -> str:
        """Accept a field's name or its label (any case): ``client_secret`` or ``"Client Secret"``."""
        norm = key.strip().lower().replace("-", "_")
        for spec in cls.fields():
            if norm in (spec.name, spec.label.lower(), spec.label.lower().replace(" ", "_")):
                return spec.name
        raise SettingsError(
            f"{cls.provider}: unknown field '{key}'",
            field=key,
            hint="fields: " + ", ".join(s.name for s in cls.fields()),
        )

    @classmethod
    def check_field(cls, name: str, value: Any) -> str | None:
        """Validate one field on its own (as-you-type): an error message, or None when fine.

        Runs the same validators as a save; cross-field rules (which auth fields go together) are
        checked on save only.
        """
        if name not in cls.model_fields:
            return f"there is no field '{name}'"
        try:
            cls.model_validate({name: value})
        except ValidationError as exc:
            errs = [e for e in exc.errors() if e.get("loc") and e["loc"][0] == name]
            if errs:
                return _first_message(
                    ValidationError.from_exception_data(exc.title, cast(Any, errs)), cls)
        return None

    def public_dict(self) -> dict[str, Any]:
        """Field values with secrets masked (set) or None (unset): safe to print or dump as JSON."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = MASK if value.get_secret_value() else None
            else:
                out[name] = value
        return out

    def plain_dict(self) -> dict[str, Any]:
        """Non-secret values only (what the index stores)."""
        secret = set(type(self).secret_fields())
        return {k: v for k, v in self.model_dump().items() if k not in secret}

    def secret_values(self) -> dict[str, str]:
        """Secret values that are set, for the secret store. Never log this."""
        out = {}
        for name in type(self).secret_fields():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                out[name] = value.get_secret_value()
        return out

    def backlink_property_label(self) -> str | None:
        """The label of the DAM field that receives each file's library URL; None when the
        backlink is off (or the provider has none: see ``Capabilities.backlink``)."""
        return None

    @property
    def import_tag(self) -> str:
        """The tag, keyword or term whose files are imported."""
        return str(getattr(self, type(self).tag_field))


def _first_message(exc: ValidationError, model: type[BaseModel]) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
        name = loc[0] if loc else ""
        info = model.model_fields.get(name) if name else None
        label = info.title if info and info.title else name
        msg = str(err.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = "is required"
        elif err.get("type") == "extra_forbidden":
            msg = "is not a field of this provider"
        if msg.startswith(f"{label}:"):
            parts.append(msg)
        else:
            parts.append(f"{label}: {msg}" if label else msg)
    return "; ".join(parts)


def parse_settings(model: type[ConnectionSettings], values: dict[str, Any]) -> ConnectionSettings:
    """Build settings from user input, turning pydantic's errors into one :class:`SettingsError`."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc", ())
        field = str(loc[0]) if loc else None
        raise SettingsError(_first_message(exc, model), field=field) from None


# --- validators shared by the providers ------------------------------------------------------


@functools.lru_cache(maxsize=256)  # asked for every request a client sends
def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: RFC 1123 host name limits (after IDNA encoding)
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def clean_host(host: str, *, example: str = "acme.example.com") -> str:
    """A host name per RFC 1123 after IDNA encoding (``bücher.example`` → ``xn--bcher-kva.example``),
    or an IP address; lower-case. ValueError naming what is wrong otherwise."""
    text = host.strip("[]").lower()
    if not text:
        raise ValueError(f"has no host (e.g. {example})")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if text.endswith("."):
        raise ValueError(f"'{text}' ends with a dot; write the domain without it (e.g. {example})")
    try:
        ascii_host = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = text  # the label checks below say what is wrong
    if len(ascii_host) > MAX_HOST_LENGTH:
        raise ValueError(f"the domain is {len(ascii_host)} characters long; a domain has at most "
                         f"{MAX_HOST_LENGTH}")
    for label in ascii_host.split("."):
        if not label:
            raise ValueError(f"'{text}' has an empty part (two dots in a row?) (e.g. {example})")
        if len(label) > MAX_LABEL_LENGTH:
            raise ValueError(f"a part of the domain is {len(label)} characters long; each part "
                             f"between dots has at most {MAX_LABEL_LENGTH}")
        if not _LABEL_RE.fullmatch(label):
            raise ValueError(f"'{text}' is not a domain: each part between dots holds letters, "
                             f"digits and '-', and neither starts nor ends with '-' (e.g. {example})")
    return ascii_host


def clean_base_url(value: str, *, allowed_suffixes: tuple[str, ...] | None = None,
                   example: str = "acme.example.com") -> str:
    """A domain typed as a bare host (https assumed) or pasted as a URL → ``https://host``.

    The host follows RFC 1123 after IDNA encoding (:func:`clean_host`). Plain http is refused
    except for loopback hosts (the sandbox). For loopback hosts the path is kept as a prefix,
    because the sandbox serves every provider on one port under a path. For any other host a
    pasted URL is reduced to its origin. A port, when given, is 1-65535.
    """
    raw = str(value)
    if raw != raw.strip():
        raise ValueError("remove the spaces before or after the domain")
    if not raw:
        raise ValueError(f"is required (e.g. {example})")
    bad = first_unsafe(raw)
    if bad is not None:  # urlsplit drops CR, LF and tab silently: 'a.com\nx' would become 'a.comx'
        raise ValueError(f"contains an invisible or control character ({bad}); type the domain "
                         f"on one line (e.g. {example})")
    text = raw if "://" in raw else f"https://{raw}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"'{raw}' is not a domain or URL, or its port is not a number from 1 to "
                         f"65535 (e.g. {example})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"use an https:// address, not {parts.scheme}://")
    if parts.username or parts.password:
        raise ValueError("do not put a user name or password in the address")
    if port == 0:
        raise ValueError("port 0 is not a port: give one from 1 to 65535, or leave the port out")
    raw_host = parts.hostname or ""
    if not raw_host or " " in raw_host:
        raise ValueError(f"'{raw}' is not a domain or URL (e.g. {example})")
    host = clean_host(raw_host, example=example)
    loopback = is_loopback_host(host)
    if parts.scheme == "http" and not loopback:
        raise ValueError(f"plain http is refused; use https://{host} "
                         "(http is allowed only for loopback addresses, such as the sandbox)")
    if not loopback:
        if "." not in host and ":" not in host:
            raise ValueError(f"'{raw}' is not a full domain (e.g. {example})")
        if allowed_suffixes and not any(host.endswith("." + s) for s in allowed_suffixes):
            raise ValueError(
                f"'{host}' is not on a known region ({', '.join(allowed_suffixes)}); e.g. {example}"
            )
    netloc = host if ":" not in host else f"[{host}]"
    if port:
        netloc += f":{port}"
    path = parts.path.rstrip("/") if loopback else ""
    return f"{parts.scheme}://{netloc}{path}"


def instance_key(domain: str) -> str:
    """A DAM instance's name in a URL path: ``acme.bynder.com``, ``127.0.0.1_8765``.

    Built from the host (and port) only: ``https://Acme.Bynder.com/`` and ``acme.bynder.com``
    give the same key. IPv6 brackets are dropped and ``:`` becomes ``_`` (URL-path safe).
    """
    text = domain if "://" in domain else f"https://{domain}"
    parts = urlsplit(text)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise SettingsError(f"'{domain}' has no host", field="domain")
    key = host.replace(":", "_")
    if parts.port:
        key += f"_{parts.port}"
    if not INSTANCE_KEY_RE.fullmatch(key):
        raise SettingsError(f"'{domain}' cannot name a portal in a URL", field="domain")
    return key


EVENTS_ROUTE = "/events"
#: An Amazon SNS topic ARN (the topics the Event consumer accepts are workspace settings).
SNS_TOPIC_ARN_RE = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2}):"
    r"(?P<account>\d{12}):(?P<name>[A-Za-z0-9_\-]{1,256}(?:\.fifo)?)"
)
INSTANCE_KEY_RE = re.compile(r"[a-z0-9_][a-z0-9.\-_]{0,252}")


def event_consumer_path(provider: str, domain: str) -> str:
    """The route path of an instance's Event consumer: ``/events/<provider>/<instance>``."""
    return f"{EVENTS_ROUTE}/{provider}/{instance_key(domain)}"


#: The longest tag accepted: no DAM shows longer ones, and a 100 KB "tag" is a paste gone wrong.
MAX_TAG_LENGTH = 255


def clean_exact_tag(value: str, *, allow_comma: bool = True) -> str:
    """Tags and keywords keep their exact case and inner spaces; outer whitespace, control and
    invisible characters, more than :data:`MAX_TAG_LENGTH` characters, and (``allow_comma=False``,
    for DAMs whose API joins tags with commas) a comma are refused: such a tag never matches."""
    text = str(value)
    if not text.strip():
        raise ValueError("is required")
    bad = first_unsafe(text)
    if bad is not None:
        raise ValueError(f"contains an invisible or control character ({bad}); write the tag "
                         "exactly as the DAM shows it, on one line")
    if text != text.strip():
        raise ValueError(
            f"'{text}' starts or ends with a space; write it exactly as in the DAM "
            f"(did you mean '{text.strip()}'?)"
        )
    if len(text) > MAX_TAG_LENGTH:
        raise ValueError(f"is {len(text)} characters long; a tag has at most {MAX_TAG_LENGTH}")
    if not allow_comma and "," in text:
        raise ValueError("cannot hold a comma: this DAM separates tags with commas, so such a "
                         "tag never matches; give one tag")
    return text


def clean_digits(value: object, *, what: str = "id") -> str:
    """ASCII digits only (``unicode`` digits such as Arabic-Indic or full-width ones are refused:
    the DAM's ids are ASCII)."""
    text = "" if value is None else str(value)
    if not text or not (text.isascii() and text.isdigit()):
        raise ValueError(f"'{text}' is not a {what}: type ASCII digits 0-9 only")
    return text


def clean_required_text(value: str) -> str:
    text = str(value)
    if not text.strip():
        raise ValueError("is required")
    if text != text.strip():
        raise ValueError("remove the spaces before or after the value (pasted?)")
    return text


def clean_connection_name(name: str) -> str:
    if not SLUG_RE.fullmatch(name or ""):
        raise SettingsError(
            f"connection name '{name}' is not a slug: use lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit, at most 63 characters",
            field="name",
        )
    return name


# --- the task queue (docs/scale-out.md) -----------------------------------------------------------

#: ``NAME=MINUTES`` (``*`` for every connection not named). A schedule's minutes divide an hour
#: or are whole hours that divide a day, so that every run falls on the same minutes of each hour.
SYNC_EVERY_RE = re.compile(r"^(\*|[a-z0-9][a-z0-9_-]{0,62})=([0-9]{1,4})$")


def check_queue_url(value: str, *, stored: bool) -> str:
    """A PostgreSQL URL for the task queue. ``stored``: it goes into workspace.json, which is not
    a secret store, so a password in it is refused (ValueError naming where it belongs)."""
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or parts.path):
        raise ValueError("must be a PostgreSQL URL: postgresql://USER@HOST:PORT/DATABASE")
    if stored and parts.password is not None:
        raise ValueError("holds a password, which would sit in plain text in workspace.json: "
                         "give the URL without it and put the password in PGPASSWORD or "
                         "~/.pgpass, or set the whole URL in DAMKIT_QUEUE_URL")
    return text


def parse_sync_every(entries: list[str]) -> dict[str, int]:
    """``["acme=15", "*=60"]`` -> ``{"acme": 15, "*": 60}``; ValueError naming the bad entry."""
    out: dict[str, int] = {}
    for entry in entries:
        match = SYNC_EVERY_RE.fullmatch(entry.strip())
        if match is None:
            raise ValueError(f"'{entry}': write CONNECTION=MINUTES (or *=MINUTES for every "
                             "other connection), e.g. acme=15")
        name, minutes = match.group(1), int(match.group(2))
        if minutes == 0 or not ((minutes <= 60 and 60 % minutes == 0)
                                or (minutes % 60 == 0 and 1440 % minutes == 0)):
            raise ValueError(f"'{entry}': the minutes must divide an hour (1, 2, 3, 4, 5, 6, 10, "
                             "12, 15, 20, 30, 60) or be whole hours that divide a day (120, 180, "
                             "240, 360, 480, 720, 1440)")
        if name in out:
            raise ValueError(f"'{entry}': {name} is scheduled twice")
        out[name] = minutes
    return out
