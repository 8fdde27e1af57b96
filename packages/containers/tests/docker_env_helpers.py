"""Small real experiments for the docker env tests: a VQA dataset of a few images, a
scripted model, and the planned stage tasks, in a test's own folder."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import docker
import docker.errors
from PIL import Image, ImageDraw

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import EnvSpec, ResourceSpec, StageName, StageTask
from vlmhb.core.orchestration.graph import plan_experiment

T = TypeVar("T")
HEADER = "data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox"
ROWS = [
    ("Напиши Фамилия", "ИВАНОВ", "passport", "Фамилия"),
    ("Напиши Имя", "ПЁТР", "passport", "Имя"),
    ("Напиши Номер", "123-456-789 00", "snils", "Номер"),
    ("Напиши Итого", "1500.00", "invoice", "Итого"),
]
CONFIG = """\
name: {name}
models:
  - {{name: scripted, backend: scripted, params: {{rule: echo, latency_ms: {latency}, noise: 0.3}},
     concurrency: 1}}
datasets:
  - {{name: mini, format: vqa_csv, path: {data}}}
tasks:
  - {{name: vqa, dataset: mini, kind: vqa, metrics: [cer, wer, exact_match]}}
"""


def write_dataset(root: Path) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for index, (question, answer, doc_class, qtype) in enumerate(ROWS):
        image = Image.new("RGB", (120, 60), "white")
        ImageDraw.Draw(image).text((5, 20), answer, fill="black")
        image.save(root / "images" / f"{index}.png")
        lines.append(f"{index};test;images/{index}.png;{question};{answer};{doc_class};{qtype};")
    (root / "annotation.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def dead_pid() -> int:
    """A pid no process holds now (a child that has ended)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def experiment_name() -> str:
    """A name no other test (or helper) uses: its containers are found by it."""
    return f"b1-docker-{secrets.token_hex(4)}"


def plan(tmp_path: Path, name: str, latency_ms: int = 0) -> dict[StageName, StageTask]:
    """The stage tasks of a one-run experiment under ``tmp_path`` (its data root)."""
    data = write_dataset(tmp_path / "data" / "mini")
    config = tmp_path / "exp.yaml"
    config.write_text(CONFIG.format(name=name, data=data, latency=latency_ms), encoding="utf-8")
    spec = load_experiment(config)
    spec.output_dir = tmp_path / "runs"
    tasks = {t.stage: t for t in plan_experiment(spec)}
    return tasks


def in_docker(
    task: StageTask, image: str, resources: ResourceSpec | None = None, **env: object
) -> StageTask:
    """``task`` with a docker env of ``image`` (and ``env``'s other fields)."""
    update: dict[str, object] = {"env": EnvSpec(kind="docker", image=image, **env)}
    if resources is not None:
        update["resources"] = resources
    return task.model_copy(update=update)


def containers_of(client: docker.DockerClient, experiment: str) -> list[str]:
    """Ids of the containers (any state) labelled with ``experiment``."""
    found = client.api.containers(all=True, filters={"label": f"vlmhb.experiment={experiment}"})
    return [str(c["Id"]) for c in found]


def remove_containers(client: docker.DockerClient, experiment: str) -> None:
    for container_id in containers_of(client, experiment):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container_id, force=True)


async def wait_for(probe: Callable[[], T | None], timeout_s: float = 120.0) -> T:
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value
