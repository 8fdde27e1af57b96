"""The model catalog through the API (``docs/hosts.md``): a model added there is picked by
name in a submitted experiment (with overrides), and the run records what it used; an
entry that names a program, a module, an environment variable, an image outside the
allow-list or a path outside the data roots is refused by the field; registry presets are
listed read-only. Images: a host's stage images built through its agent show their digests."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from vlmhb_backend_testkit import TERMINAL, api_client, submit, wait_status

from vlmhb.core.config.catalog import MODEL_CATALOG_FILE
from vlmhb.core.testing import wait_for_async


def oracle(**fields: Any) -> dict[str, Any]:
    return {
        "name": "house-echo",
        "backend": "scripted",
        "version": "2026.12",
        "notes": "echoes the question",
        "gpu_memory_gb": 0,
        "spec": {"params": {"rule": "echo", "latency_ms": 0}, "concurrency": 2},
        **fields,
    }


def picking(dataset: Path, model: str) -> str:
    return (
        f"name: catalog-pick\nmodels:\n  - {model}\n"
        f"datasets:\n  - {{name: synth, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n  - {name: vqa, dataset: synth, kind: vqa, metrics: [cer]}\n"
    )


async def test_a_catalog_model_is_picked_by_name_in_an_experiment(
    client: httpx.AsyncClient, dataset: Path, make_settings: Any
) -> None:
    added = await client.post("/api/v1/catalog/models", json=oracle())
    assert added.status_code == 201, added.text
    assert added.json()["source"] == "catalog" and added.json()["editable"] is True
    listed = (await client.get("/api/v1/catalog/models")).json()
    assert [m["name"] for m in listed if m["source"] == "catalog"] == ["house-echo"]

    accepted = await submit(client, picking(dataset, "{preset: house-echo, concurrency: 1}"))
    assert accepted.status_code == 202, accepted.text
    done = await wait_status(client, accepted.json()["id"], TERMINAL)
    assert done["status"] == "COMPLETED", done
    (run,) = done["runs"]
    assert run["model"] == "house-echo"
    folder = make_settings().data_dir / "experiments" / accepted.json()["id"]
    snapshot = json.loads((folder / MODEL_CATALOG_FILE).read_text())
    assert snapshot["house-echo"]["params"] == {"rule": "echo", "latency_ms": 0}

    # the catalog changes later: the stored experiment keeps what it ran with
    changed = oracle(spec={"params": {"rule": "constant", "value": "x"}})
    assert (await client.put("/api/v1/catalog/models/house-echo", json=changed)).status_code == 200
    assert json.loads((folder / MODEL_CATALOG_FILE).read_text()) == snapshot

    assert (await client.delete("/api/v1/catalog/models/house-echo")).status_code == 204
    gone = await submit(client, picking(dataset, "house-echo"))
    assert gone.status_code == 422 and "house-echo" in gone.json()["detail"]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"spec": {"env": {"kind": "venv", "packages": ["evil"]}}}, "env.packages"),
        ({"spec": {"env": {"kind": "docker", "image": "evil.example/miner:1"}}}, "env.image"),
        ({"spec": {"command": ["sh", "-c", "id"]}}, "command"),
        ({"spec": {"api_key_env": "AWS_SECRET_ACCESS_KEY"}}, "api_key_env"),
        ({"spec": {"name": "other"}}, "spec.name"),
        ({"backend": "no-such-backend"}, "backend"),
        ({"weights": {"path": "/etc"}, "spec": {}}, "model_path"),
        ({"spec": {"params": {"answers_file": "/etc/passwd"}}}, "params.answers_file"),
        ({"spec": {"params": {"answers_file": "../../etc/passwd"}}}, "params.answers_file"),
        ({"name": "../escape"}, "name"),
        ({"weights": {"ftp": "x"}}, "weights"),
        ({"gpu_memory_gb": True}, "gpu_memory_gb"),
    ],
)
async def test_a_catalog_entry_that_is_not_data_is_refused_by_the_field(
    client: httpx.AsyncClient, entry: dict[str, Any], field: str
) -> None:
    answer = await client.post("/api/v1/catalog/models", json=oracle(**entry))
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    listed = (await client.get("/api/v1/catalog/models")).json()
    assert [m for m in listed if m["source"] == "catalog"] == []


async def test_registry_presets_are_listed_read_only(
    make_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "models.yaml").write_text(
        "- kind: model\n  name: team-qwen\n  backend: scripted\n"
        "  description: the team's preset\n  params: {rule: echo}\n"
    )
    monkeypatch.setenv("VLMHB_REGISTRY_DIRS", str(registry))
    async with api_client(make_settings()) as client:
        listed = (await client.get("/api/v1/catalog/models")).json()
        (preset,) = [m for m in listed if m["name"] == "team-qwen"]
        assert preset["source"] == "registry" and preset["editable"] is False
        assert preset["notes"] == "the team's preset" and preset["spec"]["params"]["rule"] == "echo"
        clash = await client.post("/api/v1/catalog/models", json=oracle(name="team-qwen"))
        assert clash.status_code == 409 and "registry preset" in clash.json()["detail"]
        assert (await client.delete("/api/v1/catalog/models/team-qwen")).status_code == 404


@pytest.mark.docker
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_image_built_through_the_agent_shows_its_digest(
    make_settings: Any,
    tmp_path: Path,
    redis_url: str,
    docker_client: docker.DockerClient,
    base_cpu_image: str,
) -> None:
    from test_backend_hosts_health import agent_testkit

    token_file = tmp_path / "agent-token"
    token_file.write_text(secrets.token_urlsafe(32))
    token_file.chmod(0o600)
    name = f"img-{secrets.token_hex(3)}"
    env = {"VLMHB_AGENT_REDIS_URL": redis_url, "VLMHB_AGENT_HEARTBEAT_S": "0.5"}
    agent = agent_testkit().launch_agent(tmp_path / "agent", token_file, name, gpus="", env=env)
    settings = make_settings(
        redis_url=redis_url, agent_token_file=token_file, health_interval_s=0.5
    )
    try:
        async with api_client(settings) as client:

            async def listed() -> list[dict[str, Any]] | None:
                rows = (await client.get("/api/v1/catalog/images")).json()
                return [r for r in rows if r["host"] == name] or None

            (before,) = await wait_for_async(listed, 60)
            assert before["error"] is None
            job = await client.post(
                f"/api/v1/catalog/images/{name}/build", json={"names": ["redis"], "force": True}
            )
            assert job.status_code == 202, job.text

            async def finished() -> dict[str, Any] | None:
                path = f"/api/v1/catalog/images/{name}/jobs/{job.json()['id']}"
                body: dict[str, Any] = (await client.get(path)).json()
                return body if body["state"] != "running" else None

            done = await wait_for_async(finished, 300)
            assert done["state"] == "finished", done
            assert done["log"], "the build job's log is shown"
            (after,) = await wait_for_async(listed, 60)
            (redis_image,) = [i for i in after["images"] if i["tag"] == "vlmhb/redis:latest"]
            image = docker_client.images.get("vlmhb/redis:latest")
            assert redis_image["image_id"] == image.id
            assert redis_image["digest"].startswith("sha256:")
            assert redis_image["source_hash"]

            refused = await client.post(
                f"/api/v1/catalog/images/{name}/pull", json={"ref": "evil.example/miner:1"}
            )
            assert refused.status_code == 403 and "evil.example" in refused.json()["detail"]
    finally:
        agent.stop()


async def test_images_of_a_host_list_its_error_when_the_backend_has_no_agent_token(
    make_settings: Any,
) -> None:
    """Found by schemathesis: the listing answered 409 for one host it could not ask."""
    from vlmhb.backend.db.engine import Database
    from vlmhb.backend.db.models import Host
    from vlmhb.backend.hosts import store

    settings = make_settings(agent_token_file=None)
    async with api_client(settings) as client:
        db = Database(settings.resolved().url)
        with db.session() as session:
            session.add(
                Host(
                    name="gpu-01",
                    address="127.0.0.1",
                    agent_url="http://127.0.0.1:9",
                    created_at=store.now(),
                )
            )
        db.dispose()
        listed = await client.get("/api/v1/catalog/images")
        assert listed.status_code == 200, listed.text
        (row,) = listed.json()
        assert row["images"] == [] and "VLMHB_AGENT_TOKEN_FILE" in row["error"]
        build = await client.post("/api/v1/catalog/images/gpu-01/build", json={})
        assert build.status_code == 409 and "VLMHB_AGENT_TOKEN_FILE" in build.json()["detail"]
