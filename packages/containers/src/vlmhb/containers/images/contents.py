"""What an image holds, read from the image itself after it is built: the Python on its
PATH with every installed distribution (a ``pip freeze``), and the versions of the apt
packages its Dockerfile installs. Stored as JSON in the ``org.vlmhb.contents`` label."""

from __future__ import annotations

import json
from typing import Any

import docker
from pydantic import BaseModel, Field, ValidationError

CONTENTS_LABEL = "org.vlmhb.contents"
SOURCE_HASH_LABEL = "org.vlmhb.source-hash"
PROBE_LABEL = "org.vlmhb.images-probe"

# Runs inside the image (no network): argv = the apt packages to look up.
_PROBE = """
import json, platform, subprocess, sys
from importlib import metadata
pkgs = {d.metadata["Name"]: d.version for d in metadata.distributions() if d.metadata["Name"]}
apt = {}
if len(sys.argv) > 1:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}=${Version}\\n", *sys.argv[1:]],
                         capture_output=True, text=True).stdout
    apt = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
pkgs = dict(sorted(pkgs.items(), key=lambda kv: kv[0].lower()))
print(json.dumps({"python": platform.python_version(), "python_path": sys.executable,
                  "packages": pkgs, "apt": apt}))
"""


class ImageContents(BaseModel):
    """The ``org.vlmhb.contents`` label: ``packages`` maps distribution → version."""

    python: str | None = None
    python_path: str | None = None
    vlmhb: str = ""
    packages: dict[str, str] = Field(default_factory=dict)
    apt: dict[str, str] = Field(default_factory=dict)
    error: str | None = None  # the probe's output when it failed

    def key_packages(self) -> list[str]:
        """The packages worth a glance: vlmhb-*, uv and the big frameworks, then apt's."""
        key = ("uv", "torch", "transformers", "vllm", "sglang", "pydantic", "fastapi")
        picked = [
            f"{name} {version}"
            for name, version in self.packages.items()
            if name.lower().startswith("vlmhb-") or name.lower() in key
        ]
        return picked + [f"{name} {version} (apt)" for name, version in self.apt.items()]

    @classmethod
    def from_labels(cls, labels: dict[str, str] | None) -> ImageContents | None:
        """The label's contents; ``None`` when the image has none (or one not ours)."""
        raw = (labels or {}).get(CONTENTS_LABEL)
        try:
            return cls.model_validate_json(raw) if raw else None
        except ValidationError:
            return None


def probe_contents(
    client: docker.DockerClient, image_id: str, apt_packages: list[str], vlmhb_version: str
) -> ImageContents:
    """Run the probe in a throw-away container of ``image_id`` (network none)."""
    container = client.containers.create(
        image_id,
        entrypoint=["python3", "-c", _PROBE],
        command=apt_packages,
        network_mode="none",
        labels={PROBE_LABEL: "1"},
    )
    try:
        container.start()
        status: dict[str, Any] = container.wait()
        output = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        errors = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0:
        return ImageContents(vlmhb=vlmhb_version, error=(errors or output).strip()[-500:])
    data = json.loads(output.strip().splitlines()[-1])
    return ImageContents(vlmhb=vlmhb_version, **data)
