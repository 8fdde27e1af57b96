"""A submitted config gets the dataset checks ``vlmhb validate`` makes (bug 5 of issue 8):
a dataset folder without its files, or filters that select nothing, is a 422 naming the
file relative to the data root, and nothing is stored."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml
from vlmhb_backend_testkit import submit


def _config(dataset: Path, **task: Any) -> str:
    return yaml.safe_dump(
        {
            "name": "inputs",
            "models": [{"name": "m", "backend": "scripted", "params": {"rule": "echo"}}],
            "datasets": [{"name": "d", "format": "vqa_csv", "path": str(dataset)}],
            "tasks": [{"name": "vqa", "dataset": "d", "metrics": ["cer"], **task}],
        },
        sort_keys=False,
    )


async def _refused(client: httpx.AsyncClient, body: str) -> str:
    response = await submit(client, body)
    assert response.status_code == 422, response.text
    listing = (await client.get("/api/v1/experiments")).json()
    assert listing["total"] == 0, listing
    detail: str = response.json()["detail"]
    return detail


async def test_a_dataset_folder_without_its_files_is_refused(
    client: httpx.AsyncClient, dataset: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    detail = await _refused(client, _config(empty))
    assert f"{tmp_path.name}/empty/annotation.csv: file not found" in detail
    assert str(tmp_path.parent) not in detail  # no server path


async def test_filters_that_select_nothing_are_refused(
    client: httpx.AsyncClient, dataset: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "synth"
    shutil.copytree(dataset, copy)
    detail = await _refused(client, _config(copy, filters={"doc_class": ["pasport"]}))
    assert "filters select no sample" in detail and "Did you mean 'passport'?" in detail
