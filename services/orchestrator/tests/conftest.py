"""Fixtures for the orchestrator tests: the shared test Redis (``scripts/services.sh``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from vlmhb_orchestrator_testkit import shared_redis_url


@pytest.fixture
def redis_url() -> str:
    return shared_redis_url()
