"""``python -m damkit.sandbox``: serve the sandbox in the foreground (benchmarks, manual use)."""

from __future__ import annotations

import argparse

from . import switch_config
from .faults import parse_rate_limits
from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m damkit.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--assets", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit", action="append", default=[], metavar="PROVIDER=R",
                        help="a limit the clients are not told, requests/s per client host "
                             "(e.g. canto=20); repeat for more providers")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback host (the manifest serves every secret)")
    parser.add_argument("--switch", action="append", default=[], metavar="PROVIDER:NAME",
                        help="behave as a real server might where facts are unknown "
                             "(docs/sandbox.md, 'Switches'); repeatable; *:NAME for all")
    args = parser.parse_args(argv)
    try:
        faults = parse_rate_limits(args.rate_limit)
    except ValueError as exc:
        parser.error(str(exc))
    serve(host=args.host, port=args.port, allow_remote=args.allow_remote, assets=args.assets,
          seed=args.seed, latency_ms=args.latency_ms, fault_rate=args.fault_rate, faults=faults,
          switches=switch_config(args.switch))


if __name__ == "__main__":
    main()
