"""The plane's settings (``VLMHB_PLANE_*``) and the variables ``deploy/docker-compose.yaml``
reads, computed from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# services/orchestrator/src/vlmhb/orchestrator/plane/settings.py -> the checkout's root
CHECKOUT = Path(__file__).resolve().parents[6]
PLANE_IMAGES = ("postgres", "redis", "backend", "web")
PROJECT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # what compose accepts as a project name
DEFAULT_UID = 1000  # the plane's user when `vlmhb up` runs as root (never root inside)


class PlaneSettings(BaseSettings):
    """``project``: the compose project name. ``compose_file``: default
    ``deploy/docker-compose.yaml`` of this checkout. Ports on 127.0.0.1 (defaults clear of
    a local PostgreSQL 5432 / Redis 6379). ``orchestrator_url``: how the backend reaches
    the host orchestrator (default ``http://127.0.0.1:<orchestrator port>``, right with
    host networking; elsewhere e.g. ``http://host.docker.internal:8001``). ``uid``/``gid``:
    the backend's user (default: yours; 1000 when you are root). ``web_dist``: the built UI
    (default ``services/web/dist``). ``health_timeout_s``: per start level."""

    model_config = SettingsConfigDict(env_prefix="VLMHB_PLANE_")

    project: str = Field("vlmhb", pattern=PROJECT_PATTERN)
    compose_file: Path = CHECKOUT / "deploy" / "docker-compose.yaml"
    pg_port: int = Field(15432, ge=1, le=65535)
    redis_port: int = Field(16379, ge=1, le=65535)
    backend_port: int = Field(18000, ge=1, le=65535)
    web_port: int = Field(18080, ge=1, le=65535)
    orchestrator_url: str | None = None
    uid: int | None = Field(None, ge=1)
    gid: int | None = Field(None, ge=1)
    web_dist: Path = CHECKOUT / "services" / "web" / "dist"
    health_timeout_s: float = Field(180, gt=0)

    def user(self) -> tuple[int, int]:
        """``(uid, gid)`` of the backend container: configured, else the caller's, else
        (as root) 1000."""
        if os.getuid() == 0:
            return self.uid or DEFAULT_UID, self.gid or DEFAULT_UID
        return self.uid or os.getuid(), self.gid or os.getgid()


@dataclass(frozen=True)
class PlaneFolders:
    """The host folders the backend container shares with the host orchestrator, mounted
    at the same paths: ``data_dir`` (token, stored configs), ``runs_dir``, ``data_root``
    (read-only: datasets and prompts submitted configs name), ``web_dist``."""

    data_dir: Path
    runs_dir: Path
    data_root: Path
    web_dist: Path


def compose_env(
    settings: PlaneSettings, folders: PlaneFolders, orchestrator_port: int
) -> dict[str, str]:
    """The ``VLMHB_PLANE_*`` variables of ``deploy/docker-compose.yaml``."""
    uid, gid = settings.user()
    return {
        "VLMHB_PLANE_PG_PORT": str(settings.pg_port),
        "VLMHB_PLANE_REDIS_PORT": str(settings.redis_port),
        "VLMHB_PLANE_BACKEND_PORT": str(settings.backend_port),
        "VLMHB_PLANE_WEB_PORT": str(settings.web_port),
        "VLMHB_PLANE_ORCHESTRATOR_URL": settings.orchestrator_url
        or f"http://127.0.0.1:{orchestrator_port}",
        "VLMHB_PLANE_UID": str(uid),
        "VLMHB_PLANE_GID": str(gid),
        "VLMHB_PLANE_DATA_DIR": str(folders.data_dir),
        "VLMHB_PLANE_RUNS_DIR": str(folders.runs_dir),
        "VLMHB_PLANE_DATA_ROOT": str(folders.data_root),
        "VLMHB_PLANE_WEB_DIST": str(folders.web_dist),
    }
