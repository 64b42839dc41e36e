"""Running the sandbox: in a background thread (tests, notebooks, the demo) or in the foreground."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from .app import SandboxConfig, SandboxState, build_app


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound now: the port is ours from construction (no free-port race).

    ``IPPROTO_TCP`` explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    listening socket says so, and without it every answer waits ~40 ms on delayed ACKs."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="off", timeout_keep_alive=30, timeout_graceful_shutdown=2)


class Sandbox:
    """All emulated providers on one loopback port, in a background thread.

    ``host`` must be a loopback address (the manifest serves every secret) unless
    ``allow_remote=True``; ``port=None`` or ``0`` picks a free one. Other keyword arguments are
    :class:`SandboxConfig` fields (``assets``, ``seed``, ``latency_ms``, ``fault_rate``,
    ``faults``, ``providers``, ``extra``, ...).

    >>> with Sandbox(assets=50) as sb:
    ...     sb.manifest()["providers"]["percolate"]["eligible"]
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None,
                 allow_remote: bool = False, **config: Any) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ValueError(f"the sandbox serves its secrets to anyone who can reach it: refusing "
                             f"non-loopback host {host!r} (pass allow_remote=True to insist)")
        self.host = host
        self.config = SandboxConfig(**config)
        self._socket = _bind(host, port or 0)
        self.port = int(self._socket.getsockname()[1])
        self.state = SandboxState(self.config, self.url)
        self.app = build_app(self.state)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        running = self._thread is not None and self._thread.is_alive()
        return f"<Sandbox {self.url} {'running' if running else 'stopped'}>"

    @property
    def url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def manifest_url(self) -> str:
        return f"{self.url}/_sandbox/manifest"

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.started and self._thread is not None \
            and self._thread.is_alive()

    def _run(self) -> None:
        try:
            if self._server is not None and self._socket is not None:
                self._server.run(sockets=[self._socket])
        except BaseException as exc:  # noqa: BLE001 - reported by start(), whatever it was
            self._error = exc

    def start(self, timeout: float = 10.0) -> Sandbox:
        if self._socket is None:
            raise RuntimeError("this sandbox was stopped; create a new one")
        if self._thread is not None:
            return self
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.host, self.port))
        self._thread = threading.Thread(target=self._run, name=f"damkit-sandbox-{self.port}",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                error = self._error
                self.stop()
                raise RuntimeError(f"the sandbox did not start on {self.url}: {error!r}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and free the port (idempotent). In-flight requests get 2 s to finish."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None
        self._socket = None  # type: ignore[assignment]

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def manifest(self) -> dict[str, Any]:
        return self.state.manifest()

    def control(self, method: str, path: str, *, check: bool = True, **kwargs: Any) -> Any:
        """Call the control API (``/_sandbox/...``) over HTTP, as any client would; returns the
        JSON answer. ``check`` raises :class:`httpx.HTTPStatusError` on a 4xx/5xx."""
        kwargs.setdefault("timeout", 30.0)
        response = httpx.request(method, f"{self.url}/_sandbox/{path.lstrip('/')}", **kwargs)
        if check:
            response.raise_for_status()
        return response.json() if response.content else None

    def set_faults(self, provider: str, **faults: Any) -> dict[str, Any]:
        """Replace ``provider``'s faults (unnamed knobs return to off), e.g.
        ``sb.set_faults("bynder", burst_429=3, retry_after=0)``; ``set_faults(p)`` clears them.
        Returns the new fault state."""
        result: dict[str, Any] = self.control("PUT", f"{provider}/faults", json=faults)
        return result

    def set_switches(self, provider: str, *on: str) -> dict[str, Any]:
        """Turn exactly ``on`` of ``provider``'s switches on (:mod:`.switches`); none = all off."""
        result: dict[str, Any] = self.control("PUT", f"{provider}/switches", json={"on": list(on)})
        return result

    def faults(self, provider: str) -> dict[str, Any]:
        """``provider``'s fault spec, what it injected and how many requests it saw."""
        result: dict[str, Any] = self.control("GET", f"{provider}/faults")
        return result

    def reset(self) -> dict[str, Any]:
        """Catalogs rebuilt from the seed, emulators reset, faults as configured at start."""
        result: dict[str, Any] = self.control("POST", "reset")
        return result


def serve(host: str = "127.0.0.1", port: int | None = None, *, allow_remote: bool = False,
          **config: Any) -> None:
    """Serve in the foreground until interrupted (``damkit sandbox``); prints the manifest URL."""
    sandbox = Sandbox(host=host, port=port, allow_remote=allow_remote, **config)
    print(f"damkit sandbox on {sandbox.url}", flush=True)
    print(f"manifest: {sandbox.manifest_url}", flush=True)
    server = uvicorn.Server(_uvicorn_config(sandbox.app, host, sandbox.port))
    try:
        server.run(sockets=[sandbox._socket] if sandbox._socket is not None else None)
    finally:
        sandbox.stop()
