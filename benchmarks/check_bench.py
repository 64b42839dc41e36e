"""`damkit check` wall time, interpreter start included, against the sandbox.

The sandbox runs in its own process (``python -m damkit.sandbox``); a fresh workspace gets the
three sandbox connections (Canto logged in through the sandbox's consent page); then
``damkit check NAME`` runs as a new process ``--repeats`` times per connection.
Prints ONE JSON object: ``check_wall_s`` (the median wall time per provider; target <= 0.5 s),
the median and max per provider, and the median overall; ``stack_floor_s`` (and its CPU), the
median wall time of ``stack_floor.py`` (Python, asyncio, pydantic and httpx alone sending the
same number of requests to the same sandbox), and ``damkit_share_s``, the difference. On a busy
machine wall time says little, so it also prints what load barely moves: ``check_cpu_s`` (the
median CPU time, user + system, of one check process) and ``check_requests`` (the requests one
check sends, counted by the sandbox).

The secret store is the encrypted file (headless Linux). ``XDG_RUNTIME_DIR`` points to a private
0700 folder, as in an SSH login session, so the derived key is cached between runs (see
``docs/choices.md``); ``--no-key-cache`` measures a machine without one (every check derives the
key: about 0.1-0.15 s more).

damkit's modules are byte-compiled first (``compileall``), as ``pip install`` does for an
installed package: with ``PYTHONDONTWRITEBYTECODE`` set (as in some CI and sandboxes) an editable
checkout would otherwise recompile every module on every start (about 0.1-0.3 s), which no
installed damkit pays.

    .venv/bin/python benchmarks/check_bench.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox_process import start_sandbox

FLOOR = Path(__file__).with_name("stack_floor.py")


def sandbox_requests(manifest_url: str, provider: str) -> int:
    """Requests the sandbox has answered for ``provider`` so far (its control API)."""
    import httpx

    base = manifest_url.rsplit("/manifest", 1)[0]
    return int(httpx.get(f"{base}/{provider}/faults", timeout=30).json()["requests"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-key-cache", action="store_true",
                        help="no session runtime directory: derive the key in every check")
    args = parser.parse_args()

    import damkit
    from damkit.demo import add_sandbox_connections, login_sandbox_connections
    from damkit.workspace import open_workspace

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(damkit.__file__).parent)],
                   check=True)

    proc, manifest_url = start_sandbox()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "DAMKIT_HOME": tmp, "DAMKIT_SECRET_STORE": "encrypted",
                   "DAMKIT_SECRETS_PASSPHRASE": "bench-passphrase"}
            env.pop("XDG_RUNTIME_DIR", None)
            if not args.no_key_cache:
                runtime = Path(tmp) / "run-user"
                runtime.mkdir(mode=0o700)
                env["XDG_RUNTIME_DIR"] = str(runtime)
            with open_workspace(Path(tmp), env=env) as ws:
                names = add_sandbox_connections(ws, manifest_url)
                asyncio.run(login_sandbox_connections(ws, names))
            result: dict[str, object] = {"repeats": args.repeats,
                                         "key_cache": not args.no_key_cache}
            walls: dict[str, float] = {}
            cpus: dict[str, float] = {}
            sent: dict[str, int] = {}
            floors: dict[str, float] = {}
            floor_cpus: dict[str, float] = {}
            every: list[float] = []
            for name in names:
                provider = name.removeprefix("sandbox-")
                times, cpu = [], []
                before = sandbox_requests(manifest_url, provider)
                for _ in range(args.repeats):
                    used = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t = time.perf_counter()
                    r = subprocess.run([sys.executable, "-m", "damkit", "check", name],
                                       capture_output=True, text=True, env=env)
                    times.append(time.perf_counter() - t)
                    now = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu.append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
                    if r.returncode != 0:
                        raise SystemExit(f"damkit check {name} failed:\n{r.stdout}{r.stderr}")
                sent[provider] = (sandbox_requests(manifest_url, provider) - before) // args.repeats
                floor_url = manifest_url.rsplit("/manifest", 1)[0] + f"/{provider}/"
                floor: list[float] = []
                floor_cpu: list[float] = []
                for _ in range(args.repeats):
                    used = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t = time.perf_counter()
                    subprocess.run([sys.executable, str(FLOOR), floor_url, str(sent[provider])],
                                   check=True, capture_output=True, env=env)
                    floor.append(time.perf_counter() - t)
                    now = resource.getrusage(resource.RUSAGE_CHILDREN)
                    floor_cpu.append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
                floors[provider] = round(statistics.median(floor), 3)
                floor_cpus[provider] = round(statistics.median(floor_cpu), 3)
                every += times
                walls[provider] = round(statistics.median(times), 3)
                cpus[provider] = round(statistics.median(cpu), 3)
                result[f"{provider}_median_s"] = round(statistics.median(times), 3)
                result[f"{provider}_max_s"] = round(max(times), 3)
            result["median_s"] = round(statistics.median(every), 3)
            result = {"check_wall_s": walls, "check_cpu_s": cpus, "check_requests": sent,
                      "stack_floor_s": floors, "stack_floor_cpu_s": floor_cpus,
                      "damkit_share_s": {p: round(walls[p] - floors[p], 3) for p in walls},
                      **result}
    finally:
        proc.terminate()
        proc.wait(10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
