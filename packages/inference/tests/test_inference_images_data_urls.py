"""``data:`` image URLs: the header check of a non-decoding backend (base64 checked in one
pass, only the head decoded) judges every URL as the full strict decode does."""

from __future__ import annotations

import base64
import binascii
import io
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from PIL import Image, PngImagePlugin

from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.backends.scripted import ScriptedBackend
from vlmhb.inference.images import HEAD_CHARS, ImageError, ImagePolicy, read_image_url
from vlmhb.inference.launcher import free_port
from vlmhb.inference.server import ServerConfig, create_app

BAD_CHARS = "!*-_.~ \n\t=é"


def encoded(image: Image.Image, fmt: str, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def noise_image(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def sample_images(rng: random.Random) -> Iterator[bytes]:
    """PNGs and JPEGs small and large, some with headers longer than ``HEAD_CHARS``."""
    for size in ((1, 1), (7, 3), (64, 48), (300, 200)):
        yield encoded(noise_image(rng, size), "PNG")
        yield encoded(noise_image(rng, size), "JPEG", quality=90)
    text = PngImagePlugin.PngInfo()
    text.add_text("comment", "x" * (HEAD_CHARS * 2))  # a tEXt chunk before IDAT
    yield encoded(noise_image(rng, (40, 30)), "PNG", pnginfo=text)
    yield encoded(noise_image(rng, (40, 30)), "JPEG", comment=b"y" * HEAD_CHARS)
    yield rng.randbytes(5000)  # valid base64, no image
    yield b""


def mutations(rng: random.Random, payload: str) -> Iterator[str]:
    """``payload`` itself, and copies broken (or not) in the ways a client can break it."""
    yield payload
    for where in (0, len(payload) // 2, max(len(payload) - 1, 0), rng.randrange(len(payload) + 1)):
        yield payload[:where] + rng.choice(BAD_CHARS) + payload[where:]
    if payload:
        yield payload[:-1]  # a character short
        yield payload.rstrip("=")  # padding stripped
        cut = rng.randrange(len(payload)) // 4 * 4
        yield payload[:cut]  # whole quads: valid base64 of a truncated file
    yield payload + "="
    yield payload + "=="
    yield payload + "AAAA"
    yield "=" + payload


def full_decode_verdict(url: str, max_bytes: int) -> str:
    """What the wrapper answered when it decoded every image in full: the strict decode,
    then the size limit, then Pillow on all the bytes."""
    payload = url.partition(",")[2]
    if len(payload) * 3 // 4 > max_bytes + 2:
        return "413"
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"400 image data URL is not valid base64: {exc}"
    if len(data) > max_bytes:
        return "413"
    try:
        with Image.open(io.BytesIO(data)) as image:
            assert image.width >= 1 and image.height >= 1
    except Exception:
        return "400 unreadable"
    return "ok"


def header_check_verdict(url: str, max_bytes: int) -> str:
    try:
        read_image_url(url, ImagePolicy(max_bytes=max_bytes)).check()
    except ImageError as exc:
        if exc.status_code == 413:
            return "413"
        message = str(exc)
        return "400 unreadable" if "readable image" in message else f"400 {message}"
    return "ok"


def test_the_header_check_agrees_with_the_full_decode_on_generated_urls() -> None:
    rng = random.Random(20240611)
    verdicts: set[str] = set()
    cases = 0
    for data in sample_images(rng):
        for payload in mutations(rng, base64.b64encode(data).decode()):
            url = "data:image/png;base64," + payload
            decoded_size = len(payload) * 3 // 4
            for max_bytes in (decoded_size + 10, decoded_size, max(decoded_size - 1, 0)):
                expected = full_decode_verdict(url, max_bytes)
                assert header_check_verdict(url, max_bytes) == expected, (payload[:40], max_bytes)
                if expected == "ok":
                    decoded = read_image_url(url, ImagePolicy(max_bytes=max_bytes)).data
                    assert decoded == base64.b64decode(payload, validate=True)
                verdicts.add(expected.split(":")[0])
                cases += 1
    assert cases > 400
    assert {"ok", "413", "400 unreadable", "400 image data URL is not valid base64"} <= verdicts


@contextmanager
def serving(max_bytes: int) -> Iterator[str]:
    """The scripted backend (which decodes no pixel) under uvicorn, images up to
    ``max_bytes``; yields its URL once loaded."""
    backend = ScriptedBackend(
        ModelSpec(name="scripted", backend="scripted", model="m1", params={"rule": "echo"})
    )
    assert backend.decode_images is False
    app = create_app(backend, ServerConfig(images=ImagePolicy(max_bytes=max_bytes)))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        while not server.started:
            assert thread.is_alive(), "the test server died during startup"
            time.sleep(0.02)
        while httpx.get(f"{url}/health").status_code != 200:
            time.sleep(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join()


def post_image(url: str, image_url: str) -> httpx.Response:
    content = [
        {"type": "image_url", "image_url": {"url": image_url}},
        {"type": "text", "text": "q"},
    ]
    body = {"model": "m1", "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10)


def test_a_non_decoding_backend_checks_base64_size_and_header_over_http() -> None:
    rng = random.Random(7)
    data = encoded(noise_image(rng, (300, 200)), "JPEG")
    payload = base64.b64encode(data).decode()
    assert len(payload) > 4 * HEAD_CHARS
    middle, inner = len(payload) // 2, HEAD_CHARS * 2
    broken = {
        "start": "!" + payload[1:],
        "middle": payload[:middle] + "*" + payload[middle + 1 :],
        "end": payload[:-1] + "-",
        "bad padding": payload.rstrip("=") + "===",
        "inner padding": payload[:inner] + "=" + payload[inner + 1 :],
        "short": payload.rstrip("=")[:-1],
        "not ascii": payload[:middle] + "é" + payload[middle + 1 :],
    }
    with serving(max_bytes=len(data)) as url:
        assert post_image(url, "data:image/jpeg;base64," + payload).status_code == 200
        for where, bad in broken.items():
            response = post_image(url, "data:image/jpeg;base64," + bad)
            assert response.status_code == 400, where
            assert "not valid base64" in response.json()["error"]["message"], where
        junk = base64.b64encode(rng.randbytes(len(data))).decode()
        response = post_image(url, "data:image/jpeg;base64," + junk)
        assert response.status_code == 400
        assert "does not hold a readable image" in response.json()["error"]["message"]
    with serving(max_bytes=len(data) - 1) as url:
        response = post_image(url, "data:image/jpeg;base64," + payload)
        assert response.status_code == 413
        assert f"over the limit of {len(data) - 1} bytes" in response.json()["error"]["message"]
