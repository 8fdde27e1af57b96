"""Where image builds keep their cache and find their inputs (``VLMHB_*`` environment)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class ImageSettings(BaseSettings):
    """``image_cache_dir`` (``VLMHB_IMAGE_CACHE_DIR``): the debootstrap rootfs tarballs and the
    build lock (CI keeps it between runs on one machine). ``images_dir``
    (``VLMHB_IMAGES_DIR``): the folder of image folders (default: ``deploy/images`` of the
    checkout found from the working directory). ``ca_bundle`` (``VLMHB_CA_BUNDLE``): the host's
    CA bundle, given to every build as ``ca-certificates.crt``."""

    model_config = SettingsConfigDict(env_prefix="VLMHB_")

    image_cache_dir: Path = Path("~/.cache/vlmhb/images").expanduser()
    images_dir: Path | None = None
    ca_bundle: Path = Path("/etc/ssl/certs/ca-certificates.crt")
