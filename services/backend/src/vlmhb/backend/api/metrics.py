"""``GET /api/v1/metrics``: Prometheus text for a team's monitoring (``docs/operations.md``);
behind the API token like every route (a scraper sends it as a bearer header)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vlmhb.backend.api.deps import ServicesDep
from vlmhb.backend.schemas import SECURED_RESPONSES
from vlmhb.core.metrics import METRICS_CONTENT_TYPE, exposition

router = APIRouter(tags=["system"], responses=SECURED_RESPONSES)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(services: ServicesDep) -> Response:
    """The platform's metrics as this backend sees them (its database, and the embedded
    orchestrator when there is one)."""
    return Response(exposition(services.metrics), media_type=METRICS_CONTENT_TYPE)
