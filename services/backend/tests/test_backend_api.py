"""The HTTP API on SQLite and PostgreSQL: submit, list, inspect, cancel, rerun, delete,
samples, comparison, analytics, registries, artifacts."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from vlmhb_backend_testkit import api_client, experiment_yaml, submit, wait_status

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import Experiment, ExperimentModel

API = "/api/v1"


async def test_health_and_registries(client: httpx.AsyncClient) -> None:
    health = (await client.get(f"{API}/health")).json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["mode"] == "embedded" and health["bus"] == "inprocess"
    models = {e["name"] for e in (await client.get(f"{API}/registries/models")).json()}
    assert "scripted" in models
    metrics = {e["name"] for e in (await client.get(f"{API}/registries/metrics")).json()}
    assert {"cer", "anls"} <= metrics
    assert (await client.get(f"{API}/registries/nope")).status_code == 422
    resources = (await client.get(f"{API}/resources")).json()
    assert resources["cpu_slots"] >= 1 and "gpus" in resources


async def test_full_lifecycle(client: httpx.AsyncClient, dataset: Path, make_settings: Any) -> None:
    response = await submit(client, experiment_yaml(dataset, "life", models=("echo", "echo2")))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "accepted"
    exp_id = accepted["id"]

    body = await wait_status(client, exp_id)
    assert body["status"] == "COMPLETED", body
    assert body["progress"] == 1.0 and body["stages_total"] == body["stages_done"] == 7
    assert [r["state"] for r in body["runs"]] == ["COMPLETED", "COMPLETED"]
    assert {s["stage"] for s in body["runs"][0]["stages"]} == {"inference", "evaluation", "report"}
    assert body["experiment_stages"][0]["state"] == "COMPLETED"
    assert body["samples_total"] == body["samples_done"] > 0
    paths = {a["path"] for a in body["artifacts"]}
    run_a, run_b = body["runs"]
    assert f"life/{run_a['name']}/answers.csv" in paths and "life/report.html" in paths

    # artifacts are served from the runs root
    answers = await client.get(f"{API}/artifacts/life/{run_a['name']}/answers.csv")
    assert answers.status_code == 200 and answers.text.startswith("id;model_answer")

    # per-sample rows joined from samples.jsonl + answers.csv + metrics_by_id.csv
    page = (
        await client.get(
            f"{API}/experiments/{exp_id}/runs/{run_a['name']}/samples",
            params={"limit": 3, "offset": 1},
        )
    ).json()
    assert page["total"] == body["runs"][0]["total"] and len(page["items"]) == 3
    row = page["items"][0]
    assert row["id"] == "1" and row["answer"] == row["question"]  # the echo rule
    assert row["ground_truth"] and set(row["metrics"]) == {"cer", "anls"}
    assert row["timings"]["latency_ms"] is not None
    image = await client.get(row["image_url"])
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
    by_id = await client.get(f"{API}/experiments/{exp_id}/runs/{run_a['id']}/samples")
    assert by_id.json()["run"] == run_a["name"]
    errors = await client.get(
        f"{API}/experiments/{exp_id}/runs/{run_a['id']}/samples", params={"errors_only": True}
    )
    assert errors.json()["total"] == 0 and errors.json()["items"] == []  # echo never fails

    compare = (
        await client.get(f"{API}/samples/compare", params={"runs": f"{run_a['id']},{run_b['id']}"})
    ).json()
    assert compare["metrics"] == ["cer", "anls"] and compare["total"] == page["total"]
    first = compare["items"][0]
    assert set(first["answers"]) == {str(run_a["id"]), str(run_b["id"])}
    assert first["deltas"]["cer"][str(run_a["id"])] == 0.0  # same answers → zero delta
    assert first["deltas"]["cer"][str(run_b["id"])] == 0.0

    analytics = (await client.get(f"{API}/analytics/{exp_id}")).json()
    assert analytics["quality_metrics"][:2] == ["cer", "anls"]
    figures = analytics["figures"]
    assert set(figures) == {"quality_latency", "heatmap", "latency"}
    assert len(analytics["leaderboard"]) == 2  # one row per run, drawn by the UI
    assert set(analytics["leaderboard"][0]["values"]) >= {"cer", "anls"}
    assert figures["quality_latency"]["data"][1]["name"] == "Pareto front"

    # cancel a finished experiment: 409; rerun skips finished stages
    assert (await client.post(f"{API}/experiments/{exp_id}/cancel")).status_code == 409
    rerun_at = datetime.now(UTC)
    assert (await client.post(f"{API}/experiments/{exp_id}/rerun")).status_code == 202
    again = await wait_status(client, exp_id)
    assert again["status"] == "COMPLETED" and again["attempts"] == 2
    kept = [s for r in again["runs"] for s in r["stages"]] + again["experiment_stages"]
    assert {s["state"] for s in kept} == {"SKIPPED"}
    # every stage was kept: the stages and the experiment show the earlier run's times
    assert again["message"].startswith("imported from runs/life/")
    for stage in kept:
        started, finished = (
            datetime.fromisoformat(stage[k]) for k in ("started_at", "finished_at")
        )
        assert started <= finished < rerun_at
    assert datetime.fromisoformat(again["finished_at"]) < rerun_at

    # delete keeps artifacts by default
    deleted = (await client.delete(f"{API}/experiments/{exp_id}")).json()
    assert deleted == {"id": exp_id, "deleted": True, "artifacts_deleted": False, "detail": ""}
    assert (await client.get(f"{API}/experiments/{exp_id}")).status_code == 404
    runs_dir = make_settings().runs_dir
    assert (runs_dir / "life" / run_a["name"] / "answers.csv").is_file()


async def test_delete_with_artifacts(
    client: httpx.AsyncClient, dataset: Path, make_settings: Any
) -> None:
    exp_id = (await submit(client, experiment_yaml(dataset, "gone"))).json()["id"]
    assert (await wait_status(client, exp_id))["status"] == "COMPLETED"
    runs_dir = make_settings().runs_dir
    assert (runs_dir / "gone").is_dir()
    response = await client.delete(
        f"{API}/experiments/{exp_id}", params={"delete_artifacts": "true"}
    )
    assert response.json()["artifacts_deleted"] is True
    assert not (runs_dir / "gone").exists()


async def test_submit_json_and_legacy_csv(client: httpx.AsyncClient, dataset: Path) -> None:
    spec = yaml.safe_load(experiment_yaml(dataset, "as-json"))
    response = await submit(client, json.dumps(spec), "application/json")
    assert response.status_code == 202, response.text
    user_config = (
        "dataset;task;framework;model_name;system_prompt;prompt_collection;metrics;"
        "only_evaluate_metrics;metrics_aggregators;filter_doc_class;"
        f"filter_question_type\n{dataset};VQA;scripted;echo;;;['CER'];False;"
        "['by_id', 'general'];[];[]\n"
    )
    vlm_base = (
        "framework;model_family;model_name;docker_image;git_python_package;"
        "python_package;module;class_name;backend;params\n"
        'scripted;echo;echo;;;;;;scripted;{"rule": "echo"}\n'
    )
    files = {
        "user_config.csv": ("user_config.csv", io.BytesIO(user_config.encode())),
        "vlm_base.csv": ("vlm_base.csv", io.BytesIO(vlm_base.encode())),
    }
    legacy = await client.post(f"{API}/experiments", files=files)
    assert legacy.status_code == 202, legacy.text
    body = (await client.get(f"{API}/experiments/{legacy.json()['id']}")).json()
    assert body["config_format"] == "legacy_csv" and body["models"] == ["echo"]
    for exp_id in (response.json()["id"], legacy.json()["id"]):
        done = await wait_status(client, exp_id)
        assert done["status"] == "COMPLETED", done["message"]


async def test_submit_rejections(client: httpx.AsyncClient, dataset: Path) -> None:
    bad = await submit(client, "name: x\nmodels: []\ndatasets: []\ntasks: [1]\n")
    assert bad.status_code == 422 and "tasks" in bad.json()["detail"]
    unknown = await submit(client, experiment_yaml(dataset).replace("scripted", "scriptd"))
    assert unknown.status_code == 422 and "did you mean" in unknown.json()["detail"].lower()
    assert (await submit(client, "name: x", "image/png")).status_code == 415
    assert (await submit(client, "")).status_code == 422
    missing = await client.post(
        f"{API}/experiments", files={"user_config.csv": ("user_config.csv", b"a;b\n")}
    )
    assert missing.status_code == 422 and "vlm_base.csv" in missing.json()["detail"]
    assert (await client.get(f"{API}/experiments")).json()["total"] == 0


async def test_upload_limit(make_settings: Any, dataset: Path) -> None:
    async with api_client(make_settings(max_upload_bytes=2048)) as client:
        big = experiment_yaml(dataset) + "#" * 4096 + "\n"
        assert (await submit(client, big)).status_code == 413

        async def chunks() -> Any:  # no Content-Length: counted while streaming
            for _ in range(8):
                yield b"#" * 1024

        response = await client.post(
            f"{API}/experiments", content=chunks(), headers={"content-type": "application/yaml"}
        )
        assert response.status_code == 413


async def test_same_name_while_active_conflicts(client: httpx.AsyncClient, dataset: Path) -> None:
    text = experiment_yaml(dataset, "busy", latency_ms=300)
    first = (await submit(client, text)).json()["id"]
    second = await submit(client, text)
    assert second.status_code == 409
    assert (await client.post(f"{API}/experiments/{first}/rerun")).status_code == 409
    assert (await client.delete(f"{API}/experiments/{first}")).status_code == 409
    assert (await client.post(f"{API}/experiments/{first}/cancel")).status_code == 202
    body = await wait_status(client, first)
    assert body["status"] == "CANCELLED"
    assert all(
        s["state"] in {"CANCELLED", "COMPLETED", "SKIPPED"}
        for r in body["runs"]
        for s in r["stages"]
    )


async def test_rerun_while_still_in_the_runner_conflicts(
    client: httpx.AsyncClient, dataset: Path, db_url: str
) -> None:
    """The database says finished (e.g. a second rerun on SQLite, which has no row lock)
    but the runner still has the experiment: 409, not a 500 from ``AlreadyRunning``."""
    first = (await submit(client, experiment_yaml(dataset, "twice", latency_ms=300))).json()
    await wait_status(client, first["id"], {"RUNNING"})
    db = Database(db_url)
    with db.session() as session:
        experiment = session.get(Experiment, first["id"])
        assert experiment is not None
        experiment.status = "CANCELLED"
    db.dispose()
    response = await client.post(f"{API}/experiments/{first['id']}/rerun")
    assert response.status_code == 409, response.text
    assert "already running" in response.json()["detail"]


def _seed(url: str, n: int) -> None:
    from datetime import UTC, datetime, timedelta

    db = Database(url)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    statuses = ["COMPLETED", "FAILED", "RUNNING", "CANCELLED"]
    with db.session() as session:
        for i in range(n):
            model = f"model-{i % 3}"
            experiment = Experiment(
                id=f"{i:032x}",
                name=f"exp-{i:03d}",
                status=statuses[i % 4],
                message="",
                config_format="yaml",
                config_path="/nonexistent",
                models=model,
                created_at=start + timedelta(minutes=i),
                updated_at=start + timedelta(minutes=i),
            )
            experiment.model_rows = [ExperimentModel(model=model, backend="scripted")]
            session.add(experiment)
    db.dispose()


async def test_list_pagination_filters_sort(make_settings: Any, db_url: str) -> None:
    from vlmhb.backend.db.migrate import upgrade

    upgrade(db_url)
    _seed(db_url, 40)
    async with api_client(make_settings()) as client:
        # RUNNING ones were marked INTERRUPTED at startup (no orchestrator runs them)
        page = (await client.get(f"{API}/experiments", params={"limit": 7})).json()
        assert page["total"] == 40 and len(page["items"]) == 7
        assert page["items"][0]["name"] == "exp-039"  # newest first
        tail = (await client.get(f"{API}/experiments", params={"limit": 7, "offset": 35})).json()
        assert [i["name"] for i in tail["items"]] == [f"exp-{i:03d}" for i in range(4, -1, -1)]
        done = (
            await client.get(
                f"{API}/experiments", params=[("status", "COMPLETED"), ("status", "FAILED")]
            )
        ).json()
        assert done["total"] == 20
        assert {i["status"] for i in done["items"]} == {"COMPLETED", "FAILED"}
        interrupted = (
            await client.get(f"{API}/experiments", params={"status": "INTERRUPTED"})
        ).json()
        assert interrupted["total"] == 10
        by_model = (
            await client.get(f"{API}/experiments", params={"model": "model-1", "sort": "name"})
        ).json()
        assert by_model["total"] == 13
        names = [i["name"] for i in by_model["items"]]
        assert names == sorted(names) and names[0] == "exp-001"
        by_name = (await client.get(f"{API}/experiments", params={"name": "xp-01"})).json()
        assert by_name["total"] == 10
        assert (await client.get(f"{API}/experiments", params={"name": "%"})).json()["total"] == 0
        assert (await client.get(f"{API}/experiments", params={"limit": 0})).status_code == 422
        assert (
            await client.get(f"{API}/experiments", params={"status": "BOGUS"})
        ).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "demo/..%2F..%2Fsecret.txt",
        "link-out/secret.txt",
    ],
)
async def test_artifacts_confined(
    client: httpx.AsyncClient, make_settings: Any, tmp_path: Path, path: str
) -> None:
    runs_dir = make_settings().runs_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (tmp_path / "secret.txt").write_text("secret")
    (runs_dir / "link-out").symlink_to(outside)
    (runs_dir / "demo").mkdir()
    (runs_dir / "demo" / "ok.txt").write_text("fine")
    assert (await client.get(f"{API}/artifacts/demo/ok.txt")).text == "fine"
    response = await client.get(f"{API}/artifacts/{path}")
    assert response.status_code in (403, 404)
    assert "secret" not in response.text or response.status_code != 200


def test_concurrent_reruns_claim_the_experiment_exactly_once(db_url: str) -> None:
    """Eight reruns of one finished experiment at once: one claims it (attempts + 1), the
    others get 409 — on SQLite, which has no row locks, as on PostgreSQL."""
    from concurrent.futures import ThreadPoolExecutor

    from vlmhb.backend.crud.experiments import claim_rerun
    from vlmhb.backend.db.migrate import upgrade
    from vlmhb.backend.errors import Conflict

    upgrade(db_url)
    _seed(db_url, 2)  # ids 0…0 (COMPLETED) and 0…1 (FAILED)
    target = f"{1:032x}"
    db = Database(db_url)

    def claim(_: int) -> int:
        try:
            with db.session() as session:
                claim_rerun(session, target)
            return 200
        except Conflict:
            return 409

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(claim, range(8)))
    with db.session() as session:
        experiment = session.get(Experiment, target)
        assert experiment is not None
        assert (experiment.status, experiment.attempts) == ("ACCEPTED", 2)
    db.dispose()
    assert codes == [200] + [409] * 7
