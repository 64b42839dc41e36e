"""What the notebook widgets share: running coroutines on the kernel's loop, small renderers."""

from __future__ import annotations

import asyncio
import html
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..redact import redact

if TYPE_CHECKING:

    pass

T = TypeVar("T")


_TASKS: set[asyncio.Task[Any]] = set()  # strong references until done (the loop keeps weak ones)

MARKS = {"ok": ("✓", "#1a7f37"), "failed": ("✗", "#cf222e"), "warning": ("!", "#9a6700"),
         "skipped": ("–", "#6e7781")}
STATUS_COLORS = {"current": "#2da44e", "missing": "#bf8700", "failed": "#cf222e",
                 "stale": "#8250df", "gone": "#6e7781"}
RENDER_EVERY = 0.1  # seconds between progress redraws (each redraw is a message to the browser)


# --- running coroutines -------------------------------------------------------------------------


def spawn(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start ``coro`` as a task on the running loop (in Jupyter: the kernel's) and return it.

    The kernel keeps serving cells and widget messages while the task runs.
    """
    task = asyncio.get_running_loop().create_task(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


def start_task(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T] | None:
    """A button's job: a task on the running loop; without one (a plain script), run it now."""
    try:
        return spawn(coro)
    except RuntimeError:
        asyncio.run(coro)  # no event loop in this thread: nothing to block but ourselves
        return None


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """The result of ``coro`` from blocking code, also inside Jupyter: there it runs on its own
    loop in a worker thread (the kernel's loop is busy running this cell, so it cannot)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="damkit-notebook", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


# --- small renderers ----------------------------------------------------------------------------


def esc(text: Any) -> str:
    return html.escape(redact(str(text)))


def error_html(message: str) -> str:
    return f'<span style="color:#cf222e">⚠ {esc(message)}</span>' if message else ""


