"""Route classes whose 405 answer lists every method of the path in ``Allow``.

``GET /experiments`` and ``POST /experiments`` are two routes; for a method neither
accepts, the framework answers with the ``Allow`` of the first one it tried, naming only
some of the path's methods (RFC 9110 wants all of them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send


def allow_all_methods() -> type[APIRoute]:
    """A fresh ``APIRoute`` class for one router: a 405 from any of its routes lists the
    methods of all its routes with the same path."""
    methods_by_path: dict[str, set[str]] = {}

    class AllowAllMethods(APIRoute):
        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            super().__init__(path, endpoint, **kwargs)
            methods_by_path.setdefault(self.path, set()).update(self.methods or ())

        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            if self.methods and scope["method"] not in self.methods:
                allowed = methods_by_path.get(self.path, set()) | self.methods
                raise HTTPException(
                    405, "Method Not Allowed", headers={"Allow": ", ".join(sorted(allowed))}
                )
            await super().handle(scope, receive, send)

    return AllowAllMethods
