"""Where synced files land, and how a DAM's (untrusted) file names become safe local names.

Rules (see also docs in ``damkit/sync``):

* A file lands at ``<workspace>/DAM Import/<connection>/<library name>`` (its record path; in a
  bucket, ``s3://bucket/prefix/<connection>/<library name>``: :mod:`damkit.storage`); nothing from
  the DAM ever chooses a folder.
* The library name is the DAM's name made safe (:func:`safe_filename`) plus a short stable id
  derived from the provider's asset id (:func:`short_id`), so two assets with one name (or names
  equal but for case, which collide on macOS and Windows) never share a file, and the same asset
  gets the same name on every run.
* :func:`safe_filename`: unicode NFC; the last path component only (``/`` and ``\\`` both count as
  separators); control characters, ``:*?"<>|`` and bidi overrides replaced by ``_``; leading and
  trailing dots and spaces stripped; Windows reserved stems (``CON``, ``NUL``, ``COM1``...)
  prefixed with ``_``; empty names fall back to ``asset``; at most 200 bytes of UTF-8, keeping
  the extension.
* :func:`inside` is the second line of defence: a resolved path must stay inside its folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

LIBRARY_FOLDER = "DAM Import"
MAX_NAME_BYTES = 200
MAX_EXT_BYTES = 16
PARTIAL_DIR = ".partial"
PART_SUFFIX = ".part"
FALLBACK_STEM = "asset"

_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{c}" for c in "0123456789¹²³"}
    | {f"LPT{c}" for c in "0123456789¹²³"}
)
# C0/C1 controls, DEL, Windows-forbidden characters, bidi overrides/isolates, zero-width and BOM.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f<>:\"|?*\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_EXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,14}$")


def _truncate_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``limit`` bytes."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def _split_ext(name: str) -> tuple[str, str]:
    """``("photo", ".jpg")``; an extension is short and plain, else it is part of the stem."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _EXT.fullmatch(ext):
        return stem, "." + ext
    return name, ""


def _not_reserved(stem: str) -> str:
    base = stem.split(".", 1)[0].rstrip(" ").upper()
    return "_" + stem if base in _WINDOWS_RESERVED else stem


def safe_filename(name: str, *, fallback: str = FALLBACK_STEM,
                  max_bytes: int = MAX_NAME_BYTES) -> str:
    """A DAM's file name made safe to create on Linux, macOS and Windows (no id added)."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE.sub("_", text)
    text = text.strip(" .")
    if not text:
        text = fallback
    stem, ext = _split_ext(text)
    stem = stem.rstrip(" .") or fallback
    stem = _not_reserved(stem)
    ext = _truncate_utf8(ext, MAX_EXT_BYTES)
    stem = _truncate_utf8(stem, max_bytes - len(ext.encode("utf-8"))).rstrip(" .") or fallback
    return stem + ext


def short_id(provider_id: str, length: int = 8) -> str:
    """A short, stable, lower-case id for an asset (base32 of its SHA-256; 8 chars = 40 bits)."""
    digest = hashlib.sha256(provider_id.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:length]


def library_name(name: str, provider_id: str, type_hint: str = "", *, id_length: int = 8) -> str:
    """The local file name of an asset: ``<safe stem>_<short id><ext>``, at most 200 bytes.

    When the DAM's name has no extension, a plausible ``type_hint`` (``"png"``) supplies one.
    """
    safe = safe_filename(name)
    stem, ext = _split_ext(safe)
    if not ext and type_hint and _EXT.fullmatch(type_hint) and len(type_hint) <= 8:
        ext = "." + type_hint.lower()
    suffix = "_" + short_id(provider_id, id_length)
    room = MAX_NAME_BYTES - len(ext.encode("utf-8")) - len(suffix)
    stem = _truncate_utf8(stem, room).rstrip(" .") or FALLBACK_STEM
    return stem + suffix + ext


def connection_dir(library_dir: Path, connection: str) -> Path:
    """``DAM Import/<connection>``; refuses a connection name that is not one plain component."""
    if (not connection or connection in (".", "..") or "/" in connection or "\\" in connection
            or connection != safe_filename(connection)):
        raise ValueError(f"unsafe connection folder name: {connection!r}")
    return library_dir / connection


def partial_dir(library_dir: Path, connection: str) -> Path:
    """Where downloads are streamed before they are whole (same file system as the library)."""
    return connection_dir(library_dir, connection) / PARTIAL_DIR


def inside(base: Path, relative: str | os.PathLike[str]) -> Path:
    """``base / relative``; refuses what would leave ``base`` (``..``, absolute, symlinks)."""
    rel = PurePosixPath(str(relative).replace("\\", "/"))
    if rel.is_absolute() or not rel.parts or ".." in rel.parts:
        raise ValueError(f"path escapes the library: {str(relative)!r}")
    target = base / Path(*rel.parts)
    resolved_base = base.resolve()
    if not target.resolve().is_relative_to(resolved_base):
        raise ValueError(f"path escapes the library: {str(relative)!r}")
    return target


__all__ = ["LIBRARY_FOLDER", "MAX_NAME_BYTES", "PARTIAL_DIR", "PART_SUFFIX", "connection_dir", "inside",
           "library_name", "partial_dir", "safe_filename", "short_id"]
