"""The API wrapper over the scripted backend, through a real uvicorn server."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
from PIL import Image

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.metrics import scraped
from vlmhb.inference.backends.base import Backend
from vlmhb.inference.backends.scripted import ScriptedBackend
from vlmhb.inference.server import LATENCY_HEADER

ServeFn = Callable[[Backend], AbstractContextManager[str]]


def scripted(**params: Any) -> ScriptedBackend:
    return ScriptedBackend(
        ModelSpec(name="scripted", backend="scripted", model="m1", params=params)
    )


def png_url(size: tuple[int, int] = (8, 8)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def chat(text: str, sample_id: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "model": "m1",
        "metadata": {"sample_id": sample_id},
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": png_url()}},
                    {"type": "text", "text": text},
                ],
            },
        ],
        **extra,
    }


def wait_healthy(http: httpx.Client) -> None:
    while http.get("/health").status_code != 200:
        time.sleep(0.05)


def test_non_stream_completion_has_usage_and_latency_header(serve: ServeFn) -> None:
    with serve(scripted()) as url, httpx.Client(base_url=url) as http:
        wait_healthy(http)
        response = http.post("/v1/chat/completions", json=chat("серия 4510 номер"))
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "chat.completion" and body["model"] == "m1"
        assert body["choices"][0]["message"] == {"role": "assistant", "content": "серия 4510 номер"}
        assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        assert float(response.headers[LATENCY_HEADER]) >= 0


def test_stream_sends_sse_chunks_usage_and_done(serve: ServeFn) -> None:
    with serve(scripted(ttft_ms=5, latency_ms=10)) as url, httpx.Client(base_url=url) as http:
        wait_healthy(http)
        response = http.post(
            "/v1/chat/completions",
            json=chat("a b c", stream=True, stream_options={"include_usage": True}),
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == "a b c"
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_stream_without_include_usage_has_no_usage_chunk(serve: ServeFn) -> None:
    with serve(scripted()) as url, httpx.Client(base_url=url) as http:
        wait_healthy(http)
        text = http.post("/v1/chat/completions", json=chat("x", stream=True)).text
        assert "usage" not in text and text.rstrip().endswith("data: [DONE]")


def test_backend_failure_is_openai_style_500(serve: ServeFn) -> None:
    with serve(scripted(fail_ids=["9"])) as url, httpx.Client(base_url=url) as http:
        wait_healthy(http)
        for stream in (False, True):
            response = http.post("/v1/chat/completions", json=chat("x", "9", stream=stream))
            assert response.status_code == 500
            assert "fail_ids" in response.json()["error"]["message"]
        metrics = http.get("/metrics").text
        assert scraped(metrics)["vlmhb_requests_total"] == 2
        assert scraped(metrics)["vlmhb_request_errors_total"] == 2
        assert "vlmhb_process_peak_rss_bytes" in metrics


def test_bad_bodies_get_400_with_a_clear_message(serve: ServeFn) -> None:
    with serve(scripted()) as url, httpx.Client(base_url=url) as http:
        wait_healthy(http)
        missing = http.post("/v1/chat/completions", json={"model": "m1"})
        assert missing.status_code == 400
        assert "messages" in missing.json()["error"]["message"]
        not_json = http.post(
            "/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400
        bad_image = chat("x")
        bad_image["messages"][1]["content"][0]["image_url"]["url"] = "data:image/png;base64,AAAA"
        response = http.post("/v1/chat/completions", json=bad_image)
        assert response.status_code == 400
        assert "readable image" in response.json()["error"]["message"]
        remote = chat("x")
        remote["messages"][1]["content"][0]["image_url"]["url"] = "http://example.com/a.png"
        assert (
            "data:<mime>;base64"
            in http.post("/v1/chat/completions", json=remote).json()["error"]["message"]
        )


def test_health_is_503_while_loading_then_ok(serve: ServeFn) -> None:
    with serve(scripted(load_delay_s=0.5)) as url, httpx.Client(base_url=url) as http:
        first = http.get("/health")
        assert (first.status_code, first.json()) == (503, {"status": "loading"})
        assert http.post("/v1/chat/completions", json=chat("x")).status_code == 503
        wait_healthy(http)
        assert http.get("/health").json() == {"status": "ok"}
        model = http.get("/v1/models").json()["data"][0]
        assert model["id"] == "m1" and model["vlmhb"]["backend"] == "scripted"


def test_health_reports_a_failed_load(serve: ServeFn, tmp_path: Any) -> None:
    with (
        serve(scripted(answers_file=str(tmp_path / "missing.csv"))) as url,
        httpx.Client(base_url=url) as http,
    ):
        response = http.get("/health")
        while response.status_code == 503:
            response = http.get("/health")
        assert response.status_code == 500
        assert "missing.csv" in response.json()["error"]
