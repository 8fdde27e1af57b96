"""The async client against real servers: timings, usage, retries, crops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from vlmhb.core.contracts import GenerationParams, ModelSpec, PreparedSample
from vlmhb.inference.backends.base import (
    Backend,
    Generation,
    GenerationRequest,
    InvalidRequestError,
)
from vlmhb.inference.backends.scripted import ScriptedBackend
from vlmhb.inference.client import InferenceClient, tpot
from vlmhb.inference.images import encode_image
from vlmhb.inference.launcher import free_port
from vlmhb.inference.page_cache import PAGES

ServeFn = Callable[[Backend], AbstractContextManager[str]]
SPEC = ModelSpec(name="m", backend="test")


class SizeBackend(Backend):
    """Answers with the size of each image it got, e.g. ``20x10``."""

    async def generate(self, request: GenerationRequest) -> Generation:
        text = " ".join(f"{i.width}x{i.height}" for i in request.images)
        return Generation(text, 1, len(request.images))


class RejectingBackend(Backend):
    """Refuses every request as invalid (HTTP 400)."""

    async def generate(self, request: GenerationRequest) -> Generation:
        raise InvalidRequestError("needs an image")


def scripted(**params: Any) -> ScriptedBackend:
    return ScriptedBackend(ModelSpec(name="m", backend="scripted", params=params))


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        while (await http.get(url + "/health")).status_code != 200:
            pass


def client(url: str, **generation: Any) -> InferenceClient:
    return InferenceClient(
        url + "/v1", "m", GenerationParams(**generation), concurrency=4, backoff_s=0.01
    )


async def test_streaming_timings_and_usage(
    serve: ServeFn, samples_factory: Any, tmp_path: Path
) -> None:
    sample = samples_factory(tmp_path, 1)[0].model_copy(update={"user_prompt": "a b c d e"})
    with serve(scripted(ttft_ms=30, latency_ms=70)) as url:
        await wait_ready(url)
        async with client(url) as inference:
            result = await inference.infer(sample)
    assert result.error == "" and result.model_answer == "a b c d e"
    assert (result.prompt_tokens, result.completion_tokens, result.attempts) == (5, 5, 1)
    assert result.ttft_ms is not None and result.latency_ms is not None
    assert 30 <= result.ttft_ms <= result.latency_ms
    assert result.tpot_ms == pytest.approx((result.latency_ms - result.ttft_ms) / 4)
    # the wrapper's own TTFT: inside the client's, which starts sooner and ends later
    assert result.server_ttft_ms is not None and 30 <= result.server_ttft_ms <= result.ttft_ms


async def test_non_streaming_has_latency_but_no_ttft(
    serve: ServeFn, samples_factory: Any, tmp_path: Path
) -> None:
    sample = samples_factory(tmp_path, 1)[0]
    with serve(scripted()) as url:
        await wait_ready(url)
        async with client(url, stream=False) as inference:
            result = await inference.infer(sample)
    assert result.model_answer == "answer 0" and result.completion_tokens == 2
    assert result.ttft_ms is None and result.tpot_ms is None and result.latency_ms is not None


async def test_transient_errors_are_retried(
    serve: ServeFn, samples_factory: Any, tmp_path: Path
) -> None:
    sample = samples_factory(tmp_path, 1)[0]
    with serve(scripted(fail_first_n=2)) as url:
        await wait_ready(url)
        async with client(url, retries=3) as inference:
            result = await inference.infer(sample)
    assert (result.error, result.attempts, result.model_answer) == ("", 3, "answer 0")


async def test_a_sample_that_keeps_failing_becomes_an_error(
    serve: ServeFn, samples_factory: Any, tmp_path: Path
) -> None:
    sample = samples_factory(tmp_path, 1)[0]
    with serve(scripted(fail_ids=["0"])) as url:
        await wait_ready(url)
        async with client(url, retries=2) as inference:
            result = await inference.infer(sample)
    assert result.attempts == 3 and result.model_answer == ""
    assert result.error.startswith("HTTP 500") and "fail_ids" in result.error


async def test_client_errors_are_not_retried(serve: ServeFn, tmp_path: Path) -> None:
    sample = PreparedSample(id="t", user_prompt="no image")
    with serve(RejectingBackend(SPEC)) as url:
        await wait_ready(url)
        async with client(url, retries=3) as inference:
            result = await inference.infer(sample)
    assert result.attempts == 1 and result.error == "HTTP 400: needs an image"


async def test_connection_errors_are_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with client(url, retries=2) as inference:
        result = await inference.infer(PreparedSample(id="c", user_prompt="x"))
    assert result.attempts == 3 and result.error.startswith("connection error")


async def test_crop_box_is_applied_before_sending(
    serve: ServeFn, samples_factory: Any, tmp_path: Path
) -> None:
    cropped = samples_factory(tmp_path, 1, size=(64, 32), crop_box=(10, 5, 30, 15))[0]
    full = cropped.model_copy(update={"crop_box": None})
    outside = cropped.model_copy(update={"id": "bad", "crop_box": (10, 5, 300, 15)})
    with serve(SizeBackend(SPEC)) as url:
        await wait_ready(url)
        async with client(url) as inference:
            assert (await inference.infer(cropped)).model_answer == "20x10"
            assert (await inference.infer(full)).model_answer == "64x32"
            bad = await inference.infer(outside)
    assert bad.error.startswith("bad input: crop box") and bad.attempts == 0


def test_tpot_definition() -> None:
    assert tpot(100.0, 20.0, 5) == 20.0
    assert tpot(100.0, 20.0, 1) is None
    assert tpot(100.0, None, 5) is None


async def test_encoded_bodies_are_the_json_of_the_payload(
    samples_factory: Any, tmp_path: Path
) -> None:
    """The page URL copied into the body gives the very bytes of encoding it as JSON,
    whether the page was made in a worker thread or taken ready on the event loop."""
    whole = samples_factory(tmp_path / "w", 1, size=(64, 32))[0]
    crop = samples_factory(tmp_path / "c", 1, size=(64, 32), crop_box=(10, 5, 30, 15))[0]
    quoted = PreparedSample(
        id='q"1', system_prompt='Ответь "кратко"\n\\', user_prompt="Текст\t<b>", question="?"
    )
    inference = client("http://127.0.0.1:1", stream=True)
    for sample in (whole, crop, quoted, whole.model_copy(update={"system_prompt": "be brief"})):
        expected = json.dumps(inference.payload(sample), separators=(",", ":")).encode()
        assert inference.encoded(sample) == expected
        assert json.loads(inference.encoded(sample)) == inference.payload(sample)
        assert await inference._body(sample) == expected
    assert whole.image_path is not None
    assert PAGES.ready_url(whole.image_path) is not None  # the second _body took it ready


async def test_questions_about_one_page_share_one_worker_thread_call(
    samples_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = samples_factory(tmp_path, 1, size=(640, 480))[0]
    questions = [page.model_copy(update={"id": f"q{i}"}) for i in range(16)]
    calls: list[tuple[Any, ...]] = []

    def counted(*args: Any) -> str:
        calls.append(args)
        return encode_image(*args)

    monkeypatch.setattr("vlmhb.inference.client.encode_image", counted)
    inference = client("http://127.0.0.1:1", stream=True)
    bodies = await asyncio.gather(*(inference._body(q) for q in questions))
    assert len(calls) == 1  # made once, in one thread, while 16 questions waited
    await inference._body(questions[0])
    assert len(calls) == 1  # now taken ready
    for question, body in zip(questions, bodies, strict=True):
        assert json.loads(body) == inference.payload(question)
