"""Scripted backend behaviour (called directly, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.backends.base import (
    BackendError,
    GenerationRequest,
    apply_limits,
    split_chunks,
)
from vlmhb.inference.backends.scripted import ScriptedBackend, add_noise


def backend(**params: object) -> ScriptedBackend:
    return ScriptedBackend(ModelSpec(name="s", backend="scripted", params=params))


def request(sample_id: str, user: str = "hello there", **kw: object) -> GenerationRequest:
    return GenerationRequest(user=user, metadata={"sample_id": sample_id}, **kw)  # type: ignore[arg-type]


async def test_answers_file_by_id_column(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("\ufeffid;model_answer\na7;Иванов\nb2;Пётр Петрович\n", encoding="utf-8")
    scripted = backend(answers_file=str(path))
    await scripted.load()
    result = await scripted.generate(request("b2"))
    assert (result.text, result.completion_tokens) == ("Пётр Петрович", 2)
    with pytest.raises(BackendError, match="no scripted answer"):
        await scripted.generate(request("zz"))


async def test_answers_file_by_row_number_and_custom_column(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("question;answer\nq;первый\nq;второй\n", encoding="utf-8")
    scripted = backend(answers_file=str(path), answer_column="answer", rule="constant:?")
    await scripted.load()
    assert (await scripted.generate(request("1"))).text == "второй"
    assert (await scripted.generate(request("5"))).text == "?"


async def test_echo_is_the_default_rule_and_stop_and_max_tokens_apply() -> None:
    scripted = backend()
    assert (await scripted.generate(request("1", "a b c"))).text == "a b c"
    cut = await scripted.generate(request("1", "a b c d", max_tokens=2))
    assert (cut.text, cut.finish_reason) == ("a b", "length")
    assert (await scripted.generate(request("1", "one. two", stop=["."]))).text == "one"


def test_noise_is_deterministic_per_sample_and_scales_with_probability() -> None:
    text = "ПАСПОРТ РОССИЙСКОЙ ФЕДЕРАЦИИ" * 10
    assert add_noise(text, 0.3, "7") == add_noise(text, 0.3, "7")
    assert add_noise(text, 0.3, "7") != add_noise(text, 0.3, "8")
    assert add_noise(text, 0.0, "7") == text
    changed = sum(a != b for a, b in zip(text, add_noise(text, 0.3, "7"), strict=True))
    assert 0.15 * len(text) < changed < 0.45 * len(text)


async def test_fail_ids_and_fail_first_n() -> None:
    scripted = backend(fail_ids=["bad"], fail_first_n=2)
    for _ in range(2):
        with pytest.raises(BackendError, match="fail_first_n"):
            await scripted.generate(request("x"))
    assert (await scripted.generate(request("x"))).text == "hello there"
    for _ in range(4):
        with pytest.raises(BackendError, match="fail_ids"):
            await scripted.generate(request("bad"))


async def test_stream_chunks_rebuild_the_answer_and_request_log(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    scripted = backend(request_log=str(log), ttft_ms=1, latency_ms=3)
    chunks = [c async for c in scripted.stream(request("s1", "раз два  три"))]
    assert chunks == ["раз ", "два  ", "три"]
    await scripted.generate(request("s2"))
    assert log.read_text().split() == ["s1", "s2"]


def test_bad_params_are_rejected() -> None:
    with pytest.raises(ValueError, match="noise"):
        backend(noise=2)
    with pytest.raises(ValueError, match="unknown rule"):
        backend(rule="reverse")
    with pytest.raises(ValueError, match="latency_ms"):
        backend(latency_ms="fast")
    with pytest.raises(ValueError, match="latency"):  # a typo is no longer ignored
        backend(latency=40)


async def test_a_missing_answers_file_is_a_clear_load_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"answers_file .*nope\.csv does not exist"):
        await backend(answers_file=str(tmp_path / "nope.csv")).load()


def test_helpers() -> None:
    assert split_chunks("") == []
    assert "".join(split_chunks(" a  b c ")) == " a  b c "
    assert apply_limits("x y", GenerationRequest(max_tokens=5)) == ("x y", "stop")
