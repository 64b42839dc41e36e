"""The one progress API of long jobs (sync), rendered by the CLI, the TUI and the notebook.

A job reports :class:`ProgressEvent` objects to a *sink*: any callable taking one event (plain or
``async``), or a :class:`ProgressStream` for ``async for`` consumers. Sequence of a sync run::

    planned            once, after listing and comparing with the index (totals known)
    started            per file, when its download begins
    file_done          per file, when it is whole and in place
    file_failed        per file, when it failed for good in this run
    throttled          when the DAM asks to slow down (429): ``wait`` seconds, ``host``;
                       the run waits it out while its throttle budget lasts
    finished           once, last (also after a failure or a cancellation; see ``status``)

A dry run reports ``planned`` then ``finished``. A sink that raises never breaks the job: the
error is logged once and the sink is dropped.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

log = logging.getLogger("damkit.progress")

EventKind = Literal["planned", "started", "file_done", "file_failed", "throttled", "finished"]


class ProgressEvent(BaseModel):
    """One step of a job. Counts are cumulative for the run so far."""

    kind: EventKind
    connection: str = ""
    run_id: str | None = None
    total: int = 0  # files to download in this run (known from "planned" on)
    done: int = 0  # files whole and in place
    failed: int = 0  # files that failed for good
    bytes: int = 0  # bytes of finished files
    asset: str | None = None  # the asset's name (file events)
    asset_id: str | None = None
    error: str | None = None  # file_failed, or finished with a run-level failure
    status: str | None = None  # finished: "ok" | "partial" | "failed" | "cancelled" | "dry_run"
    plan: dict[str, int] = Field(default_factory=dict)  # planned/finished: counts per category
    wait: float | None = None  # throttled: seconds the DAM asked us to wait
    host: str | None = None  # throttled: which host asked
    at: float = Field(default_factory=time.time)

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done - self.failed)

    def line(self) -> str:
        """A plain one-line rendering (logs, CLI without a terminal)."""
        head = f"[{self.connection}] {self.kind}"
        if self.kind == "planned":
            parts = ", ".join(f"{k} {v}" for k, v in self.plan.items())
            return f"{head}: {parts}; {self.total} to download"
        if self.kind in ("started", "file_done"):
            return f"{head} {self.done + self.failed}/{self.total}: {self.asset}"
        if self.kind == "file_failed":
            return f"{head} {self.done + self.failed}/{self.total}: {self.asset}: {self.error}"
        if self.kind == "throttled":
            return f"{head} by the DAM ({self.host}), waiting {self.wait or 0:.0f} s"
        tail = f": {self.error}" if self.error else ""
        return (f"{head} ({self.status}): {self.done} downloaded, {self.failed} failed, "
                f"{self.bytes} bytes{tail}")


ProgressCallback = Callable[[ProgressEvent], Awaitable[None] | None]


class ProgressStream:
    """A sink that is also an async iterator; iteration ends after the ``finished`` event.

    >>> stream = ProgressStream()
    >>> task = asyncio.create_task(sync_connection(ws, "acme", progress=stream))
    >>> async for event in stream: ...
    >>> report = await task
    """

    def __init__(self, maxsize: int = 0) -> None:
        self._queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue(maxsize)
        self._closed = False

    def __call__(self, event: ProgressEvent) -> None:
        if self._closed:
            return
        self._queue.put_nowait(event)
        if event.kind == "finished":
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[ProgressEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ProgressEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event


class Reporter:
    """What a job holds: delivers events to its sink, never letting the sink break the job."""

    def __init__(self, sink: ProgressCallback | None, **fixed: Any) -> None:
        self._sink = sink
        self._fixed = fixed

    def set(self, **fixed: Any) -> None:
        self._fixed.update(fixed)

    async def emit(self, kind: EventKind, **fields: Any) -> ProgressEvent:
        event = ProgressEvent(kind=kind, **{**self._fixed, **fields})
        sink = self._sink
        if sink is None:
            return event
        try:
            result = sink(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a renderer's bug must not stop a sync
            log.exception("progress sink failed; further events are dropped")
            self._sink = None
        return event


__all__ = ["EventKind", "ProgressCallback", "ProgressEvent", "ProgressStream", "Reporter"]
