"""The damkit sandbox: Bynder, Canto and Percolate emulated on loopback."""

from .app import SandboxConfig, SandboxState, build_app
from .faults import parse_rate_limits
from .server import Sandbox, free_port, serve
from .switches import parse_flag

__all__ = ["Sandbox", "SandboxConfig", "SandboxState", "build_app", "free_port", "parse_flag",
           "parse_rate_limits", "serve", "switch_config"]


def switch_config(flags: list[str]) -> dict[str, tuple[str, ...]]:
    """``["bynder:html_401", "*:omit_membership"]`` → ``SandboxConfig.switches``."""
    out: dict[str, tuple[str, ...]] = {}
    for value in flags:
        provider, name = parse_flag(value)
        out[provider] = (*out.get(provider, ()), name)
    return out
