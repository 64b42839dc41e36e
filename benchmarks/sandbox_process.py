"""The sandbox in its own process, for the benchmarks (so it shares no GIL with the client)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time


def start_sandbox(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m damkit.sandbox --port 0 ARGS``; returns the process and its manifest URL."""
    proc = subprocess.Popen([sys.executable, "-m", "damkit.sandbox", "--port", "0", *args],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    while proc.stdout is not None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.match(r"manifest: (\S+)", line)
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the sandbox did not start")
