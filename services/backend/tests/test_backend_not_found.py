"""Every route that takes an experiment id looks it up through ``get_experiment_or_404``
and answers an unknown id with the same 404 body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from vlmhb.backend.api.deps import get_experiment_or_404
from vlmhb.backend.api.routers import API_PREFIX, GUARDED

UNKNOWN = "nope404"
QUERY = {"/image": {"sample_id": "s1"}}  # required query parameters of some routes


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


async def test_every_experiment_route_answers_one_404(client: httpx.AsyncClient) -> None:
    checked: list[str] = []
    routes = [route for module in GUARDED for route in module.router.routes]
    for route in routes:
        assert isinstance(route, APIRoute)
        if "{experiment_id}" not in route.path:
            continue
        assert get_experiment_or_404 in set(_calls(route.dependant)), route.path
        url = API_PREFIX + route.path.replace("{experiment_id}", UNKNOWN).replace("{run}", "r1")
        params = next((q for end, q in QUERY.items() if url.endswith(end)), {})
        for method in sorted(route.methods):
            response = await client.request(method, url, params=params)
            assert response.status_code == 404, (method, url, response.text)
            assert response.json() == {"detail": f"experiment {UNKNOWN!r} not found"}, url
            checked.append(f"{method} {route.path}")
    assert len(checked) >= 10, checked  # detail, cancel, rerun, delete, samples, image, ...
