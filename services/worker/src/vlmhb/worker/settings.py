"""What the job queue is configured with (``VLMHB_*`` environment variables): one owner
for the worker processes and the ``celery`` executor, so both sides agree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """``data_dir``: where the defaults live (the ``filesystem://`` broker's folders, the
    SQLite queue database). ``broker_url``: the Celery broker (``redis://``, ``amqp://``,
    default ``filesystem://``: one host, no server). ``queue_db_url``: the lease store
    (SQLAlchemy URL; SQLite or PostgreSQL). ``queue_prefix``: put before every queue name
    (``cpu``, ``gpu``, ``gpu.<host>``), so planes sharing a broker never mix.
    ``agents``: the static agent list ``name=url,...`` (else ``redis_url`` finds them by
    their heartbeats). ``agent_token_file``: the agents' bearer token. ``lease_ttl_s``: a
    lease not renewed this long is stale (its worker is taken for lost);
    ``heartbeat_s``: how often a worker renews it. ``visibility_timeout_s``: the Redis
    transport's redelivery timeout (leases make a redelivery harmless; keep it long).
    ``agent_grace_s``: how long an agent may stay unreachable before the attempt fails as
    an infrastructure failure. ``claim_timeout_s``: an attempt no worker claimed this long
    fails (no worker consumes its queue). ``place_retry_s``: when no agent has room, the
    wait before trying again. ``max_in_flight``: stages the executor has out at once."""

    model_config = SettingsConfigDict(env_prefix="VLMHB_")

    data_dir: Path = Path("~/.local/share/vlmhb/queue").expanduser()
    broker_url: str = "filesystem://"
    queue_db_url: str | None = None
    queue_prefix: str = Field("", pattern=r"^[A-Za-z0-9_.-]*$")
    agents: Annotated[str, NoDecode] = ""
    agent_token_file: Path | None = None
    redis_url: str | None = None
    lease_ttl_s: float = Field(15.0, gt=0)
    heartbeat_s: float = Field(2.0, gt=0)
    visibility_timeout_s: float = Field(4 * 3600.0, gt=0)
    agent_grace_s: float = Field(20.0, ge=0)
    claim_timeout_s: float = Field(3600.0, gt=0)
    place_retry_s: float = Field(2.0, gt=0)
    max_in_flight: int = Field(64, ge=1)
    poll_s: float = Field(0.3, gt=0)

    @field_validator("heartbeat_s")
    @classmethod
    def _beats_within_ttl(cls, value: float, info: Any) -> float:
        ttl = info.data.get("lease_ttl_s")
        if ttl is not None and value * 2 > ttl:
            raise ValueError(f"heartbeat_s {value} must be at most half of lease_ttl_s {ttl}")
        return value

    def database_url(self) -> str:
        """``queue_db_url``, else a SQLite file in ``data_dir``."""
        if self.queue_db_url:
            return self.queue_db_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'queue.db'}"

    def broker_folders(self) -> tuple[Path, Path]:
        """The ``filesystem://`` broker's message folder and its processed folder."""
        return self.data_dir / "broker" / "messages", self.data_dir / "broker" / "processed"

    def read_token(self) -> str:
        if self.agent_token_file is None:
            raise ValueError("VLMHB_AGENT_TOKEN_FILE is not set: the agents need a token")
        return self.agent_token_file.expanduser().read_text(encoding="utf-8").strip()


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for printing)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
