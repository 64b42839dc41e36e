"""The damkit sandbox: Bynder, Canto and Percolate emulated on loopback."""

from .app import SandboxConfig, SandboxState, build_app
from .server import Sandbox, free_port, serve

__all__ = ["Sandbox", "SandboxConfig", "SandboxState", "build_app", "free_port", "serve"]
