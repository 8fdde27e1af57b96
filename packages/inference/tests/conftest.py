"""Fixtures for the inference tests: real servers on loopback ports, samples on disk."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from PIL import Image

from vlmhb.core.contracts import (
    DatasetSpec,
    GenerationParams,
    LoadSpec,
    ModelSpec,
    PreparedSample,
    RunSpec,
    StageName,
    StageTask,
    TaskSpec,
)
from vlmhb.core.files import SAMPLES_FILE
from vlmhb.inference.backends.base import Backend
from vlmhb.inference.launcher import free_port
from vlmhb.inference.server import create_app

ServeFn = Callable[[Backend], AbstractContextManager[str]]


@contextmanager
def _serve(backend: Backend) -> Iterator[str]:
    """Run ``create_app(backend)`` under uvicorn in a thread; yields ``http://host:port``."""
    port = free_port()
    config = uvicorn.Config(
        create_app(backend), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("test server thread died during startup")
            threading.Event().wait(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


@pytest.fixture
def serve() -> ServeFn:
    return _serve


def write_samples(
    run_dir: Path,
    count: int,
    size: tuple[int, int] = (64, 32),
    crop_box: tuple[int, int, int, int] | None = None,
) -> list[PreparedSample]:
    """``count`` samples with small PNGs under ``run_dir/images``, written to samples.jsonl."""
    images = run_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    samples = []
    for index in range(count):
        path = images / f"{index}.png"
        Image.new("RGB", size, (index * 7 % 256, 90, 160)).save(path)
        samples.append(
            PreparedSample(
                id=str(index),
                image_path=path,
                question=f"q{index}",
                answer=f"answer {index}",
                user_prompt=f"answer {index}",
                crop_box=crop_box,
            )
        )
    (run_dir / SAMPLES_FILE).write_text(
        "".join(s.model_dump_json() + "\n" for s in samples), encoding="utf-8"
    )
    return samples


def make_task(
    run_dir: Path,
    params: dict[str, Any],
    concurrency: int = 4,
    load: dict[str, Any] | None = None,
    **generation: Any,
) -> StageTask:
    """An inference ``StageTask`` for the scripted backend with ``params`` and ``load``."""
    model = ModelSpec(
        name="scripted-test",
        backend="scripted",
        params=params,
        concurrency=concurrency,
        startup_timeout_s=30,
        load=LoadSpec.model_validate(load or {}),
    )
    run = RunSpec(
        experiment="exp",
        model=model,
        task=TaskSpec(name="vqa", dataset="synthetic"),
        dataset=DatasetSpec(name="synthetic", format="vqa_csv", path=run_dir),
        generation=GenerationParams(**generation),
    )
    return StageTask(
        id="inference-test", stage=StageName.INFERENCE, experiment="exp", run=run, run_dir=run_dir
    )


@pytest.fixture
def samples_factory() -> Callable[..., list[PreparedSample]]:
    return write_samples


@pytest.fixture
def task_factory() -> Callable[..., StageTask]:
    return make_task


@pytest.fixture(scope="session")
def openai_standin() -> ModuleType:
    """The stand-in OpenAI-compatible server module beside this file (see its docstring)."""
    name = "vlmhb_openai_standin"
    if name not in sys.modules:
        path = Path(__file__).with_name("openai_standin.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]
