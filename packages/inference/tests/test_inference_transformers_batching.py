"""Batching and row decoding of the transformers backend, without torch.

``Batcher`` and ``RowState`` are torch-free: here they run with a fake ``run_batch`` and a
fake tokenizer (one character per token id), so their logic is checked in the core env.
The real model is exercised in ``test_inference_transformers_e2e.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from PIL import Image

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.registry import Registry
from vlmhb.inference.backends.base import Backend, BackendError, Generation, GenerationRequest
from vlmhb.inference.backends.batching import Batcher, Job, RowState
from vlmhb.inference.backends.transformers_backend import (
    TransformersBackend,
    batch_key,
    build_messages,
)

EOS = 0


def decode(tokens: list[int]) -> str:
    """Fake tokenizer: token id n is the character chr(n)."""
    return "".join(chr(token) for token in tokens)


def ids(text: str) -> list[int]:
    return [ord(char) for char in text]


def row(max_tokens: int = 100, stops: list[str] | None = None) -> tuple[RowState, list[str]]:
    emitted: list[str] = []
    state = RowState(
        decode=decode,
        eos_ids=frozenset({EOS}),
        max_tokens=max_tokens,
        stops=stops or [],
        emit=emitted.append,
    )
    return state, emitted


# --- RowState ---------------------------------------------------------------------------
def test_row_stops_at_eos_counts_it_and_streams_all_text() -> None:
    state, emitted = row()
    assert [state.add(t) for t in ids("abc")] == [False, False, False]
    assert state.add(EOS) is True
    assert (state.text, state.finish_reason, state.completion_tokens) == ("abc", "stop", 4)
    assert "".join(emitted) == "abc" and emitted == ["a", "b", "c"]
    assert state.add(ord("z")) is True and state.text == "abc"  # padding after the end


def test_row_stops_at_max_tokens_with_length_reason() -> None:
    state, emitted = row(max_tokens=3)
    done = [state.add(t) for t in ids("abcdef")]
    assert done == [False, False, True, True, True, True]
    assert (state.text, state.finish_reason, state.completion_tokens) == ("abc", "length", 3)
    assert "".join(emitted) == "abc"


def test_row_cuts_at_first_stop_string_and_never_streams_part_of_it() -> None:
    state, emitted = row(stops=["END", "\n\n"])
    for token in ids("value: 42 EN"):
        assert state.add(token) is False
    assert "".join(emitted) == "value: 42 "  # "EN" held back: it may start "END"
    assert state.add(ord("D")) is True
    assert (state.text, state.finish_reason) == ("value: 42 ", "stop")
    assert "".join(emitted) == "value: 42 "


def test_row_releases_held_back_text_when_the_stop_does_not_come() -> None:
    state, emitted = row(stops=["END"])
    for token in ids("ENDX"[:2] + "Xyz"):
        state.add(token)
    assert "".join(emitted) == "ENX"
    state.close()
    assert state.text == "ENXyz" and "".join(emitted) == "ENXyz"
    assert state.finish_reason == "length"


def test_row_holds_back_an_incomplete_character() -> None:
    pieces = {1: "a", 2: "\ufffd"}

    def partial_decode(tokens: list[int]) -> str:
        # token 3 completes the character that token 2 began
        return "".join("ж" if t == 3 else pieces.get(t, "") for t in tokens).replace("\ufffdж", "ж")

    emitted: list[str] = []
    state = RowState(
        decode=partial_decode, eos_ids=frozenset({EOS}), max_tokens=10, emit=emitted.append
    )
    state.add(1)
    state.add(2)
    assert emitted == ["a"]
    state.add(3)
    assert "".join(emitted) == "aж"


def test_cancelled_row_finishes_without_more_text() -> None:
    cancelled = threading.Event()
    emitted: list[str] = []
    state = RowState(
        decode=decode,
        eos_ids=frozenset({EOS}),
        max_tokens=10,
        emit=emitted.append,
        cancelled=cancelled.is_set,
    )
    state.add(ord("a"))
    cancelled.set()
    assert state.add(ord("b")) is True
    assert state.finish_reason == "cancelled" and "".join(emitted) == "a"


# --- Batcher ----------------------------------------------------------------------------
def echo_batches(log: list[list[str]], fail_on: str | None = None) -> Callable[[list[Job]], None]:
    """A fake ``run_batch``: answers each request with its upper-cased user text."""

    def run(jobs: list[Job]) -> None:
        log.append([job.request.user for job in jobs])
        if fail_on is not None and any(job.request.user == fail_on for job in jobs):
            raise BackendError(f"cannot process {fail_on!r}")
        for job in jobs:
            text = job.request.user.upper()
            for char in text:
                job.deliver(char)
            job.finish(Generation(text, len(job.request.user), len(text)))

    return run


def request(text: str, temperature: float = 0.0) -> GenerationRequest:
    return GenerationRequest(user=text, temperature=temperature)


async def _run_concurrently(
    batcher: Batcher, requests: list[GenerationRequest]
) -> list[Generation]:
    batcher.start()
    try:
        jobs = [batcher.submit(r, batch_key(r)) for r in requests]
        return list(await asyncio.gather(*(job.result() for job in jobs)))
    finally:
        await batcher.close()


def test_concurrent_requests_share_batches_up_to_the_limit() -> None:
    log: list[list[str]] = []
    batcher = Batcher(echo_batches(log), max_batch_size=4, window_s=0.05)
    texts = [f"q{i}" for i in range(10)]
    results = asyncio.run(_run_concurrently(batcher, [request(t) for t in texts]))
    assert [r.text for r in results] == [t.upper() for t in texts]
    assert [len(b) for b in log] == [4, 4, 2]
    assert sorted(text for batch in log for text in batch) == sorted(texts)
    stats = batcher.stats()
    assert stats == {
        "batches": 3,
        "batched_requests": 10,
        "largest_batch": 4,
        "batch_sizes": {"2": 1, "4": 2},
    }


def test_requests_with_different_sampling_never_share_a_batch() -> None:
    log: list[list[str]] = []
    batcher = Batcher(echo_batches(log), max_batch_size=8, window_s=0.05)
    requests = [request("g1"), request("s1", 0.7), request("g2"), request("s2", 0.7)]
    results = asyncio.run(_run_concurrently(batcher, requests))
    assert [r.text for r in results] == ["G1", "S1", "G2", "S2"]
    assert sorted(sorted(b) for b in log) == [["g1", "g2"], ["s1", "s2"]]


def test_failing_request_in_a_batch_fails_only_itself() -> None:
    log: list[list[str]] = []
    batcher = Batcher(echo_batches(log, fail_on="bad"), max_batch_size=8, window_s=0.05)

    async def scenario() -> list[object]:
        batcher.start()
        try:
            jobs = [batcher.submit(request(t)) for t in ("ok1", "bad", "ok2")]
            return list(await asyncio.gather(*(j.result() for j in jobs), return_exceptions=True))
        finally:
            await batcher.close()

    ok1, bad, ok2 = asyncio.run(scenario())
    assert isinstance(ok1, Generation) and ok1.text == "OK1"
    assert isinstance(ok2, Generation) and ok2.text == "OK2"
    assert isinstance(bad, BackendError) and "bad" in str(bad)
    assert log[0] == ["ok1", "bad", "ok2"] and sorted(log[1:]) == [["bad"], ["ok1"], ["ok2"]]


def test_streamed_chunks_arrive_in_order_and_end_with_the_generation() -> None:
    batcher = Batcher(echo_batches([]), max_batch_size=2, window_s=0.0)

    async def scenario() -> tuple[list[str], Generation | None]:
        batcher.start()
        try:
            job = batcher.submit(request("stream me"))
            chunks = [chunk async for chunk in job.chunks()]
            return chunks, job.generation
        finally:
            await batcher.close()

    chunks, generation = asyncio.run(scenario())
    assert "".join(chunks) == "STREAM ME" and len(chunks) == len("STREAM ME")
    assert generation is not None and generation.completion_tokens == 9


def test_a_batch_that_answers_nobody_fails_its_jobs_instead_of_hanging() -> None:
    batcher = Batcher(lambda jobs: None, max_batch_size=2, window_s=0.0)
    with pytest.raises(RuntimeError, match="without an answer"):
        asyncio.run(_run_concurrently(batcher, [request("x")]))


def test_submit_before_start_is_an_error() -> None:
    async def scenario() -> None:
        Batcher(echo_batches([])).submit(request("x"))

    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(scenario())


# --- backend pieces that need no torch ----------------------------------------------------
def test_messages_follow_the_hugging_face_multimodal_format() -> None:
    images = [Image.new("RGB", (4, 4)), Image.new("RGB", (4, 4))]
    messages = build_messages(GenerationRequest(system="be brief", user="date?", images=images))
    assert messages == [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "date?"}],
        },
    ]
    assert build_messages(GenerationRequest(user="hi")) == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    ]


def test_batch_key_separates_greedy_sampling_and_image_requests() -> None:
    image = [Image.new("RGB", (4, 4))]
    assert batch_key(request("a")) == batch_key(request("b"))
    assert batch_key(request("a")) != batch_key(request("a", 0.5))
    assert batch_key(request("a")) != batch_key(GenerationRequest(user="a", images=image))


def spec(**params: object) -> ModelSpec:
    return ModelSpec(
        name="tiny", backend="transformers", model_path="/nonexistent/model", params=dict(params)
    )


def test_backend_is_registered_and_validates_params() -> None:
    assert Registry[type[Backend]]("model").get("transformers") is TransformersBackend
    backend = TransformersBackend(spec(max_batch_size=4, dtype="bfloat16"))
    assert backend.info()["max_batch_size"] == 4 and backend.info()["batches"] == 0
    with pytest.raises(ValueError, match="dtype"):
        TransformersBackend(spec(dtype="int3"))
    with pytest.raises(ValueError, match="max_batch_size"):
        TransformersBackend(spec(max_batch_size=0))
    with pytest.raises(ValueError, match="model_path"):
        TransformersBackend(ModelSpec(name="x", backend="transformers"))


def test_missing_model_folder_fails_to_load_with_a_clear_error() -> None:
    with pytest.raises(BackendError, match="does not exist"):
        asyncio.run(TransformersBackend(spec()).load())
