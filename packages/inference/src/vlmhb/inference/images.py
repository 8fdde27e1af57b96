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
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image, UnidentifiedImageError

from vlmhb.inference.page_cache import PAGES, PageCache, PageError

DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: base64 characters decoded for a header check (6 KB; a longer header is decoded in full)
HEAD_CHARS = 8192
BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


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
    """One request image: its MIME type and a ``data:`` URL carrying it.

    ``read_image_url`` has checked the base64 and the size; the bytes are decoded from the
    URL only when asked for (``data``, ``decode``), never for a header ``check``."""

    mime: str
    url: str
    raw: bytes | None = field(default=None, repr=False)  # the bytes, when already at hand

    @cached_property
    def data(self) -> bytes:
        """The image's bytes."""
        return self.raw if self.raw is not None else base64.b64decode(self.url.partition(",")[2])

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
        (``ImageError`` if not): for backends that never look at pixels. Only the first
        ``HEAD_CHARS`` of the base64 are decoded unless the header reaches past them."""
        if self.raw is None:
            payload_at = self.url.index(",") + 1
            head = self.url[payload_at : payload_at + HEAD_CHARS]
            if len(head) == HEAD_CHARS:
                try:
                    _check_header(base64.b64decode(head))
                    return
                except ImageError:
                    pass  # the header reaches past the head: the whole image judges
        _check_header(self.data)


def _check_header(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
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
    mime = header[5:].removesuffix(";base64") or "application/octet-stream"
    size = _canonical_base64_size(payload)
    raw = None
    if size is None:  # not plain canonical base64: the full strict decode judges (and says why)
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImageError(f"image data URL is not valid base64: {exc}") from exc
        size = len(raw)
    if size > max_bytes:
        raise _too_large(size, max_bytes)
    return ImageData(mime, url, raw)


def _canonical_base64_size(payload: str) -> int | None:
    """The decoded size of ``payload`` when it is canonical base64 (alphabet characters in
    whole quads, at most two ``=`` at the end), which ``b64decode(validate=True)`` accepts;
    None otherwise. One C pass (``bytes.translate``), no decoding."""
    if len(payload) % 4 or not payload.isascii():
        return None
    padding = 2 if payload.endswith("==") else 1 if payload.endswith("=") else 0
    if payload.encode("ascii").translate(None, BASE64_ALPHABET) != b"=" * padding:
        return None
    return len(payload) // 4 * 3 - padding


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
    return ImageData(mime, _data_url(mime, data), data)
