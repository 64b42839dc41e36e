"""A deterministic asset catalog, one per emulated provider.

Generated from a seed and a size; holds hostile names (``../`` paths, reserved names such as
``CON``, 300-character names, duplicates, unicode) and near misses of the import tag (other case,
a trailing space). Indexed by tag so that list pages stay fast at 100,000 assets.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .content import MIME, make_bytes, md5_hex

BASE_TIME = 1_700_000_000.0  # 2023-11-14, so dates are stable across runs

HOSTILE_NAMES = (
    "../../etc/passwd",
    "..\\..\\windows\\system32\\evil.png",
    "CON",
    "nul.txt",
    "com1.pdf",
    "a" * 300 + ".png",
    "report.pdf",
    "report.pdf",  # a duplicate name
    "Report.PDF",
    "résumé — été 2024.pdf",
    "日本語のファイル.png",
    "emoji 🎨 poster.jpg",
    "trailing dot.",
    " leading space.png",
    "new\nline.txt",
    "tab\tname.txt",
    "semi;colon:star*?.png",
    "/absolute/path.png",
    ".hidden",
    "",
)

#: File sizes generated assets draw from (benchmarks may set e.g. ``(50_000,)`` before building).
ASSET_SIZES: tuple[int, ...] = (900, 2_000, 8_000, 30_000, 50_000, 120_000)

WORDS = ("summer", "poster", "logo", "banner", "hero", "catalog", "brochure", "shelf", "flyer",
         "campaign", "product", "label", "packshot", "lookbook", "mockup")


@dataclass
class SandboxAsset:
    """One asset in a provider-neutral form. Provider modules map it to their wire format."""

    key: str  # provider-format id ("asset:12", a Bynder UUID, a Canto id)
    number: int
    name: str
    ext: str
    size: int
    tags: list[str]
    created: float
    modified: float
    version: int = 1
    archived: bool = False
    limited: bool = False  # Bynder "limited use" (other emulators ignore it)
    deleted: bool = False
    metaproperties: dict[str, Any] = field(default_factory=dict)
    _md5: str | None = field(default=None, repr=False)

    @property
    def mime(self) -> str:
        return MIME.get(self.ext, "application/octet-stream")

    @property
    def kind(self) -> str:
        return "image" if self.ext in ("png", "jpg") else "document"


STATES = ("all", "live", "archived", "deleted")


def asset_state(asset: SandboxAsset) -> str:
    """``deleted``, ``archived`` or ``live``."""
    return "deleted" if asset.deleted else "archived" if asset.archived else "live"


class Catalog:
    """Assets of one provider. Thread safe: the sandbox serves from a background thread."""

    def __init__(
        self,
        provider: str,
        *,
        seed: int = 7,
        size: int = 300,
        tag: str = "Gelato",
        make_key: Callable[[int, random.Random], str] | None = None,
        other_tags: tuple[str, ...] = ("Print", "Web", "Archive 2023"),
    ) -> None:
        self.provider = provider
        self.seed = seed
        self.tag = tag
        self.lock = threading.RLock()
        self._make_key = make_key or (lambda n, rng: f"{provider}-{n}")
        self._rng = random.Random(f"{seed}:{provider}:keys")
        self.assets: dict[str, SandboxAsset] = {}
        self.order: list[str] = []
        self.by_tag: dict[str, set[str]] = {}
        self.listeners: list[Callable[[str, SandboxAsset], None]] = []
        self._tagged_cache: dict[tuple[str, bool], list[SandboxAsset]] = {}
        self._listing_cache: dict[tuple[str | None, str], list[SandboxAsset]] = {}
        self._generate(size, other_tags)

    # --- generation ---------------------------------------------------------------------------

    def _generate(self, size: int, other_tags: tuple[str, ...]) -> None:
        rng = random.Random(f"{self.seed}:{self.provider}")
        near = (self.tag.lower(), self.tag.upper(), self.tag + " ", " " + self.tag)
        for n in range(size):
            ext = rng.choice(("png", "png", "jpg", "jpg", "pdf", "txt"))
            if n < len(HOSTILE_NAMES):
                name = HOSTILE_NAMES[n]
            else:
                name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{n:05d}.{ext}"
            tags = [t for t in other_tags if rng.random() < 0.3]
            if n % 10 < 7:  # 70 % carry the import tag exactly
                tags.append(self.tag)
            elif n % 10 == 7 and n // 10 < 2 * len(near):
                tags.append(near[(n // 10) % len(near)])  # a few near misses
            size_bytes = rng.choice(ASSET_SIZES)
            created = BASE_TIME + n * 60
            self._insert(SandboxAsset(
                key=self._make_key(n, self._rng), number=n, name=name, ext=ext, size=size_bytes,
                tags=tags, created=created, modified=created + 30,
            ))

    def _insert(self, asset: SandboxAsset) -> None:
        self.assets[asset.key] = asset
        self.order.append(asset.key)
        for t in asset.tags:
            self.by_tag.setdefault(t, set()).add(asset.key)

    # --- reading ------------------------------------------------------------------------------

    def get(self, key: str) -> SandboxAsset | None:
        asset = self.assets.get(key)
        return None if asset is None or asset.deleted else asset

    def live(self) -> Iterator[SandboxAsset]:
        for key in self.order:
            asset = self.assets[key]
            if not asset.deleted and not asset.archived:
                yield asset

    def tagged(self, tag: str, *, include_archived: bool = False) -> list[SandboxAsset]:
        """Assets carrying ``tag`` exactly, in catalog order."""
        cache_key = (tag, include_archived)
        with self.lock:
            cached = self._tagged_cache.get(cache_key)
            if cached is not None:
                return cached
            out = [self.assets[k] for k in self.by_tag.get(tag, set())]
            out = [a for a in out if not a.deleted and (include_archived or not a.archived)]
            out.sort(key=lambda a: a.number)
            self._tagged_cache[cache_key] = out
            return out

    def listing(self, *, tag: str | None = None, state: str = "all") -> list[SandboxAsset]:
        """Assets in catalog order, deleted ones included, for the control API (cached until
        the next change). ``state``: ``all``, ``live``, ``archived`` or ``deleted``; ``tag``:
        only assets carrying it exactly."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        cache_key = (tag, state)
        with self.lock:
            cached = self._listing_cache.get(cache_key)
            if cached is not None:
                return cached
            if tag is None:
                pool = [self.assets[k] for k in self.order]
            else:
                pool = sorted((self.assets[k] for k in self.by_tag.get(tag, set())),
                              key=lambda a: a.number)
            if state != "all":
                pool = [a for a in pool if asset_state(a) == state]
            self._listing_cache[cache_key] = pool
            return pool

    def eligible(self) -> int:
        return len(self.tagged(self.tag))

    def near_misses(self) -> dict[str, int]:
        with self.lock:
            tags = list(self.by_tag)
        out = {}
        for t in tags:
            if t != self.tag and t.strip().casefold() == self.tag.casefold():
                n = len(self.tagged(t))
                if n:
                    out[t] = n
        return out

    def content(self, asset: SandboxAsset) -> bytes:
        return make_bytes(self.seed, asset.key, asset.version, asset.ext, asset.size)

    def md5(self, asset: SandboxAsset) -> str:
        if asset._md5 is None:
            asset._md5 = md5_hex(self.content(asset))
        return asset._md5

    # --- changes (the control API) --------------------------------------------------------------

    def _changed(self, kind: str, asset: SandboxAsset) -> None:
        with self.lock:
            self._tagged_cache.clear()
            self._listing_cache.clear()
        for listener in list(self.listeners):
            listener(kind, asset)

    def add(self, name: str, *, ext: str = "png", size: int = 4_000,
            tags: list[str] | None = None) -> SandboxAsset:
        with self.lock:
            n = len(self.order)
            now = time.time()
            asset = SandboxAsset(key=self._make_key(n, self._rng), number=n, name=name, ext=ext,
                                 size=size, tags=list(tags or []), created=now, modified=now)
            self._insert(asset)
        self._changed("created", asset)
        return asset

    def require(self, key: str) -> SandboxAsset:
        asset = self.assets.get(key)
        if asset is None:
            raise KeyError(key)
        return asset

    def set_tags(self, key: str, add: list[str] = (), remove: list[str] = ()) -> SandboxAsset:  # type: ignore[assignment]
        with self.lock:
            asset = self.require(key)
            for t in add:
                if t not in asset.tags:
                    asset.tags.append(t)
                    self.by_tag.setdefault(t, set()).add(key)
            for t in remove:
                if t in asset.tags:
                    asset.tags.remove(t)
                    self.by_tag.get(t, set()).discard(key)
            asset.modified = max(time.time(), asset.modified + 1)
        self._changed("tagged" if add else "untagged", asset)
        return asset

    def modify(self, key: str, *, size: int | None = None, name: str | None = None) -> SandboxAsset:
        """A new version of the file: new bytes, new modified time."""
        with self.lock:
            asset = self.require(key)
            asset.version += 1
            if size is not None:
                asset.size = size
            if name is not None:
                asset.name = name
            asset.modified = max(time.time(), asset.modified + 1)
            asset._md5 = None
        self._changed("modified", asset)
        return asset

    def delete(self, key: str) -> SandboxAsset:
        with self.lock:
            asset = self.require(key)
            asset.deleted = True
            asset.modified = max(time.time(), asset.modified + 1)
        self._changed("deleted", asset)
        return asset

    def limit(self, key: str, limited: bool = True) -> SandboxAsset:
        """Mark an asset "limited use" (Bynder lists it only with ``limited=1``)."""
        with self.lock:
            asset = self.require(key)
            asset.limited = limited
            asset.modified = max(time.time(), asset.modified + 1)
        self._changed("modified", asset)
        return asset

    def archive(self, key: str, archived: bool = True) -> SandboxAsset:
        with self.lock:
            asset = self.require(key)
            asset.archived = archived
            asset.modified = max(time.time(), asset.modified + 1)
        self._changed("archived" if archived else "unarchived", asset)
        return asset
