"""The project's stage images, built locally from ``deploy/images/`` (no registry):
``ensure_images`` builds what is missing or stale, ``ImageBuilder`` is ``vlmhb images build``."""

from vlmhb.containers.images.build import BuildOutcome, ImageBuilder, ensure_images
from vlmhb.containers.images.errors import ImageBuildError

__all__ = ["BuildOutcome", "ImageBuildError", "ImageBuilder", "ensure_images"]
