"""``vlmhb images ls``: the project's images in the local engine and what they contain."""

from __future__ import annotations

from datetime import datetime

import docker
from pydantic import BaseModel

from vlmhb.containers.images.contents import SOURCE_HASH_LABEL, ImageContents
from vlmhb.containers.images.sources import REPO_PREFIX


class ImageRow(BaseModel):
    """One tag of a ``vlmhb/*`` image. ``digest``: the registry digest when the image was
    pushed or pulled, else the local image id."""

    tag: str
    image_id: str
    digest: str
    created: datetime
    size: int
    source_hash: str | None
    contents: ImageContents | None


def list_images(client: docker.DockerClient) -> list[ImageRow]:
    """Every tag of every ``vlmhb/*`` image, sorted by tag."""
    rows: list[ImageRow] = []
    for image in client.images.list(filters={"reference": f"{REPO_PREFIX}*"}):
        attrs = image.attrs
        labels = attrs.get("Config", {}).get("Labels") or {}
        digests = attrs.get("RepoDigests") or []
        for tag in image.tags:
            if not tag.startswith(REPO_PREFIX):
                continue
            repo = tag.rpartition(":")[0]
            digest = next((d for d in digests if d.startswith(repo + "@")), str(image.id))
            rows.append(
                ImageRow(
                    tag=tag,
                    image_id=str(image.id),
                    digest=digest,
                    created=attrs["Created"],
                    size=int(attrs.get("Size", 0)),
                    source_hash=labels.get(SOURCE_HASH_LABEL),
                    contents=ImageContents.from_labels(labels),
                )
            )
    return sorted(rows, key=lambda r: r.tag)
