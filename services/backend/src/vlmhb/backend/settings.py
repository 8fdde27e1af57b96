"""Backend settings from the environment (and the CLI options that override them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from vlmhb.orchestrator.settings import RunnerSettings
from vlmhb.orchestrator.tokens import check_token, load_or_create_token

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class BackendSettings(RunnerSettings):
    """Where state lives and how the backend is reached.

    ``database_url``: SQLAlchemy URL (default: SQLite ``<data_dir>/vlmhb.db``).
    ``redis_url``: when set, events travel over Redis pub/sub instead of in-process.
    ``orchestrator_url``: when set (``vlmhb backend``), submissions go to that orchestrator
    service instead of the embedded one. ``auth_token``: bearer token for the API
    (at least 16 characters; generated into the data folder when unset, see
    ``with_token``). ``no_auth``: no token at all (loopback only; Host and Origin are
    still checked). ``allowed_hosts``: Host header names accepted besides localhost,
    127.0.0.1 and [::1] (``*``: any). ``orchestrator_token``: what ``vlmhb backend``
    sends to the orchestrator (default: ``auth_token``). ``results_refresh_s``: how old
    a run folder mirrored from an experiment's ``results_uri`` may get before a read pulls
    it again (``vlmhb.backend.results_mirror``). Hosts (``docs/hosts.md``):
    ``ssh_keys_dir`` (default ``<data_dir>/ssh-keys``) holds the keys a host's key
    reference names; ``agent_token_file`` the agents' token; ``host_connections`` the
    connections a host may use; ``health_interval_s``/``health_kept``: the monitor.
    The runs folder and the submission limits (``data_root``, ``model_roots``,
    ``model_keys``) come from ``RunnerSettings``, shared with the orchestrator.
    """

    model_config = SettingsConfigDict(env_prefix="VLMHB_", populate_by_name=True)

    data_dir: Path = Path(".vlmhb")
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "VLMHB_DATABASE_URL")
    )
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "VLMHB_REDIS_URL")
    )
    orchestrator_url: str | None = Field(
        None, validation_alias=AliasChoices("ORCHESTRATOR_URL", "VLMHB_ORCHESTRATOR_URL")
    )
    auth_token: str | None = None
    no_auth: bool = False
    orchestrator_token: str | None = None
    public_read: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_upload_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    ws_queue_size: int = Field(4096, ge=16)
    results_refresh_s: float = Field(5.0, ge=0)
    ssh_keys_dir: Path | None = None
    agent_token_file: Path | None = None
    host_connections: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["ssh"])
    health_interval_s: float = Field(10.0, gt=0)
    health_kept: int = Field(1000, ge=10)
    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("auth_token", "orchestrator_token")
    @classmethod
    def _strong_token(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Blank, whitespace-padded or short tokens are refused (a clear error at start)."""
        source = f"VLMHB_{(info.field_name or 'auth_token').upper()}"
        return None if value is None else check_token(value, source)

    @field_validator("host_connections", mode="before")
    @classmethod
    def _connections(cls, value: Any) -> Any:
        """``VLMHB_HOST_CONNECTIONS``: ``ssh,local,docker`` (comma-separated)."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and set(value) - {"ssh", "local", "docker"}:
            raise ValueError(f"host connections are ssh, local and docker; got {value}")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: Any) -> Any:
        """``VLMHB_ALLOWED_HOSTS``: a JSON list or comma-separated names."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    def with_token(self) -> tuple[BackendSettings, bool]:
        """``(settings, generated)``: with ``auth_token`` set — the configured one, else
        the one stored in the data folder (created on first use). ``no_auth`` keeps None."""
        if self.no_auth or self.auth_token:
            return self, False
        token, created = load_or_create_token(self.data_dir.expanduser().resolve())
        return self.model_copy(update={"auth_token": token}), created

    def resolved(self) -> BackendSettings:
        """A copy with absolute folders (created) and a concrete database URL."""
        data_dir = self.data_dir.expanduser().resolve()
        runs_dir = self.runs_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        runs_dir.mkdir(parents=True, exist_ok=True)
        url = self.database_url or f"sqlite:///{data_dir / 'vlmhb.db'}"
        root = self.data_root.expanduser().resolve() if self.data_root else None
        return self.model_copy(
            update={
                "data_dir": data_dir,
                "runs_dir": runs_dir,
                "database_url": url,
                "data_root": root,
            }
        )

    @property
    def experiments_dir(self) -> Path:
        """Submitted configs are stored in ``<data_dir>/experiments/<id>/``."""
        return self.data_dir / "experiments"

    @property
    def keys_dir(self) -> Path:
        return (self.ssh_keys_dir or self.data_dir / "ssh-keys").expanduser()

    @property
    def url(self) -> str:
        assert self.database_url is not None, "call resolved() first"
        return self.database_url
