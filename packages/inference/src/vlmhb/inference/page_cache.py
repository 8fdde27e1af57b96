"""Document pages a run sends, each read, decoded and encoded once.

Many questions ask about the same page: without a cache every question reads the file,
base64-encodes it and, for a cropped field, decodes the whole page again. ``PageCache``
keys a file by its path, size and modification time (a ``stat``, no read) to the sha256
of its bytes, and keeps per content hash the bytes, the page's ``data:`` URL and its
decoded pixels, each made on first use, least recently used evicted past ``max_bytes``.
Crops are cut from the cached decoded page. One lock per page makes threads asking for
the same page at once wait for one read and one decode; different pages proceed in
parallel (Pillow releases the GIL while decoding and encoding).
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vlmhb.core.prepare import cropped_png

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
MIME_BY_FORMAT = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


class PageError(ValueError):
    """A page that cannot be read, decoded or cropped."""


@dataclass
class _Page:
    data: bytes
    url: str | None = None
    pixels: Image.Image | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> int:
        held = len(self.data) + len(self.url or "")
        if self.pixels is not None:
            held += self.pixels.width * self.pixels.height * len(self.pixels.getbands())
        return held


class PageCache:
    """Pages by content hash, bounded by ``max_bytes`` (0: keep nothing, every call reads
    and decodes again). ``reads`` and ``decodes`` count the file reads and pixel decodes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.reads = 0
        self.decodes = 0
        self._digests: dict[tuple[str, int, int], str] = {}
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        self._lock = threading.Lock()
        self._file_locks: dict[tuple[str, int, int], threading.Lock] = {}
        self._held = 0

    def data_url(self, path: Path, crop_box: tuple[int, int, int, int] | None = None) -> str:
        """``data:`` URL of the image at ``path``: cropped to ``crop_box`` and PNG-encoded
        when a box is given, else the file's own bytes with their MIME type (PNG-encoded
        when Pillow reads a format not listed in ``MIME_BY_FORMAT``). ``PageError`` for
        an unreadable file or image and a box outside the page."""
        page = self._page(path)
        try:
            with page.lock:
                before = page.size
                if crop_box is not None:
                    url = _data_url("image/png", cropped_png(self._pixels(page), crop_box))
                else:
                    if page.url is None:
                        page.url = self._whole(page)
                    url = page.url
                grown = page.size - before
        except (OSError, UnidentifiedImageError) as exc:
            raise PageError(f"cannot read image {path}: {exc}") from exc
        except ValueError as exc:  # the crop box does not fit the page
            raise PageError(str(exc)) from exc
        self._account(grown)
        return url

    def ready_url(self, path: Path) -> str | None:
        """``data_url(path)`` (the whole page) when it is made already, else None; it
        never reads, decodes or waits for another thread's work."""
        try:
            key = _file_key(path)
        except OSError:
            return None
        with self._lock:
            page = self._cached(key)
        return page.url if page is not None else None

    def _page(self, path: Path) -> _Page:
        try:
            key = _file_key(path)
        except OSError as exc:
            raise PageError(f"cannot read image {path}: {exc}") from exc
        with self._lock:
            page = self._cached(key)
            if page is not None:
                return page
            file_lock = self._file_locks.setdefault(key, threading.Lock())
        with file_lock:  # one read per file, however many threads ask for it at once
            with self._lock:
                page = self._cached(key)
            if page is not None:
                return page
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise PageError(f"cannot read image {path}: {exc}") from exc
            digest = hashlib.sha256(data).hexdigest()
            with self._lock:
                self.reads += 1
                self._file_locks.pop(key, None)
                page = self._pages.get(digest) or _Page(data)
                if self.max_bytes > 0:
                    if digest not in self._pages:
                        self._pages[digest] = page
                        self._held += page.size
                    self._pages.move_to_end(digest)
                    self._digests[key] = digest
            return page

    def _cached(self, key: tuple[str, int, int]) -> _Page | None:
        digest = self._digests.get(key)
        if digest is None or digest not in self._pages:
            return None
        self._pages.move_to_end(digest)
        return self._pages[digest]

    def _pixels(self, page: _Page) -> Image.Image:
        if page.pixels is None:
            pixels = Image.open(io.BytesIO(page.data))  # in memory: nothing to close
            pixels.load()
            page.pixels = pixels
            with self._lock:
                self.decodes += 1
        return page.pixels

    def _whole(self, page: _Page) -> str:
        with Image.open(io.BytesIO(page.data)) as opened:
            if opened.format in MIME_BY_FORMAT:
                return _data_url(MIME_BY_FORMAT[opened.format], page.data)
        buffer = io.BytesIO()
        self._pixels(page).save(buffer, format="PNG")
        return _data_url("image/png", buffer.getvalue())

    def _account(self, grown: int) -> None:
        """Add what a page grew by; evict least recently used pages past ``max_bytes``."""
        with self._lock:
            self._held += grown
            while self._held > self.max_bytes and self._pages:
                digest, page = self._pages.popitem(last=False)
                self._held -= page.size
                for key in [k for k, d in self._digests.items() if d == digest]:
                    del self._digests[key]


def _file_key(path: Path) -> tuple[str, int, int]:
    """A file as the cache knows it: path, size, modification time (one ``stat``)."""
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


PAGES = PageCache()
"""The process's cache: an inference stage is one process per run."""
