"""Images on the wire: files to ``data:`` URLs (client) and back to Pillow images (server)."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MIME_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp",
                  "GIF": "image/gif", "BMP": "image/bmp", "TIFF": "image/tiff"}


class ImageError(ValueError):
    """An image that cannot be read, cropped or decoded."""


def encode_image(path: Path, crop_box: tuple[int, int, int, int] | None = None) -> str:
    """``data:`` URL of the image at ``path``; cropped to ``crop_box`` and PNG-encoded when
    a box is given, otherwise the original bytes with their own MIME type."""
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as original:
            if crop_box is None and original.format in MIME_BY_FORMAT:
                return _data_url(MIME_BY_FORMAT[original.format], data)
            image: Image.Image = original
            if crop_box is not None:
                x1, y1, x2, y2 = crop_box
                if not (0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height):
                    raise ImageError(f"crop box {crop_box} is outside the image "
                                     f"{image.width}x{image.height} or empty")
                image = image.crop(crop_box)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageError(f"cannot read image {path}: {exc}") from exc
    return _data_url("image/png", buffer.getvalue())


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_url(url: str) -> Image.Image:
    """The Pillow image in a ``data:<mime>;base64,...`` URL (fully loaded)."""
    if not url.startswith("data:"):
        raise ImageError("only data: URLs are supported for image_url "
                         f"(got {url[:30]!r}...)")
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise ImageError("image data URL must be base64-encoded (data:<mime>;base64,...)")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"image data URL is not valid base64: {exc}") from exc
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageError(f"image data URL does not hold a readable image: {exc}") from exc
    return image
