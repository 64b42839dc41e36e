"""Deterministic file bytes for sandbox assets: valid PNG and JPEG images, PDFs and text.

Bytes are made on demand from (seed, asset id, version) with an exact target size, so a catalog
of 100,000 assets costs no memory for its files.
"""

from __future__ import annotations

import hashlib
import random
import struct
import zlib

MIME = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/csv",
}


def _png(rng: random.Random, size: int) -> bytes:
    width, height = 8, 8
    color = bytes(rng.randrange(256) for _ in range(3))
    raw = b"".join(b"\x00" + color * width for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(raw))
    tail = chunk(b"IEND", b"")
    room = size - len(head) - len(idat) - len(tail) - 12
    pad = _filler(rng, max(0, room))
    return head + chunk(b"daMk", pad) + idat + tail  # private ancillary chunk pads to size


def _jpeg(rng: random.Random, size: int) -> bytes:
    # A tiny baseline JPEG would need an encoder; a JFIF header + COM padding + EOI is a
    # well-formed JPEG container that image sniffers (and `file`) recognise.
    start = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    end = b"\xff\xd9"
    body = b""
    room = size - len(start) - len(end)
    while room > 4:
        n = min(room - 4, 65533)
        body += b"\xff\xfe" + struct.pack(">H", n + 2) + _filler(rng, n)
        room -= n + 4
    return start + body + end + b"\x00" * max(0, room)


def _pdf(rng: random.Random, size: int) -> bytes:
    head = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" \
           b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    tail = b"trailer<</Root 1 0 R>>\n%%EOF\n"
    room = max(0, size - len(head) - len(tail) - 2)
    return head + b"%" + _filler(rng, room, text=True) + b"\n" + tail


def _text(rng: random.Random, size: int) -> bytes:
    return _filler(rng, size, text=True)


_TEXT = b"abcdefghijklmnopqrstuvwxyz "
_TO_TEXT = bytes(_TEXT[i % len(_TEXT)] for i in range(256))


def _filler(rng: random.Random, n: int, text: bool = False) -> bytes:
    """``n`` deterministic bytes: a random block of at most 4 KiB, repeated (fast at any size)."""
    if n <= 0:
        return b""
    block = rng.randbytes(min(n, 4096))
    if text:
        block = block.translate(_TO_TEXT)
    return (block * (n // len(block) + 1))[:n]


def make_bytes(seed: int, asset_key: str, version: int, ext: str, size: int) -> bytes:
    rng = random.Random(f"{seed}:{asset_key}:{version}")
    maker = {"png": _png, "jpg": _jpeg, "pdf": _pdf}.get(ext, _text)
    data = maker(rng, size)
    return data


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
