"""An experiment over an ``s3://`` dataset, end to end through the real ``vlmhb`` CLI and
the local S3 test server: a synthetic dataset pushed with ``vlmhb data push``, the same
experiment run over the local folder and over the URI (scripted oracle models, no model
download), results uploaded to ``results_uri``, a second run re-using everything, the
secret key written nowhere, ``vlmhb validate`` syncing the dataset, a missing bucket a
clear error."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vlmhb.core.testing import COMPLETED_RUN_FILES
from vlmhb.data.testing.fixtures import S3Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the module fixture: 5 CLI runs
VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]
NAME = "s3demo"
MODELS = ("oracle", "noisy-oracle")
QUALITY = ("cer", "anls", "exact_match", "error_rate")


def vlmhb(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VLMHB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def experiment_yaml(dataset: str, answers: Path, results_uri: str | None = None) -> str:
    models = "".join(
        f"  - name: {name}\n    backend: scripted\n    concurrency: 8\n"
        f"    params: {{answers_file: {answers}, answer_column: answer{noise}}}\n"
        for name, noise in zip(MODELS, ("", ", noise: 0.08"), strict=True)
    )
    return (
        f"name: {NAME}\nmodels:\n{models}"
        f"datasets:\n  - {{name: ds, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n  - {name: fields_vqa, dataset: ds, kind: vqa, "
        "metrics: [cer, anls, exact_match]}\n"
        + (f"results_uri: {results_uri}\n" if results_uri else "")
    )


@dataclass
class Runs:
    """What the module's experiments left: folders, processes, the second run's requests."""

    root: Path
    bucket: str
    dataset: Path
    dataset_uri: str
    env: dict[str, str]
    procs: list[subprocess.CompletedProcess[str]]
    after_first: dict[str, bytes]  # the remote experiment's files after its first run
    second_run: subprocess.CompletedProcess[str]
    second_requests: list[dict[str, Any]]

    def run_dirs(self, where: str) -> dict[str, Path]:
        experiment = self.root / where / "runs" / NAME
        found = [p for p in experiment.iterdir() if (p / "run.json").is_file()]
        return {p.name.split("__")[0]: p for p in found}


def bucket_requests(s3: S3Server, bucket: str) -> list[dict[str, Any]]:
    return [r for r in s3.requests() if r["path"].startswith(f"/{bucket}/")]


@pytest.fixture(scope="module")
def runs(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("s3e2e")
    outside = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env = {
        **outside,
        **s3_server.env(),
        "VLMHB_DATA_CACHE_DIR": str(root / "cache"),
        "COLUMNS": "200",
    }
    bucket = s3_server.make_bucket()
    dataset, uri = root / "data" / "ds", f"s3://{bucket}/datasets/ds"
    procs = [
        ok(
            vlmhb(
                "datasets",
                "synth",
                "--out",
                str(dataset),
                "--n",
                "1",
                "--seed",
                "7",
                cwd=root,
                env=env,
            )
        ),
        ok(vlmhb("data", "push", str(dataset), uri, cwd=root, env=env)),
    ]
    answers = dataset / "annotation.csv"
    for where, text in (
        ("local", experiment_yaml(str(dataset), answers)),
        ("remote", experiment_yaml(uri, answers, f"s3://{bucket}/results")),
    ):
        (root / where).mkdir()
        (root / where / "experiment.yaml").write_text(text, encoding="utf-8")
        procs.append(ok(vlmhb("run", "experiment.yaml", cwd=root / where, env=env)))
    experiment = root / "remote" / "runs" / NAME
    after_first = {
        p.relative_to(experiment).as_posix(): p.read_bytes()
        for p in experiment.rglob("*")
        if p.is_file()
    }
    s3_server.reset()
    second = ok(vlmhb("run", "experiment.yaml", cwd=root / "remote", env=env))
    requests = bucket_requests(s3_server, bucket)
    yield Runs(root, bucket, dataset, uri, env, procs, after_first, second, requests)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def test_an_s3_dataset_gives_the_metrics_and_answers_of_its_local_copy(runs: Runs) -> None:
    local, remote = runs.run_dirs("local"), runs.run_dirs("remote")
    assert set(local) == set(remote) == set(MODELS)
    for model in MODELS:
        quality = [
            {r["metric"]: r for r in rows(folder / "metrics_general.csv") if r["metric"] in QUALITY}
            for folder in (local[model], remote[model])
        ]
        assert set(quality[0]) == set(QUALITY) and quality[0] == quality[1]
        answers = [
            {r["id"]: r["model_answer"] for r in rows(folder / "answers.csv")}
            for folder in (local[model], remote[model])
        ]
        assert len(answers[0]) == 26 and answers[0] == answers[1]
    assert float(quality[0]["cer"]["macro"]) > 0  # the noisy oracle: not a trivial match


def test_stages_read_the_synced_copy_and_name_the_uri(runs: Runs) -> None:
    cache = (runs.root / "cache").resolve()
    for folder in runs.run_dirs("remote").values():
        for stage in ("inference", "evaluation", "report"):
            task = json.loads((folder / ".tasks" / f"{stage}.json").read_text(encoding="utf-8"))
            dataset = task["run"]["dataset"]
            assert dataset["uri"] == runs.dataset_uri
            local_copy = Path(dataset["path"]).resolve()
            assert local_copy.is_relative_to(cache), (stage, local_copy)
            copied = (local_copy / "annotation.csv").read_bytes()
            assert copied == (runs.dataset / "annotation.csv").read_bytes()
            assert task["results_uri"] == f"s3://{runs.bucket}/results/{NAME}"


def objects(runs: Runs, s3: S3Server, prefix: str = "") -> dict[str, bytes]:
    client = s3.client()
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=runs.bucket, Prefix=prefix
        )
        for item in page.get("Contents", [])
    ]
    return {key: client.get_object(Bucket=runs.bucket, Key=key)["Body"].read() for key in keys}


def test_results_uri_holds_each_run_folder_and_the_experiment_report(
    runs: Runs, s3_server: S3Server
) -> None:
    stored = objects(runs, s3_server, f"results/{NAME}/")
    for run in runs.run_dirs("remote"):
        folder = runs.run_dirs("remote")[run].name
        for name in COMPLETED_RUN_FILES:
            key = f"{folder}/{name}"
            assert f"results/{NAME}/{key}" in stored, f"{key} not uploaded"
            if name != "manifest.json":  # see the next test
                assert stored[f"results/{NAME}/{key}"] == runs.after_first[key], key
    for name in ("report.html", "report.md", "comparison.csv"):
        assert stored[f"results/{NAME}/{name}"] == runs.after_first[name]
    assert not [key for key in stored if key.endswith(".lock")]


def test_the_final_manifest_and_done_markers_reach_results_uri(
    runs: Runs, s3_server: S3Server
) -> None:
    stored = objects(runs, s3_server, f"results/{NAME}/")
    final = [".done/experiment_report.json"]
    for folder in runs.run_dirs("remote").values():
        final += [f"{folder.name}/manifest.json", f"{folder.name}/.done/report.json"]
    local = runs.root / "remote" / "runs" / NAME  # as the last (second) run left them
    assert {key: stored.get(f"results/{NAME}/{key}") for key in final} == {
        key: (local / key).read_bytes() for key in final
    }


def test_a_second_run_reuses_everything_and_uploads_only_its_run_records(runs: Runs) -> None:
    """Every stage is skipped; the re-run rewrites each run's manifest.json (its
    timings), so that and the folder's file list are uploaded again, nothing else."""
    assert runs.second_run.stdout.count("skipped") == 2 * 3 + 1
    writes = [r for r in runs.second_requests if r["method"] in ("PUT", "POST", "DELETE")]
    names = {r["path"].rsplit("/", 1)[-1] for r in writes}
    assert names <= {"manifest.json", "vlmhb-manifest.json"}, names


def test_the_secret_key_is_written_nowhere(runs: Runs, s3_server: S3Server) -> None:
    secret = s3_server.secret_key.encode()
    for folder in (
        runs.root / "local" / "runs",
        runs.root / "remote" / "runs",
        runs.root / "cache",
    ):
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files
        leaked = [str(p) for p in files if secret in p.read_bytes()]
        assert leaked == []
    for proc in [*runs.procs, runs.second_run]:
        assert s3_server.secret_key not in proc.stdout + proc.stderr
    stored = objects(runs, s3_server)
    assert stored and [key for key, body in stored.items() if secret in body] == []


def test_validate_syncs_the_dataset_to_check_its_rows(runs: Runs, tmp_path: Path) -> None:
    env = {**runs.env, "VLMHB_DATA_CACHE_DIR": str(tmp_path / "cache")}
    proc = ok(vlmhb("validate", "experiment.yaml", cwd=runs.root / "remote", env=env))
    assert "26 sample(s)" in " ".join(proc.stdout.split())
    synced = list((tmp_path / "cache").rglob("annotation.csv"))
    assert synced and synced[0].read_bytes() == (runs.dataset / "annotation.csv").read_bytes()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_missing_bucket_is_a_clear_error(runs: Runs, tmp_path: Path, command: str) -> None:
    uri = "s3://no-such-bucket-vlmhb/datasets/ds"
    text = experiment_yaml(uri, runs.dataset / "annotation.csv")
    (tmp_path / "experiment.yaml").write_text(text, encoding="utf-8")
    env = {**runs.env, "VLMHB_DATA_CACHE_DIR": str(tmp_path / "cache")}
    proc = vlmhb(command, "experiment.yaml", cwd=tmp_path, env=env)
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    assert "datasets.0.uri" in output and "no-such-bucket-vlmhb" in output
    assert "Traceback" not in output
    assert not (tmp_path / "runs").exists()
