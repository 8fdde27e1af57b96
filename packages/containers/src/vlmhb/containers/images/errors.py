"""The error of image builds."""

from __future__ import annotations

from vlmhb.core.errors import VlmhbError


class ImageBuildError(VlmhbError):
    """An image (or the rootfs it starts from) could not be built; the message says why."""
