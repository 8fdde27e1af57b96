"""The ``vllm``/``sglang`` backends' launcher and proxy. vLLM and SGLang need a GPU, so the
engine here is a stand-in: ``openai_standin.py`` run as a subprocess through the
``command`` param, speaking the OpenAI API like the real engines' servers."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from vlmhb.core.childproc import ChildStartError
from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.backends.base import Backend, GenerationRequest
from vlmhb.inference.backends.engine import (
    EngineBackend,
    SglangBackend,
    VllmBackend,
    engine_arguments,
    masked,
)

ServeFn = Callable[[Backend], AbstractContextManager[str]]
STANDIN = str(Path(__file__).with_name("openai_standin.py"))


def gone(pid: int) -> bool:
    """No such process, or only its zombie entry is left."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def engine(backend: type[EngineBackend], *extra: str, **params: Any) -> EngineBackend:
    command = [
        sys.executable,
        STANDIN,
        "--port",
        "{port}",
        "--model",
        "{served_model_name}",
        *extra,
    ]
    return backend(
        ModelSpec(
            name="engine-test",
            backend=backend.name,
            model="served-vlm",
            model_path="/models/vlm",
            startup_timeout_s=30,
            params={"command": command, **params},
        )
    )


def wait_health(http: httpx.Client) -> httpx.Response:
    response = http.get("/health")
    while response.status_code == 503:
        time.sleep(0.05)
        response = http.get("/health")
    return response


def test_engine_runs_proxies_and_leaves_no_process_behind(serve: ServeFn, tmp_path: Path) -> None:
    argv_file, child_file = tmp_path / "argv.json", tmp_path / "child.pid"
    backend = engine(
        VllmBackend,
        "--argv-file",
        str(argv_file),
        "--spawn-child",
        str(child_file),
        engine_args={
            "max_model_len": 4096,
            "enforce_eager": True,
            "limit_mm_per_prompt": {"image": 2},
            "quantization": None,
        },
    )
    body = {"model": "engine-test", "messages": [{"role": "user", "content": "red green"}]}
    with serve(backend) as url, httpx.Client(base_url=url) as http:
        assert wait_health(http).status_code == 200
        plain = http.post("/v1/chat/completions", json=body).json()
        assert plain["choices"][0]["message"]["content"] == "red green"
        assert plain["usage"]["total_tokens"] == 4
        streamed = http.post("/v1/chat/completions", json={**body, "stream": True}).text
        events = [
            json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")
        ]
        assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == "red green"
        assert streamed.rstrip().endswith("data: [DONE]")
        info = http.get("/v1/models").json()["data"][0]["vlmhb"]
        assert info["backend"] == "vllm" and info["response_format"] == "supported"
        engine_pid, child_pid = info["engine_pid"], int(child_file.read_text())
        assert not gone(engine_pid) and not gone(child_pid)
    argv = json.loads(argv_file.read_text())
    assert argv[argv.index("--model") + 1] == "served-vlm"
    assert argv[-5:] == [
        "--max-model-len",
        "4096",
        "--enforce-eager",
        "--limit-mm-per-prompt",
        '{"image": 2}',
    ]
    assert gone(engine_pid) and gone(child_pid)


async def test_engine_ignoring_sigterm_is_killed_with_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMHB_STOP_GRACE_S", "0.3")  # the one grace of every child process
    child_file = tmp_path / "child.pid"
    backend = engine(SglangBackend, "--ignore-sigterm", "--spawn-child", str(child_file))
    await backend.load()
    assert backend.process is not None
    engine_pid, child_pid = backend.process.pid, int(child_file.read_text())
    reply = await backend.generate(
        GenerationRequest(user="blue", messages=[{"role": "user", "content": "blue"}])
    )
    assert reply.text == "blue"
    await backend.unload()
    assert gone(engine_pid) and gone(child_pid)
    assert backend.process is None


def test_engine_that_exits_at_startup_is_reported_by_health(serve: ServeFn) -> None:
    backend = engine(VllmBackend, "--exit-code", "3")
    with serve(backend) as url, httpx.Client(base_url=url) as http:
        health = wait_health(http)
    assert health.status_code == 500
    error = health.json()["error"]
    assert re.search(r"the vllm engine \(pid \d+\) exited with code 3 during startup", error)
    assert "simulated startup failure" in error


async def test_engine_that_never_gets_healthy_is_stopped() -> None:
    backend = VllmBackend(
        ModelSpec(
            name="hang",
            backend="vllm",
            model_path="/m",
            params={
                "command": [
                    sys.executable,
                    "-c",
                    "import os, time; print('pid', os.getpid(), flush=True); time.sleep(60)",
                ],
                "startup_timeout_s": 0.5,
            },
        )
    )
    with pytest.raises(
        ChildStartError, match=r"vllm engine \(pid \d+\) was not healthy after 0\.5 s"
    ) as caught:
        await backend.load()
    match = re.search(r"pid (\d+)", str(caught.value))
    assert match is not None and gone(int(match.group(1)))


def test_default_commands_and_masking() -> None:
    spec = dict(
        model_path="/models/qwen",
        model="qwen",
        params={"engine_args": ["--api-key", "sk-123", "--tensor-parallel-size", "2"]},
    )
    vllm = VllmBackend(ModelSpec(name="v", backend="vllm", **spec))
    vllm.port = 8123
    command = vllm.command()
    assert command[1:] == [
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "/models/qwen",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--served-model-name",
        "qwen",
        "--api-key",
        "sk-123",
        "--tensor-parallel-size",
        "2",
    ]
    assert "sk-123" not in masked(command) and "--api-key ***" in masked(command)
    assert masked(["x", "--hf-token=abc"]) == "x --hf-token=***"
    sglang = SglangBackend(ModelSpec(name="s", backend="sglang", **spec))
    assert sglang.command()[1:5] == ["-m", "sglang.launch_server", "--model-path", "/models/qwen"]
    assert engine_arguments("--a 1 --b") == ["--a", "1", "--b"]
    with pytest.raises(ValueError, match="needs model_path or model"):
        VllmBackend(ModelSpec(name="x", backend="vllm"))
