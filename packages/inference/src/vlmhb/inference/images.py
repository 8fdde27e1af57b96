"""Images on the wire: files to ``data:`` URLs (client) and back to Pillow images (server).

The server accepts ``image_url`` parts holding a ``data:<mime>;base64,...`` URL or a
``file://`` URL. File URLs are read only inside the allowed roots of the ``ImagePolicy``
(none by default: file URLs are refused), and no image may be larger than
``ImagePolicy.max_bytes``. Each refusal is an ``ImageError`` whose ``status_code`` is the
HTTP status the server answers with (400 malformed, 403 outside the roots, 413 too large).
"""

from __future__ import annotations

import base64
import binascii
import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image, UnidentifiedImageError

from vlmhb.inference.page_cache import PAGES, PageCache, PageError

DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024


class ImageError(ValueError):
    """An image that cannot be read, cropped or decoded."""

    status_code = 400


class ImageForbiddenError(ImageError):
    """A ``file://`` image outside the allowed roots (or file URLs disabled)."""

    status_code = 403


class ImageTooLargeError(ImageError):
    """An image over the size limit."""

    status_code = 413


@dataclass(frozen=True)
class ImagePolicy:
    """Where ``file://`` images may be read from and how large an image may be."""

    allowed_roots: tuple[Path, ...] = ()
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES

    def resolved_roots(self) -> tuple[Path, ...]:
        return tuple(root.expanduser().resolve() for root in self.allowed_roots)


@dataclass(frozen=True)
class ImageData:
    """The bytes of one request image and a ``data:`` URL carrying them."""

    mime: str
    data: bytes
    url: str

    def decode(self) -> Image.Image:
        """The fully loaded Pillow image (``ImageError`` if the bytes are no image)."""
        try:
            image = Image.open(io.BytesIO(self.data))
            image.load()
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ImageError(f"image_url does not hold a readable image: {exc}") from exc
        return image

    def check(self) -> None:
        """Check the bytes are an image from its header alone, decoding no pixel
        (``ImageError`` if not): for backends that never look at pixels."""
        try:
            with Image.open(io.BytesIO(self.data)) as image:
                if image.width < 1 or image.height < 1:
                    raise ValueError(f"{image.width}x{image.height} pixels")
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ImageError(f"image_url does not hold a readable image: {exc}") from exc


def encode_image(
    path: Path, crop_box: tuple[int, int, int, int] | None = None, pages: PageCache = PAGES
) -> str:
    """``data:`` URL of the image at ``path``; cropped to ``crop_box`` and PNG-encoded when
    a box is given, otherwise the original bytes with their own MIME type. Each page is
    read and decoded once per process (``pages``, ``vlmhb.inference.page_cache``)."""
    try:
        return pages.data_url(path, crop_box)
    except PageError as exc:
        raise ImageError(str(exc)) from exc


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _too_large(size: int, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"image is {size} bytes, over the limit of {limit} bytes "
        "(raise it with vlmhb-api serve --max-image-bytes)"
    )


def read_image_url(url: str, policy: ImagePolicy | None = None) -> ImageData:
    """The bytes behind a ``data:`` or ``file://`` image URL, checked against ``policy``."""
    policy = policy or ImagePolicy()
    if url.startswith("data:"):
        return _read_data_url(url, policy.max_bytes)
    if url.startswith("file:"):
        return _read_file_url(url, policy)
    raise ImageError(
        f"image_url must be a data:<mime>;base64,... URL or a file:// URL (got {url[:30]!r}...)"
    )


def _read_data_url(url: str, max_bytes: int) -> ImageData:
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise ImageError("image data URL must be base64-encoded (data:<mime>;base64,...)")
    estimate = len(payload) * 3 // 4
    if estimate > max_bytes + 2:
        raise _too_large(estimate, max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"image data URL is not valid base64: {exc}") from exc
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return ImageData(header[5:].removesuffix(";base64") or "application/octet-stream", data, url)


def _read_file_url(url: str, policy: ImagePolicy) -> ImageData:
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise ImageError(
            f"file URL must name a local path (file:///...), got host {parsed.netloc!r}"
        )
    roots = policy.resolved_roots()
    if not roots:
        raise ImageForbiddenError(
            "file:// image URLs are disabled on this server; start it with "
            "--allowed-root DIR (or VLMHB_API_ALLOWED_ROOTS) or send a data: URL"
        )
    path = Path(unquote(parsed.path)).resolve()
    if not any(path.is_relative_to(root) for root in roots):
        raise ImageForbiddenError(
            f"file {path} is outside the allowed roots ({', '.join(str(root) for root in roots)})"
        )
    try:
        size = path.stat().st_size
        if size > policy.max_bytes:
            raise _too_large(size, policy.max_bytes)
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read image file {path}: {exc.strerror}") from exc
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return ImageData(mime, data, _data_url(mime, data))
