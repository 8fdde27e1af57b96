"""The dashboard reads runs from ``results_uri`` (``vlmhb.backend.results_mirror``): an
experiment run by the embedded backend uploads its folders to the local S3 test server;
with the local folders gone the run routes answer the same from a mirror; a folder a
local stage wrote is never overwritten; a mirror follows the remote until a stage of
this host writes in it; a storage failure is a 502 naming the URI, and a submitted
dataset URI holding no dataset a 422 naming the field."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlmhb_backend_testkit import TEST_HOST, TEST_TOKEN, api_client, experiment_yaml, submit
from vlmhb_backend_testkit import wait_status as wait

from vlmhb.backend.results_mirror import MARKER
from vlmhb.backend.settings import BackendSettings
from vlmhb.core.storage import data_store
from vlmhb.data.testing import fixtures
from vlmhb.data.testing.fixtures import S3Server

pytestmark = pytest.mark.slow
s3_server = fixtures.s3_server
API = "/api/v1"
NAME = "mirrored"


@pytest.fixture
def bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket; this process (the backend and its runner) reaches the server."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server.make_bucket()


def settings(tmp_path: Path, bucket: str, refresh_s: float) -> BackendSettings:
    return BackendSettings(
        data_dir=tmp_path / "state",
        runs_dir=tmp_path / "runs",
        data_root=tmp_path.parent,
        database_url=f"sqlite:///{tmp_path / 'vlmhb.db'}",
        auth_token=TEST_TOKEN,
        allowed_hosts=[TEST_HOST],
        data_uris=[f"s3://{bucket}/results"],
        results_refresh_s=refresh_s,
    )


async def run_experiment(client: httpx.AsyncClient, dataset: Path, bucket: str) -> dict[str, Any]:
    text = experiment_yaml(dataset, NAME, models=("echo", "echo-b"))
    response = await submit(client, text + f"results_uri: s3://{bucket}/results\n")
    assert response.status_code == 202, response.text
    done = await wait(client, response.json()["id"])
    assert done["status"] == "COMPLETED", done["message"]
    return done


async def what_routes_show(client: httpx.AsyncClient, detail: dict[str, Any]) -> dict[str, Any]:
    """Every run route's answer, and every listed artifact's bytes."""
    exp = f"{API}/experiments/{detail['id']}"
    shown: dict[str, Any] = {
        "schema": (await client.get(f"{exp}/metrics-schema")).json(),
        "analytics": (await client.get(f"{API}/analytics/{detail['id']}")).json(),
    }
    for run in detail["runs"]:
        samples = await client.get(f"{exp}/runs/{run['name']}/samples", params={"limit": 500})
        assert samples.status_code == 200, samples.text
        shown[run["name"]] = {
            "samples": samples.json(),
            "schema": (await client.get(f"{exp}/runs/{run['name']}/metrics-schema")).json(),
            "logs": [
                (await client.get(f"{exp}/stages/{stage['task_id']}/logs")).json()
                for stage in run["stages"]
            ],
        }
    for artifact in detail["artifacts"]:
        response = await client.get(artifact["url"])
        assert response.status_code == 200, (artifact["path"], response.text)
        shown[artifact["path"]] = response.content
    return shown


def bucket_requests(s3: S3Server, bucket: str) -> list[dict[str, Any]]:
    return [r for r in s3.requests() if r["path"].startswith(f"/{bucket}")]


async def test_runs_are_served_from_results_uri_once_their_folders_are_gone(
    tmp_path: Path, dataset: Path, bucket: str, s3_server: S3Server
) -> None:
    async with api_client(settings(tmp_path, bucket, refresh_s=3600)) as client:
        detail = await run_experiment(client, dataset, bucket)
        names = {a["path"] for a in detail["artifacts"]}
        assert {f"{NAME}/report.html", f"{NAME}/report.md"} <= names
        for run in detail["runs"]:
            assert {f"{NAME}/{run['name']}/{f}" for f in ("report.html", "answers.csv")} <= names
        before = await what_routes_show(client, detail)
        assert before[detail["runs"][0]["name"]]["samples"]["total"] > 0

        shutil.rmtree(tmp_path / "runs" / NAME)
        s3_server.reset()
        assert await what_routes_show(client, detail) == before
        assert any(r["method"] == "GET" for r in bucket_requests(s3_server, bucket))
        experiment_dir = tmp_path / "runs" / NAME
        assert (experiment_dir / MARKER).is_file()
        assert all((experiment_dir / run["name"] / MARKER).is_file() for run in detail["runs"])

        s3_server.reset()  # within VLMHB_RESULTS_REFRESH_S: read from the mirror alone
        assert await what_routes_show(client, detail) == before
        assert bucket_requests(s3_server, bucket) == []

        # the bucket is gone: a 502 naming the URI, no credential
        shutil.rmtree(experiment_dir)
        drop_bucket(s3_server, bucket)
        run = detail["runs"][0]["name"]
        response = await client.get(f"{API}/experiments/{detail['id']}/runs/{run}/samples")
        assert response.status_code == 502
        message = response.json()["detail"]
        assert f"s3://{bucket}/results/{NAME}" in message
        assert s3_server.secret_key not in message and s3_server.access_key not in message


def drop_bucket(s3: S3Server, bucket: str) -> None:
    client = s3.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


async def test_a_local_run_folder_is_never_overwritten_and_a_mirror_follows_the_remote(
    tmp_path: Path, dataset: Path, bucket: str
) -> None:
    async with api_client(settings(tmp_path, bucket, refresh_s=0)) as client:
        detail = await run_experiment(client, dataset, bucket)
        run = detail["runs"][0]["name"]
        local = tmp_path / "runs" / NAME / run
        route = f"{API}/experiments/{detail['id']}/runs/{run}/samples"
        original = (local / "answers.csv").read_bytes()
        first = (await client.get(route)).json()["items"][0]

        remote = f"s3://{bucket}/results/{NAME}/{run}"
        change_remote(tmp_path / "edit", remote, first["id"], "changed once")
        assert await answer_of(client, route, first["id"]) == first["answer"]
        assert (local / "answers.csv").read_bytes() == original
        assert not (local / MARKER).exists()

        shutil.rmtree(local)  # now a mirror: the remote wins, and each read refreshes it
        assert await answer_of(client, route, first["id"]) == "changed once"
        change_remote(tmp_path / "edit", remote, first["id"], "changed twice")
        assert await answer_of(client, route, first["id"]) == "changed twice"

        # a stage of this host writes in the mirror: it becomes local work
        rerun = await client.post(f"{API}/experiments/{detail['id']}/rerun", params={"force": True})
        assert rerun.status_code == 202, rerun.text
        assert (await wait(client, detail["id"]))["status"] == "COMPLETED"
        written_here = (local / "answers.csv").read_bytes()
        change_remote(tmp_path / "edit", remote, first["id"], "changed three times")
        assert await answer_of(client, route, first["id"]) != "changed three times"
        assert (local / "answers.csv").read_bytes() == written_here
        assert not (local / MARKER).exists()


async def answer_of(client: httpx.AsyncClient, route: str, sample_id: str) -> Any:
    """The answer the samples route shows for ``sample_id``."""
    items = (await client.get(route, params={"limit": 500})).json()["items"]
    return next(item["answer"] for item in items if item["id"] == sample_id)


def change_remote(scratch: Path, uri: str, sample_id: str, answer: str) -> None:
    """Upload the run at ``uri`` again with the answer of ``sample_id`` replaced."""
    shutil.rmtree(scratch, ignore_errors=True)
    store = data_store(uri)
    store.pull_folder(uri, scratch)
    answers = scratch / "answers.csv"
    with answers.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        if row["id"] == sample_id:
            row["model_answer"] = answer
    with answers.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fields, delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    assert store.push_folder(scratch, uri) == 1


async def test_a_submitted_dataset_uri_holding_no_dataset_is_a_422_naming_the_field(
    tmp_path: Path, dataset: Path, bucket: str
) -> None:
    async with api_client(settings(tmp_path, bucket, refresh_s=0)) as client:
        text = experiment_yaml(dataset, NAME).replace(str(dataset), f"s3://{bucket}/results/none")
        missing = await submit(client, text)
        assert missing.status_code == 422, missing.text
        detail = missing.json()["detail"]
        assert "datasets.0.uri" in detail and f"s3://{bucket}/results/none" in detail
        assert (await client.get(f"{API}/experiments")).json()["total"] == 0
