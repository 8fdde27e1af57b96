"""Machine settings from the environment (``VLMHB_*``), not from experiment configs."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """``gpus``: GPUs to use when NVML is absent (NVML's count wins when present).
    ``cpu_slots``: stages without a GPU that may run at once.
    ``stop_grace_s``: how long a stopped child process (stage, model server, engine) has
    between SIGTERM and SIGKILL (``vlmhb.core.childproc``).
    ``data_root``: where inputs of submitted configs and of container stages come from
    (relative paths in submitted configs resolve here; default: the working directory);
    ``model_roots`` (``VLMHB_MODEL_ROOTS``, a JSON list): more such folders, where model
    weights live (``data_roots``). ``image_prefixes`` (``VLMHB_IMAGE_PREFIXES``, a JSON
    list): what the image of a container stage may be named (``vlmhb.core.envs.policy``).
    ``infra_retries``: how many times the scheduler runs a stage again after an
    infrastructure failure (``StageResult.failure``: engine error, OOM, killed container),
    waiting up to ``infra_retry_backoff_s`` × 2^(retry − 1) s (jittered) before each.
    ``data_cache_dir`` (``VLMHB_DATA_CACHE_DIR``): this node's cache of datasets synced
    from storage URIs (``vlmhb.data.storage``); container stages mount it read-only.
    ``data_uris`` (``VLMHB_DATA_URIS``, a JSON list): storage URI prefixes a config
    submitted through the API may read datasets from and write results to (none: no
    storage URI at all; the CLI's own configs are not limited).
    ``executor``: the executor kind stages go through (``vlmhb.core.orchestration.executors``:
    ``local`` on this host, ``celery`` through the job queue)."""

    model_config = SettingsConfigDict(env_prefix="VLMHB_")

    gpus: int | None = Field(None, ge=0)
    cpu_slots: int = Field(default_factory=lambda: max(2, os.cpu_count() or 2), ge=1)
    env_cache_dir: Path = Path("~/.cache/vlmhb/envs").expanduser()
    stop_grace_s: float = Field(10.0, ge=0)
    data_root: Path | None = None
    model_roots: list[Path] = Field(default_factory=list)
    image_prefixes: list[str] = Field(default_factory=lambda: ["vlmhb/"])
    infra_retries: int = Field(1, ge=0)
    infra_retry_backoff_s: float = Field(1.0, ge=0)
    executor: str = "local"
    data_cache_dir: Path = Path("~/.cache/vlmhb/data").expanduser()
    data_uris: list[str] = Field(default_factory=list)

    @field_validator("image_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        """A blank prefix would allow every image: refused."""
        for prefix in value:
            if not prefix.strip() or prefix != prefix.strip():
                raise ValueError(f"image prefix {prefix!r} is blank or has whitespace")
        return value

    def data_roots(self) -> tuple[Path, ...]:
        """The data root (default: the working directory), then the model roots; resolved."""
        return (
            (self.data_root or Path.cwd()).expanduser().resolve(),
            *(p.expanduser().resolve() for p in self.model_roots),
        )
