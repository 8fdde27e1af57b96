"""Starting and stopping ``vlmhb-api serve`` subprocesses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.errors import VlmhbError
from vlmhb.inference.launcher import Endpoint, ServerProcess, ServerStartError, model_endpoint


def spec(backend: str = "scripted", timeout: float = 30, **params: object) -> ModelSpec:
    return ModelSpec(name="m", backend=backend, params=params, startup_timeout_s=timeout)


def test_server_serves_then_stops(tmp_path: Path) -> None:
    with model_endpoint(spec(rule="constant:ok"), tmp_path) as endpoint:
        reply = httpx.post(
            endpoint.base_url + "/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        assert reply.json()["choices"][0]["message"]["content"] == "ok"
        health_url = endpoint.base_url.removesuffix("/v1") + "/health"
    with pytest.raises(httpx.ConnectError):
        httpx.get(health_url)
    assert "backend scripted ready" in (tmp_path / "server.log").read_text()


def test_server_that_never_gets_healthy_times_out_with_log_tail(tmp_path: Path) -> None:
    # 6 s: slack for a loaded machine to start the server and log "loading"
    server = ServerProcess(spec(timeout=6, load_delay_s=3600), tmp_path)
    with pytest.raises(ServerStartError) as caught:
        server.start()
    message = str(caught.value)
    assert "not healthy after 6 s" in message
    assert "loading backend scripted" in message and "server.log" in message
    assert server.process is None


def test_unknown_backend_fails_fast_with_the_registry_error(tmp_path: Path) -> None:
    with (
        pytest.raises(ServerStartError) as caught,
        model_endpoint(spec(backend="scriptd", timeout=60), tmp_path),
    ):
        pass
    assert "exited with code 2" in str(caught.value)
    assert "Did you mean 'scripted'" in str(caught.value)


def test_failed_model_load_is_reported(tmp_path: Path) -> None:
    """A backend's own error (``BackendError``: a missing answers file) is one clear line
    in ``server.log`` and in the stage's error, not a traceback."""
    with (
        pytest.raises(ServerStartError, match=r"failed to load the model.*nope\.csv") as caught,
        model_endpoint(spec(answers_file=str(tmp_path / "nope.csv")), tmp_path),
    ):
        pass
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert "Traceback" not in log and "Traceback" not in str(caught.value)
    assert (
        f"backend scripted failed to load: scripted: answers_file {tmp_path / 'nope.csv'} "
        "does not exist"
    ) in log


def test_base_url_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    remote = ModelSpec(
        name="r",
        backend="openai",
        model="qwen",
        base_url="http://h:8000/v1/",
        api_key_env="VLMHB_TEST_KEY",
    )
    with pytest.raises(VlmhbError, match="VLMHB_TEST_KEY"), model_endpoint(remote, tmp_path):
        pass
    monkeypatch.setenv("VLMHB_TEST_KEY", "secret")
    with model_endpoint(remote, tmp_path) as endpoint:
        assert endpoint == Endpoint("http://h:8000/v1", "qwen", "secret")
    assert not (tmp_path / "server.log").exists()


def test_direct_use_reads_the_typed_params(tmp_path: Path) -> None:
    """An unset rate limit (``requests_per_s: null``) is no limit: the remote is queried
    directly with the ``api_key`` param; a model of another backend that has a
    ``base_url`` is still started behind the wrapper (its backend serves it)."""
    remote = ModelSpec(
        name="r",
        backend="openai",
        base_url="http://h:8000/v1",
        params={"requests_per_s": None, "api_key": "sk-typed"},
    )
    with model_endpoint(remote, tmp_path) as endpoint:
        assert endpoint == Endpoint("http://h:8000/v1", "r", "sk-typed")
    scripted = ModelSpec(
        name="s",
        backend="scripted",
        base_url="http://127.0.0.1:9/v1",
        params={"rule": "constant:served"},
        startup_timeout_s=60,
    )
    with model_endpoint(scripted, tmp_path) as endpoint:
        assert endpoint.base_url != "http://127.0.0.1:9/v1"
        reply = httpx.post(
            endpoint.base_url + "/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert reply.json()["choices"][0]["message"]["content"] == "served"
