"""A Starlette router that tries only the routes a path can match.

Starlette's :class:`~starlette.routing.Router` runs every route's regular expression in turn
until one matches: about ten per request for an emulator's routes. A route's path can only match
a request path that starts with the route's literal text up to its first ``{parameter}``, so
this router keeps that literal prefix per route and runs ``matches`` on those routes only, in
the declared order. Whatever the result (the first full match, a 405 from a partial one, a
trailing-slash redirect, a 404) is the same as Starlette's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send


def route_path(scope: Scope) -> str:
    """The path below the mount point, as Starlette's routes compute it before matching."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root):] if path[len(root)] == "/" else path


def literal_prefix(route: BaseRoute) -> str:
    """The text every path this route matches starts with ("" when it cannot be told)."""
    if isinstance(route, Route):
        return route.path.partition("{")[0]
    if isinstance(route, Mount):
        return route.path.partition("{")[0] + ("/" if "{" not in route.path else "")
    return ""


class IndexedRouter(Router):
    """A :class:`Router` whose routes are fixed at construction (as the sandbox's are)."""

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=list(routes), **kwargs)
        self._prefixed = tuple((route, literal_prefix(route)) for route in self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        below = route_path(scope)
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route, prefix in self._prefixed:
            if not below.startswith(prefix):
                continue
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)  # trailing-slash redirect or 404, as Starlette
