"""The sandbox in its own process, for the benchmarks (so it shares no GIL with the client)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time


def start_sandbox(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m damkit.sandbox --port 0 ARGS``; returns the process and its manifest URL."""
    return start_process(["-m", "damkit.sandbox", "--port", "0", *args], timeout=30)


def start_process(argv: list[str], *, timeout: float) -> tuple[subprocess.Popen[str], str]:
    """``python ARGV``, a sandbox that prints ``manifest: URL``; returns it and that URL."""
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while proc.stdout is not None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.match(r"manifest: (\S+)", line)
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the sandbox did not start")


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP/1.1 answer whole from a keep-alive connection (status line, headers, a
    ``Content-Length`` body); returns its head (the status code is ``head[9:12]``)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return head
