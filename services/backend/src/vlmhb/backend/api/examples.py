"""Examples built for this server: the New-experiment page's example config."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from vlmhb.backend.api.deps import ServicesDep
from vlmhb.backend.examples import NoDataset, example_config
from vlmhb.backend.schemas import SECURED_RESPONSES, ExampleConfig, error
from vlmhb.orchestrator.settings import submission_policy

router = APIRouter(tags=["experiments"], responses=SECURED_RESPONSES)


@router.get(
    "/examples/experiment",
    response_model=ExampleConfig,
    responses={404: error("the data root holds no dataset (the message says how to make one)")},
)
def example_experiment(services: ServicesDep) -> ExampleConfig:
    """An experiment config (YAML) that runs as it is on this server: scripted oracles on
    a dataset found under its data root (``VLMHB_DATA_ROOT``)."""
    try:
        example = example_config(submission_policy(services.settings).base)
    except NoDataset as exc:
        raise HTTPException(404, str(exc)) from None
    return ExampleConfig(format="yaml", text=example.text, dataset=example.dataset)
