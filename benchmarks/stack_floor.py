"""The floor the chosen stack sets under ``damkit check``: a process that only starts Python,
imports asyncio, pydantic and httpx, validates one settings model and sends ``N`` requests to
``URL`` on one keep-alive connection, then builds one report model. No damkit module is imported.

``check_bench.py`` runs it beside each check (same sandbox, same number of requests), so the
README can say how much of a check's wall time is damkit's and how much is the stack's.

    python benchmarks/stack_floor.py URL N
"""

from __future__ import annotations

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # as damkit's command line

import asyncio  # noqa: E402
import os  # noqa: E402

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as damkit's command line

import httpx  # noqa: E402
from pydantic import BaseModel  # noqa: E402


class Settings(BaseModel):
    url: str
    tag: str


class Report(BaseModel):
    ok: bool
    requests: int


async def run(settings: Settings, n: int) -> Report:
    # verify=False: no CA bundle is loaded (damkit loads none either for a plain-HTTP sandbox)
    async with httpx.AsyncClient(verify=False) as client:
        for _ in range(n):
            await client.get(settings.url, params={"tags": settings.tag})
    return Report(ok=True, requests=n)


if __name__ == "__main__":
    print(asyncio.run(run(Settings(url=sys.argv[1], tag="Gelato"), int(sys.argv[2]))))
