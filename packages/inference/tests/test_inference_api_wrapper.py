"""The API wrapper's production surface through a real uvicorn server: file URLs and roots,
size limits, unsupported parameters, auth, load/unload, metrics, timing headers and a
backend that crashes mid-stream."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from vlmhb.core.contracts import GenerationParams, ModelSpec, PreparedSample
from vlmhb.core.metrics import scraped
from vlmhb.inference.backends.base import (
    Backend,
    Generation,
    GenerationRequest,
    StreamEnd,
)
from vlmhb.inference.backends.scripted import ScriptedBackend
from vlmhb.inference.client import InferenceClient
from vlmhb.inference.images import ImageData, ImagePolicy
from vlmhb.inference.launcher import free_port
from vlmhb.inference.server import (
    BACKEND_HEADER,
    LATENCY_HEADER,
    RESPONSE_FORMAT_HEADER,
    TTFT_HEADER,
    ServerConfig,
    create_app,
)

SPEC = ModelSpec(name="m1", backend="test", model="m1")


class RecordingBackend(Backend):
    """Answers "ok" and keeps every request it was given."""

    name = "recording"
    supports_response_format = True

    def __init__(self) -> None:
        super().__init__(SPEC)
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        return Generation("ok", 7, 1)


class CrashingBackend(Backend):
    """Streams two chunks, then fails, for sample id "crash"; answers others normally."""

    name = "crashing"

    def __init__(self) -> None:
        super().__init__(SPEC)

    async def generate(self, request: GenerationRequest) -> Generation:
        return Generation("fine answer", 2, 2)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | StreamEnd]:
        if request.sample_id != "crash":
            yield "fine"
            yield " answer"
            yield StreamEnd(11, 2, "length")
            return
        yield "partial"
        yield " answer"
        raise RuntimeError("GPU fell off the bus")


@contextmanager
def running(backend: Backend, **config: Any) -> Iterator[httpx.Client]:
    """The app for ``backend`` under uvicorn in a thread; a client with its base URL,
    returned once the backend is loaded (or failed)."""
    import threading

    import uvicorn

    port = free_port()
    app = create_app(backend, ServerConfig(**config))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    key = config.get("api_key")
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        while not server.started:
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            while http.get("/health").status_code == 503:
                time.sleep(0.02)
            yield http
    finally:
        server.should_exit = True
        thread.join()


def png_bytes(size: tuple[int, int] = (8, 8), noisy: bool = False) -> bytes:
    """A PNG; ``noisy`` ones hold random pixels, so they do not compress."""
    image = Image.effect_noise(size, 100).convert("RGB") if noisy else Image.new("RGB", size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_chat(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "m1",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                    {"type": "text", "text": "read it"},
                ],
            }
        ],
        **extra,
    }


def text_chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "m1", "messages": [{"role": "user", "content": text}], **extra}


def test_file_urls_are_read_inside_allowed_roots_only(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "doc.png").write_bytes(png_bytes((12, 10)))
    (outside / "secret.png").write_bytes(png_bytes())
    (root / "link.png").symlink_to(outside / "secret.png")
    backend = RecordingBackend()
    with running(backend, images=ImagePolicy((root,))) as http:
        good = http.post("/v1/chat/completions", json=image_chat((root / "doc.png").as_uri()))
        assert good.status_code == 200, good.text
        request = backend.requests[-1]
        assert request.images[0].size == (12, 10) and request.user == "read it"
        forwarded = request.messages[0]["content"][0]["image_url"]
        assert forwarded["url"].startswith("data:image/png;base64,")
        assert forwarded["detail"] == "high"
        for path in (outside / "secret.png", root / "link.png", root / ".." / "outside"):
            refused = http.post("/v1/chat/completions", json=image_chat(path.as_uri()))
            assert refused.status_code == 403, path
            assert "outside the allowed roots" in refused.json()["error"]["message"]
        missing = http.post("/v1/chat/completions", json=image_chat((root / "no.png").as_uri()))
        assert missing.status_code == 400
        assert "cannot read image file" in missing.json()["error"]["message"]
    with running(RecordingBackend()) as http:
        refused = http.post("/v1/chat/completions", json=image_chat((root / "doc.png").as_uri()))
        assert refused.status_code == 403
        assert "--allowed-root" in refused.json()["error"]["message"]


def test_oversized_images_get_413_naming_the_limit(tmp_path: Path) -> None:
    big = png_bytes((64, 64), noisy=True)
    assert len(big) > 2000
    (tmp_path / "big.png").write_bytes(big)
    data_url = "data:image/png;base64," + base64.b64encode(big).decode()
    with running(RecordingBackend(), images=ImagePolicy((tmp_path,), max_bytes=2000)) as http:
        for url in (data_url, (tmp_path / "big.png").as_uri()):
            response = http.post("/v1/chat/completions", json=image_chat(url))
            assert response.status_code == 413
            message = response.json()["error"]["message"]
            assert "limit of 2000 bytes" in message and "--max-image-bytes" in message
        small = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
        assert http.post("/v1/chat/completions", json=image_chat(small)).status_code == 200


def test_bad_requests_are_400_with_clear_messages() -> None:
    with running(RecordingBackend()) as http:
        n3 = http.post("/v1/chat/completions", json=text_chat(n=3))
        assert n3.status_code == 400
        assert n3.json()["error"]["message"].startswith("only n=1 is supported")
        assert n3.json()["error"]["param"] == "n"
        assert http.post("/v1/chat/completions", json=text_chat(n=1)).status_code == 200
        broken = http.post(
            "/v1/chat/completions",
            content=b'{"messages": [',
            headers={"content-type": "application/json"},
        )
        assert broken.status_code == 400
        assert "not valid JSON" in broken.json()["error"]["message"]
        missing = http.post("/v1/chat/completions", json={"model": "m1"})
        assert missing.status_code == 400
        assert "messages: Field required" in missing.json()["error"]["message"]
        remote = http.post("/v1/chat/completions", json=image_chat("https://x.org/a.png"))
        assert remote.status_code == 400
        assert "data:<mime>;base64" in remote.json()["error"]["message"]
        bad_format = http.post(
            "/v1/chat/completions", json=text_chat(response_format={"type": "yaml"})
        )
        assert bad_format.status_code == 400 and "response_format" in bad_format.text


class PixelFreeBackend(RecordingBackend):
    """A backend that never looks at pixels (as the scripted baselines)."""

    decode_images = False


def test_a_backend_that_needs_no_pixels_gets_images_checked_but_not_decoded(
    monkeypatch: Any,
) -> None:
    decoded: list[int] = []
    original = ImageData.decode

    def counting_decode(self: ImageData) -> Image.Image:
        decoded.append(1)
        return original(self)

    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), "white").save(buffer, format="JPEG")
    good = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    junk = "data:image/png;base64," + base64.b64encode(b"not an image at all").decode()
    backend = PixelFreeBackend()
    with running(backend) as http:
        monkeypatch.setattr(ImageData, "decode", counting_decode)
        assert http.post("/v1/chat/completions", json=image_chat(good)).status_code == 200
        assert decoded == [] and backend.requests[-1].images == []  # no pixel decoded
        refused = http.post("/v1/chat/completions", json=image_chat(junk))
        assert refused.status_code == 400  # still checked, from the header
        assert "does not hold a readable image" in refused.json()["error"]["message"]


def test_sampling_options_and_response_format_reach_the_backend() -> None:
    backend = RecordingBackend()
    with running(backend) as http:
        response = http.post(
            "/v1/chat/completions",
            json=text_chat(
                max_tokens=9,
                temperature=0.7,
                stop=["\n", "END"],
                response_format={"type": "json_object"},
            ),
        )
        assert response.status_code == 200
        assert RESPONSE_FORMAT_HEADER not in response.headers
        request = backend.requests[-1]
        assert (request.max_tokens, request.temperature, request.stop) == (9, 0.7, ["\n", "END"])
        assert request.response_format == {"type": "json_object"}
        assert backend.info()["response_format"] == "supported"
    scripted = ScriptedBackend(ModelSpec(name="s", backend="scripted", model="s"))
    with running(scripted) as http:
        response = http.post(
            "/v1/chat/completions", json=text_chat("a b", response_format={"type": "json_object"})
        )
        assert response.status_code == 200
        assert response.headers[RESPONSE_FORMAT_HEADER] == "ignored"
        info = http.get("/v1/models").json()["data"][0]["vlmhb"]
        assert info["response_format"] == "ignored"


def test_replies_carry_usage_and_wrapper_timings() -> None:
    with running(CrashingBackend()) as http:
        plain = http.post("/v1/chat/completions", json=text_chat())
        assert plain.json()["usage"] == {
            "prompt_tokens": 2,
            "completion_tokens": 2,
            "total_tokens": 4,
        }
        assert plain.json()["vlmhb_timings"]["server_latency_ms"] >= 0
        assert float(plain.headers[LATENCY_HEADER]) >= 0
        assert plain.headers[BACKEND_HEADER] == "crashing"
        streamed = http.post(
            "/v1/chat/completions",
            json=text_chat(stream=True, stream_options={"include_usage": True}),
        )
        assert float(streamed.headers[TTFT_HEADER]) >= 0
        events = [
            json.loads(line[6:])
            for line in streamed.text.splitlines()
            if line.startswith("data: {")
        ]
        assert events[-2]["choices"][0]["finish_reason"] == "length"
        assert events[-1]["usage"] == {
            "prompt_tokens": 11,
            "completion_tokens": 2,
            "total_tokens": 13,
        }
        assert set(events[-1]["vlmhb_timings"]) == {"server_ttft_ms", "server_latency_ms"}


async def test_crash_mid_stream_ends_with_error_event_and_server_stays_up() -> None:
    with running(CrashingBackend()) as http:
        raw = http.post(
            "/v1/chat/completions", json=text_chat(stream=True, metadata={"sample_id": "crash"})
        ).text
        assert "partial" in raw and "[DONE]" not in raw
        last = json.loads(raw.strip().splitlines()[-1][6:])
        assert "GPU fell off the bus" in last["error"]["message"]
        base = str(http.base_url).rstrip("/") + "/v1"
        async with InferenceClient(base, "m1", GenerationParams(retries=0)) as client:
            crashed = await client.infer(PreparedSample(id="crash", question="q", answer="a"))
            fine = await client.infer(PreparedSample(id="next", question="q", answer="a"))
        assert "GPU fell off the bus" in crashed.error and crashed.model_answer == ""
        assert fine.error == "" and fine.model_answer == "fine answer"
        assert http.get("/health").json() == {"status": "ok"}
        metrics = http.get("/metrics").text
        assert scraped(metrics)["vlmhb_request_errors_total"] == 2


def test_api_key_guards_every_endpoint_but_health() -> None:
    backend = RecordingBackend()
    with running(backend, api_key="s3cret-key") as http:
        anonymous = httpx.Client(base_url=http.base_url)
        assert anonymous.get("/health").status_code == 200
        for method, path in (
            ("GET", "/v1/models"),
            ("GET", "/metrics"),
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/model/unload"),
            ("GET", "/openapi.json"),
        ):
            response = anonymous.request(method, path, json=text_chat())
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "invalid_api_key"
            assert "missing API key" in response.json()["error"]["message"]
        wrong = anonymous.get("/v1/models", headers={"authorization": "Bearer guess-key"})
        assert wrong.status_code == 401
        assert "invalid API key" in wrong.text and "guess-key" not in wrong.text
        assert anonymous.get("/v1/models", headers={"x-api-key": "s3cret-key"}).status_code == 200
        assert http.post("/v1/chat/completions", json=text_chat()).status_code == 200
        assert backend.requests and len(backend.requests) == 1
        assert scraped(http.get("/metrics").text)["vlmhb_auth_failures_total"] == 6
        anonymous.close()


def test_unload_then_load_and_recovery_from_a_failed_load(tmp_path: Path) -> None:
    answers = tmp_path / "answers.csv"
    backend = ScriptedBackend(
        ModelSpec(name="s", backend="scripted", model="s", params={"answers_file": str(answers)})
    )
    with running(backend) as http:
        failed = http.get("/health")
        assert failed.status_code == 500 and "answers.csv" in failed.json()["error"]
        assert http.post("/v1/chat/completions", json=text_chat()).status_code == 503
        retry = http.post("/v1/model/load")
        assert retry.status_code == 500 and "model load failed" in retry.json()["error"]["message"]
        answers.write_text("id;model_answer\n1;from file\n", encoding="utf-8")
        assert http.post("/v1/model/load").json() == {"status": "ok"}
        assert http.get("/health").json() == {"status": "ok"}
        reply = http.post("/v1/chat/completions", json=text_chat(metadata={"sample_id": "1"}))
        assert reply.json()["choices"][0]["message"]["content"] == "from file"
        assert http.post("/v1/model/unload").json() == {"status": "unloaded"}
        health = http.get("/health")
        assert (health.status_code, health.json()) == (503, {"status": "unloaded"})
        refused = http.post("/v1/chat/completions", json=text_chat())
        assert refused.status_code == 503 and "unloaded" in refused.json()["error"]["message"]
        assert http.post("/v1/model/load").json() == {"status": "ok"}
        again = http.post("/v1/chat/completions", json=text_chat(metadata={"sample_id": "1"}))
        assert again.json()["choices"][0]["message"]["content"] == "from file"


def test_metrics_are_prometheus_text_with_statuses_and_histograms() -> None:
    with running(CrashingBackend()) as http:
        http.post("/v1/chat/completions", json=text_chat())
        http.post("/v1/chat/completions", json=text_chat(stream=True))
        http.post("/v1/chat/completions", json=text_chat(n=2))
        response = http.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        lines = response.text.splitlines()
        assert scraped(response.text)['vlmhb_responses_total{status="200"}'] == 2
        assert scraped(response.text)['vlmhb_responses_total{status="400"}'] == 1
        assert scraped(response.text)["vlmhb_requests_total"] == 3
        assert "# TYPE vlmhb_request_duration_seconds histogram" in lines
        assert scraped(response.text)['vlmhb_request_duration_seconds_bucket{le="+Inf"}'] == 3
        assert scraped(response.text)["vlmhb_request_duration_seconds_count"] == 3
        assert scraped(response.text)['vlmhb_time_to_first_token_seconds_bucket{le="+Inf"}'] == 1
        found = scraped(response.text)
        assert found["vlmhb_process_peak_rss_bytes"] > 0
        buckets = [v for k, v in found.items() if k.startswith("vlmhb_request_duration_seconds_b")]
        assert len(buckets) == 15 and buckets == sorted(buckets)
