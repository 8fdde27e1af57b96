"""Machine settings from the environment (``VLMHB_*``), not from experiment configs."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """``gpus``: GPUs to use when NVML is absent (NVML's count wins when present).
    ``cpu_slots``: stages without a GPU that may run at once.
    ``stop_grace_s``: how long a stopped child process (stage, model server, engine) has
    between SIGTERM and SIGKILL (``vlmhb.core.childproc``).
    ``infra_retries``: how many times the scheduler runs a stage again after an
    infrastructure failure (``StageResult.failure``: engine error, OOM, killed container)."""

    model_config = SettingsConfigDict(env_prefix="VLMHB_")

    gpus: int | None = Field(None, ge=0)
    cpu_slots: int = Field(default_factory=lambda: max(2, os.cpu_count() or 2), ge=1)
    env_cache_dir: Path = Path("~/.cache/vlmhb/envs").expanduser()
    stop_grace_s: float = Field(10.0, ge=0)
    infra_retries: int = Field(1, ge=0)
