"""What a config submitted through the API may do: it is data, never code.

The CLI loads a user's own file with full power (no policy). The management backend
loads every submitted config with a ``SubmissionPolicy``: the config may not set operator
fields (programs, command lines, modules, packages, environment variables, registry
folders), every path it reads must lie inside the data roots and every path it writes
inside the server's output folder, and ``api_key_env`` may name only a variable the
server allows, for the base URLs it allows it for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SubmissionPolicy:
    """Server-side limits for submitted configs.

    ``data_roots``: folders inputs may come from (relative paths resolve against the
    first); ``output_root``: where runs are written (the config cannot choose);
    ``registry_dirs``: the operator's registry folders (presets a config picks by name);
    ``model_keys``: environment variable → base URL prefixes its value may be sent to;
    ``data_uris``: storage URI prefixes datasets may be read from and results written to
    (``VLMHB_DATA_URIS``; none: no storage URI is allowed)."""

    data_roots: tuple[Path, ...]
    output_root: Path
    registry_dirs: tuple[Path, ...] = ()
    model_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    data_uris: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.data_roots:
            raise ValueError("a submission policy needs at least one data root")

    @property
    def base(self) -> Path:
        """Relative input paths of a submitted config resolve here."""
        return self.data_roots[0]

    def inside_data(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved.is_relative_to(root.resolve()) for root in self.data_roots)

    def key_allowed(self, env_name: str, base_url: str | None) -> bool:
        """Whether the key in ``env_name`` may be sent to ``base_url``."""
        prefixes = self.model_keys.get(env_name)
        if not prefixes or not base_url:
            return False
        url = base_url.rstrip("/") + "/"
        return any(url.startswith(prefix.rstrip("/") + "/") for prefix in prefixes)

    def uri_allowed(self, uri: str) -> bool:
        """Whether ``uri`` lies under an allowed prefix (at a ``/`` boundary; no ``.``,
        ``..`` or empty segments, which a store could read as another place)."""
        rest = uri.partition("://")[2]
        if not rest or any(part in ("", ".", "..") for part in rest.rstrip("/").split("/")):
            return False
        target = uri.rstrip("/") + "/"
        return any(target.startswith(prefix.rstrip("/") + "/") for prefix in self.data_uris)
