"""The transformers backend end to end: a real model env, a real model, a real server.

The env is prepared exactly as a run prepares a model's env: ``ProcessEnvManager`` builds
(once, then reuses) a cached venv with ``torch`` and ``transformers`` installed by pip
(cache: ``VLMHB_ENV_CACHE_DIR`` or ``~/.cache/vlmhb/envs``). The core env of the tests
has no torch, so every torch call happens in subprocesses of that venv: building the tiny
LLaVA (``python -m vlmhb.inference.tiny_models``) and serving it (``python -m
vlmhb.inference.cli serve --backend transformers``). Requests go over HTTP from here.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from vlmhb.core.contracts import EnvSpec
from vlmhb.core.envs.process import ProcessEnvManager
from vlmhb.core.errors import VlmhbError
from vlmhb.inference.backends.transformers_backend import ENV_PACKAGES
from vlmhb.inference.launcher import free_port

START_LIMIT_S = 300
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def env_cache_dir() -> Path:
    return Path(os.environ.get("VLMHB_ENV_CACHE_DIR") or "~/.cache/vlmhb/envs").expanduser()


@pytest.fixture(scope="module")
def model_python() -> str:
    """Python of the cached model env with torch + transformers (pip installer)."""
    env = EnvSpec(kind="process", installer="pip", packages=list(ENV_PACKAGES))
    try:
        prepared = ProcessEnvManager(env_cache_dir()).prepare(env)
    except VlmhbError as exc:
        if "installing" in str(exc):
            pytest.skip(f"torch/transformers cannot be installed on this machine: {exc}")
        raise
    return prepared.python


def build_tiny(python: str, out: Path) -> Path:
    subprocess.run(
        [python, "-m", "vlmhb.inference.tiny_models", str(out)],
        check=True,
        env=OFFLINE,
        capture_output=True,
        text=True,
    )
    return out


@pytest.fixture(scope="module")
def tiny_llava(model_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(model_python, tmp_path_factory.mktemp("models") / "tiny-llava")


@pytest.fixture(scope="module")
def server(
    model_python: str, tiny_llava: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``vlmhb-api serve --backend transformers`` on a free loopback port, in the model env."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                model_python,
                "-m",
                "vlmhb.inference.cli",
                "serve",
                "--backend",
                "transformers",
                "--model",
                str(tiny_llava),
                "--port",
                str(port),
                "--param",
                "max_batch_size=8",
                "--param",
                "batch_wait_ms=50",
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=OFFLINE,
        )
    url = f"http://127.0.0.1:{port}"
    give_up = time.monotonic() + START_LIMIT_S
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"server exited ({process.returncode}):\n"
                        f"{log_path.read_text(errors='replace')}"
                    )
                try:
                    status = http.get("/health").status_code
                except httpx.TransportError:
                    status = 0
                if status == 200:
                    break
                if status == 500:
                    pytest.fail(f"model failed to load: {http.get('/health').text}")
                if time.monotonic() > give_up:  # a hang, not a speed check
                    pytest.fail(
                        f"server not healthy after {START_LIMIT_S} s:\n"
                        f"{log_path.read_text(errors='replace')}"
                    )
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def png_url(color: str = "white", text: str = "2024-05-17") -> str:
    image = Image.new("RGB", (120, 60), color)
    ImageDraw.Draw(image).text((5, 20), text, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def chat(question: str = "What is the date?", images: int = 1, **extra: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": png_url()}} for _ in range(images)
    ]
    parts.append({"type": "text", "text": question})
    return {
        "model": "tiny",
        "max_tokens": 24,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Answer with the field value only."},
            {"role": "user", "content": parts},
        ],
        **extra,
    }


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url + "/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return dict(response.json())


def answer(reply: dict[str, Any]) -> str:
    return str(reply["choices"][0]["message"]["content"])


def backend_info(url: str) -> dict[str, Any]:
    return dict(httpx.get(url + "/v1/models", timeout=10).json()["data"][0]["vlmhb"])


def test_tiny_llava_build_is_deterministic_and_small(
    model_python: str, tiny_llava: Path, tmp_path: Path
) -> None:
    again = build_tiny(model_python, tmp_path / "again")

    def digests(folder: Path) -> dict[str, str]:
        return {
            f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())
        }

    assert digests(again) == digests(tiny_llava)
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= set(
        digests(again)
    )
    assert sum(f.stat().st_size for f in again.iterdir()) < 1_000_000
    processor = json.loads((again / "processor_config.json").read_text())
    assert processor["num_additional_image_tokens"] == 1


def test_greedy_answer_is_deterministic_with_real_token_usage(server: str) -> None:
    first, second = post(server, chat()), post(server, chat())
    assert answer(first) and answer(first) == answer(second)
    usage = first["usage"]
    # 16 image tokens (56 px / 14 px patches) plus the templated text
    assert usage["prompt_tokens"] > 16 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert first["choices"][0]["finish_reason"] in {"stop", "length"}
    info = backend_info(server)
    assert info["backend"] == "transformers" and info["device"] == "cpu"
    assert info["torch"].startswith("2.13") and info["transformers"].startswith("5.")


def test_stream_gives_the_same_text_and_usage_as_the_plain_answer(server: str) -> None:
    plain = post(server, chat())
    body = chat(stream=True, stream_options={"include_usage": True})
    with httpx.stream("POST", server + "/v1/chat/completions", json=body, timeout=120) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [
            line.removeprefix("data: ") for line in resp.iter_lines() if line.startswith("data: ")
        ]
    assert events[-1] == "[DONE]"
    payloads = [json.loads(e) for e in events[:-1]]
    chunks = [p["choices"][0]["delta"].get("content", "") for p in payloads if p["choices"]]
    assert len([c for c in chunks if c]) > 1  # streamed in pieces, not one block
    assert "".join(chunks) == answer(plain)
    usage = [p["usage"] for p in payloads if p.get("usage")]
    assert usage == [plain["usage"]]


def test_max_tokens_and_stop_strings_cut_the_answer(server: str) -> None:
    long = post(server, chat(max_tokens=32))
    text = answer(long)
    short = post(server, chat(max_tokens=5))
    assert short["usage"]["completion_tokens"] <= 5
    if short["usage"]["completion_tokens"] == 5:
        assert short["choices"][0]["finish_reason"] == "length"
    assert text.startswith(answer(short))
    assert len(text) >= 6, "the tiny model answers 32 random tokens"
    stop = text[3:6]
    cut = post(server, chat(max_tokens=32, stop=[stop]))
    assert answer(cut) == text[: text.find(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert cut["usage"]["completion_tokens"] < long["usage"]["completion_tokens"]


def test_text_only_and_two_image_requests_are_served(server: str) -> None:
    text_only = post(server, chat(images=0))
    two = post(server, chat(images=2))
    assert answer(text_only) and answer(two)
    # each image adds its 16 image tokens and a newline to the prompt
    assert (
        two["usage"]["prompt_tokens"]
        > post(server, chat())["usage"]["prompt_tokens"]
        > text_only["usage"]["prompt_tokens"]
    )


def test_eight_concurrent_requests_are_batched_and_each_gets_its_own_answer(server: str) -> None:
    questions = [f"Question {i}: what is field {'x' * i}?" for i in range(8)]
    sequential = [post(server, chat(q, max_tokens=8 + i)) for i, q in enumerate(questions)]
    same = post(server, chat())
    before = backend_info(server)

    async def concurrently(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server, timeout=120) as http:
            responses = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=b) for b in bodies)
            )
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        return [r.json() for r in responses]

    mixed = asyncio.run(concurrently([chat(q, max_tokens=8 + i) for i, q in enumerate(questions)]))
    identical = asyncio.run(concurrently([chat() for _ in range(8)]))
    after = backend_info(server)

    assert after["batched_requests"] - before["batched_requests"] == 16
    assert after["largest_batch"] > 1
    grew = {
        size: n - before["batch_sizes"].get(size, 0) for size, n in after["batch_sizes"].items()
    }
    assert any(int(size) > 1 and n > 0 for size, n in grew.items()), grew
    # padding is not counted, per-request max_tokens hold inside a batch
    for i, (alone, batched) in enumerate(zip(sequential, mixed, strict=True)):
        assert batched["usage"]["prompt_tokens"] == alone["usage"]["prompt_tokens"]
        assert 0 < batched["usage"]["completion_tokens"] <= 8 + i
        assert answer(batched)
    # identical prompts need no padding: batched greedy answers equal the lone one
    assert [answer(r) for r in identical] == [answer(same)] * 8


def test_sampling_requests_are_served_beside_greedy_ones(server: str) -> None:
    async def mixed() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, timeout=120) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            "/v1/chat/completions",
                            json=chat(temperature=0.9 if i % 2 else 0, max_tokens=12),
                        )
                        for i in range(6)
                    )
                )
            )

    responses = asyncio.run(mixed())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    greedy = {answer(r.json()) for i, r in enumerate(responses) if i % 2 == 0}
    assert len(greedy) == 1  # greedy rows are unaffected by sampled rows nearby
    assert all(r.json()["usage"]["completion_tokens"] > 0 for r in responses)
