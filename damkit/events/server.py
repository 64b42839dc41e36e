"""The event consumer on a loopback port in a background thread (tests, benchmarks, notebooks).

``damkit events serve`` runs in the foreground instead (:func:`damkit.events.consumer.serve_events`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ..errors import DamkitError
from .consumer import EventConsumer, build_consumer_app
from .request import ROUTE_PREFIX

if TYPE_CHECKING:
    from ..workspace import Workspace


class ConsumerServer:
    """The consumer on a loopback port in a background thread (tests, benchmarks, notebooks).

    >>> with ConsumerServer(ws, topics=[arn], settle_seconds=0) as server:   # doctest: +SKIP
    ...     server.url_for("127.0.0.1_8765")
    """

    def __init__(self, ws: Workspace, *, host: str = "127.0.0.1", port: int | None = None,
                 **options: Any) -> None:
        from ..sandbox.server import free_port

        self.host = host
        self.port = port or free_port(host)
        self.app = build_consumer_app(ws, **options)
        self.consumer: EventConsumer = self.app.state.consumer
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, portal: str) -> str:
        return f"{self.url}{ROUTE_PREFIX}/{portal}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise DamkitError("the event consumer is not running")
        return self._loop

    def start(self, timeout: float = 10.0) -> ConsumerServer:
        import uvicorn

        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                access_log=False, lifespan="on", loop="asyncio")
        self._server = uvicorn.Server(config)
        loop_ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop_ready.set()
            try:
                loop.run_until_complete(self._server.serve())
            except SystemExit:  # uvicorn exits when the lifespan (the consumer's start) fails
                pass
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="damkit-events", daemon=True)
        self._thread.start()
        loop_ready.wait(timeout)
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                error = getattr(self.app.state, "startup_error", None)
                if isinstance(error, DamkitError):
                    raise error
                raise DamkitError(f"the event consumer did not start on {self.url}")
            time.sleep(0.01)
        return self

    def call(self, coro: Awaitable[Any], timeout: float = 30.0) -> Any:
        """Run a coroutine on the consumer's loop from another thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return bool(self.call(self.consumer.wait_idle(timeout), timeout + 5))

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = self._thread = None

    def __enter__(self) -> ConsumerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["ConsumerServer"]
