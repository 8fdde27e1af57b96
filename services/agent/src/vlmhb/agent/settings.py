"""What ``vlmhb agent`` is configured with (``VLMHB_AGENT_*`` environment variables or the
command line's options, which win), and its token, read from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vlmhb.orchestrator.tokens import check_token

DEFAULT_PORT = 8101


class AgentSettings(BaseSettings):
    """``name``: this host's name among the agents (its containers' ``vlmhb.agent``
    label). ``gpus``: the GPU ids stages may take (indexes or UUIDs; ``0,1``).
    ``token_file``: a file holding the bearer token (never the token itself).
    ``host``/``port``: where the API listens (loopback unless configured); ``url``: how
    workers reach it (default ``http://host:port``). ``cache_dir``: env caches (venvs,
    package volumes), the disk reported free. ``redis_url``: where heartbeats go, every
    ``heartbeat_s``. ``env_kinds``: the env kinds stages may use (``["docker"]`` on a
    shared host: a ``process`` stage runs as this agent's user). ``events_kept``: events
    buffered per stage; ``finished_kept_s``: how long a finished stage's result stays
    readable."""

    model_config = SettingsConfigDict(env_prefix="VLMHB_AGENT_")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    gpus: Annotated[list[str], NoDecode] = Field(default_factory=list)
    token_file: Path
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    url: str | None = None
    cache_dir: Path = Path("~/.cache/vlmhb/agent").expanduser()
    redis_url: str | None = None
    heartbeat_s: float = Field(5.0, gt=0)
    env_kinds: list[str] = Field(default_factory=lambda: ["docker", "process"])
    events_kept: int = Field(5000, ge=10)
    finished_kept_s: float = Field(3600.0, ge=0)

    @field_validator("gpus", mode="before")
    @classmethod
    def _split_gpus(cls, value: Any) -> Any:
        """``"0,1"`` (the option's and the variable's form) → ``["0", "1"]``."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            ids = [str(item).strip() for item in value if str(item).strip()]
            if len(set(ids)) != len(ids):
                raise ValueError(f"GPU ids repeat: {','.join(ids)}")
            return ids
        return value

    def public_url(self, port: int) -> str:
        """The URL workers use (``url``, else this address with the bound ``port``)."""
        if self.url:
            return self.url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"


def read_token(path: Path) -> str:
    """The token stored in ``path`` (one line), checked for strength: ``WeakToken`` (a
    ``ValueError``) saying why it is refused, ``OSError`` when it cannot be read."""
    text = path.expanduser().read_text(encoding="utf-8")
    return check_token(text.rstrip("\n"), f"the token in {path}")
