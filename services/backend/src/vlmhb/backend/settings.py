"""Backend settings from the environment (and the CLI options that override them)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class BackendSettings(BaseSettings):
    """Where state lives and how the backend is reached.

    ``database_url``: SQLAlchemy URL (default: SQLite ``<data_dir>/vlmhb.db``).
    ``redis_url``: when set, events travel over Redis pub/sub instead of in-process.
    ``orchestrator_url``: when set (``vlmhb backend``), submissions go to that orchestrator
    service instead of the embedded one. ``auth_token``: bearer token for the API.
    ``data_root``: relative dataset/prompt paths in submitted configs resolve here, and
    every dataset path must lie inside it.
    """

    model_config = SettingsConfigDict(env_prefix="VLMHB_", populate_by_name=True)

    data_dir: Path = Path(".vlmhb")
    runs_dir: Path = Path("runs")
    data_root: Path | None = None
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "VLMHB_DATABASE_URL"))
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "VLMHB_REDIS_URL"))
    orchestrator_url: str | None = Field(
        None, validation_alias=AliasChoices("ORCHESTRATOR_URL", "VLMHB_ORCHESTRATOR_URL"))
    auth_token: str | None = None
    public_read: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    max_upload_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    ws_queue_size: int = Field(4096, ge=16)
    host: str = "127.0.0.1"
    port: int = 8000

    def resolved(self) -> BackendSettings:
        """A copy with absolute folders (created) and a concrete database URL."""
        data_dir = self.data_dir.expanduser().resolve()
        runs_dir = self.runs_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        runs_dir.mkdir(parents=True, exist_ok=True)
        url = self.database_url or f"sqlite:///{data_dir / 'vlmhb.db'}"
        root = self.data_root.expanduser().resolve() if self.data_root else None
        return self.model_copy(update={"data_dir": data_dir, "runs_dir": runs_dir,
                                       "database_url": url, "data_root": root})

    @property
    def experiments_dir(self) -> Path:
        """Submitted configs are stored in ``<data_dir>/experiments/<id>/``."""
        return self.data_dir / "experiments"

    @property
    def url(self) -> str:
        assert self.database_url is not None, "call resolved() first"
        return self.database_url
