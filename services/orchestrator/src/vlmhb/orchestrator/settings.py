"""What a runner needs to know about submitted configs: the runs folder and the limits
every submitted config is loaded under (``VLMHB_*`` environment variables).

The backend's settings extend these, so both services read the same variables.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.settings import Settings


class RunnerSettings(Settings):
    """``runs_dir``: where experiment runs are written. The roots every path a submitted
    config reads must lie in (``data_root``, default the working directory, where its
    relative paths resolve; ``model_roots``, ``VLMHB_MODEL_ROOTS``) are the core
    ``Settings``' (``data_roots``), shared with the container policy. ``model_keys``
    (``VLMHB_MODEL_KEYS``, JSON ``{"ENV_VAR": ["https://api.example/v1"]}``): the
    environment variables a submitted ``api_key_env`` may name, and the base URLs each key
    may be sent to. See ``docs/security.md``."""

    model_config = SettingsConfigDict(env_prefix="VLMHB_", populate_by_name=True)

    runs_dir: Path = Path("runs")
    model_keys: dict[str, list[str]] = Field(default_factory=dict)


def submission_policy(settings: RunnerSettings) -> SubmissionPolicy:
    """The limits every submitted config is loaded under (see ``docs/security.md``): the
    data root (default: the working directory) and model roots, the runs folder, the
    allowed model keys, the allowed storage URIs."""
    return SubmissionPolicy(
        data_roots=settings.data_roots(),
        output_root=settings.runs_dir.expanduser().resolve(),
        model_keys={k: tuple(v) for k, v in settings.model_keys.items()},
        data_uris=tuple(settings.data_uris),
    )
