"""The sample explorer's images: the full page with the answer's box, the crop the model
was sent (``.../image?crop=true``, made by core's ``cropped_png`` from the crop box that
``prepare.py`` decided), the same links in the comparison, and the dataset-folder check."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from vlmhb_backend_testkit import submit, wait_status

API = "/api/v1"


def _config(dataset: Path) -> str:
    return (
        "name: crops\n"
        "models:\n  - {name: echo, backend: scripted, params: {rule: echo}}\n"
        f"datasets:\n  - {{name: synth, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n"
        "  - {name: cropped, dataset: synth, kind: vqa, metrics: [cer],\n"
        "     image_region: answer_bbox}\n"
        "  - {name: full, dataset: synth, kind: vqa, metrics: [cer]}\n"
    )


async def _first_sample(client: httpx.AsyncClient, exp_id: str, run: dict[str, Any]) -> Any:
    page = await client.get(f"{API}/experiments/{exp_id}/runs/{run['id']}/samples?limit=1")
    assert page.status_code == 200, page.text
    return page.json()["items"][0]


def _png(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


async def test_crop_is_what_the_model_received_and_the_page_has_the_box(
    client: httpx.AsyncClient, dataset: Path, make_settings: Any
) -> None:
    exp_id = (await submit(client, _config(dataset))).json()["id"]
    body = await wait_status(client, exp_id)
    assert body["status"] == "COMPLETED", body
    runs = {r["task"]: r for r in body["runs"]}

    cropped = await _first_sample(client, exp_id, runs["cropped"])
    run_dir = make_settings().runs_dir / "crops" / runs["cropped"]["name"]
    prepared = json.loads((run_dir / "samples.jsonl").read_text().splitlines()[0])
    x1, y1, x2, y2 = prepared["crop_box"]
    assert cropped["answer_box"] == [x1, y1, x2, y2]
    assert cropped["crop_url"] == cropped["image_url"] + "&crop=true"
    crop = _png(await client.get(cropped["crop_url"]))
    page = Image.open(prepared["image_path"])
    assert crop.size == (x2 - x1, y2 - y1)
    assert crop.convert("RGB").tobytes() == page.crop((x1, y1, x2, y2)).convert("RGB").tobytes()
    full = await client.get(cropped["image_url"])
    assert full.status_code == 200 and Image.open(io.BytesIO(full.content)).size == page.size

    # a task sent the full page: no crop link, the dataset's box is still drawn
    uncropped = await _first_sample(client, exp_id, runs["full"])
    assert uncropped["crop_url"] is None and len(uncropped["answer_box"]) == 4
    refused = await client.get(uncropped["image_url"] + "&crop=true")
    assert refused.status_code == 404 and "uncropped" in refused.json()["detail"]

    # the comparison shows the first run's images
    ids = f"{runs['cropped']['id']},{runs['full']['id']}"
    compared = (await client.get(f"{API}/samples/compare", params={"runs": ids})).json()
    first = compared["items"][0]
    assert first["crop_url"] == cropped["crop_url"] and first["image_url"] == cropped["image_url"]

    # the leaderboard: each run's macro values, for the UI's per-metric panels
    analytics = (await client.get(f"{API}/analytics/{exp_id}")).json()
    rows = {r["task"]: r for r in analytics["leaderboard"]}
    assert set(rows) == {"cropped", "full"} and rows["full"]["model"] == "echo"
    assert rows["full"]["values"]["cer"] >= 0 and "latency_ms_p50" in analytics["timing_metrics"]
    assert "leaderboard" not in analytics["figures"]


async def test_images_come_only_from_inside_the_dataset_folder(
    client: httpx.AsyncClient, dataset: Path, make_settings: Any, tmp_path: Path
) -> None:
    exp_id = (await submit(client, _config(dataset).replace("crops", "escape"))).json()["id"]
    body = await wait_status(client, exp_id)
    run = next(r for r in body["runs"] if r["task"] == "cropped")
    sample = await _first_sample(client, exp_id, run)
    outside = tmp_path / "secret.png"
    Image.new("RGB", (50, 50)).save(outside)
    samples = make_settings().runs_dir / "escape" / run["name"] / "samples.jsonl"
    lines = samples.read_text().splitlines()
    first = json.loads(lines[0]) | {"image_path": str(outside)}
    samples.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    for url in (sample["image_url"], sample["crop_url"]):
        response = await client.get(url)
        assert response.status_code == 404, url
        assert "inside the dataset folder" in response.json()["detail"]
