"""The New-experiment page's example (``GET /api/v1/examples/experiment``) runs as it is
on the server that serves it, and problems of a submitted config's datasets and prompts
are named at the line and field of the file sent."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml
from vlmhb_backend_testkit import api_client, submit, wait_status

from vlmhb.backend.examples import find_datasets
from vlmhb.backend.submission import load_spec
from vlmhb.core.config.policy import SubmissionPolicy

EXAMPLE = "/api/v1/examples/experiment"
QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart"


async def test_the_example_runs_as_it_is(make_settings: Any, dataset: Path) -> None:
    """The example names the data root's dataset; submitted back verbatim it validates
    and runs to completion (two oracle runs with their reports)."""
    async with api_client(make_settings(data_root=dataset.parent)) as client:
        response = await client.get(EXAMPLE)
        assert response.status_code == 200, response.text
        example = response.json()
        assert example["format"] == "yaml" and example["dataset"] == dataset.name
        assert yaml.safe_load(example["text"])["datasets"][0]["path"] == dataset.name
        accepted = await submit(client, example["text"])
        assert accepted.status_code == 202, accepted.text
        final = await wait_status(client, accepted.json()["id"])
        assert final["status"] == "COMPLETED", final["message"]
        assert sorted(run["model"] for run in final["runs"]) == ["noisy-oracle", "oracle"]
        states = {s["state"] for run in final["runs"] for s in run["stages"]}
        assert states == {"COMPLETED"}, final["runs"]


async def test_the_example_needs_a_dataset_and_says_how_to_make_one(
    make_settings: Any, tmp_path: Path
) -> None:
    root = tmp_path / "empty-root"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "annotation.csv").write_text("a;b\n1;2\n")  # not a VQA table
    async with api_client(make_settings(data_root=root)) as client:
        response = await client.get(EXAMPLE)
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert "VLMHB_DATA_ROOT" in detail and "vlmhb datasets synth --out" in detail
    assert str(root) not in detail


async def test_the_example_is_behind_auth(make_settings: Any, dataset: Path) -> None:
    async with api_client(make_settings(data_root=dataset.parent), authenticated=False) as client:
        assert (await client.get(EXAMPLE)).status_code == 401


def test_the_quickstart_example_validates(tmp_path: Path) -> None:
    """With the quickstart's data root the example uses its committed dataset."""
    from vlmhb.backend.examples import example_config

    example = example_config(QUICKSTART)
    assert example.dataset == "data/quickstart"
    path = tmp_path / "experiment.yaml"
    path.write_text(example.text)
    policy = SubmissionPolicy(data_roots=(QUICKSTART.resolve(),), output_root=tmp_path / "runs")
    spec = load_spec(path, policy)
    assert [m.name for m in spec.models] == ["oracle", "noisy-oracle"]


def test_datasets_are_found_generated_first_without_links_or_hidden(
    tmp_path: Path, dataset: Path
) -> None:
    header = "image_path;question;answer\n"
    for rel in ("a/plain", "b/c/deep", ".hidden/x"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "annotation.csv").write_text(header + "x.png;q;a\n")
    shutil.copytree(dataset, tmp_path / "z" / "generated")
    (tmp_path / "link").symlink_to(tmp_path / "a", target_is_directory=True)
    assert find_datasets(tmp_path) == ["z/generated", "a/plain", "b/c/deep"]


async def test_dataset_problems_name_the_line_and_field_sent(
    client: httpx.AsyncClient, tmp_path_factory: Any, dataset: Path
) -> None:
    """A dataset folder without its table, a prompt file that is not JSON, filters that
    leave nothing: each at its entry in the submitted text."""
    root = tmp_path_factory.getbasetemp()
    (root / "no-table").mkdir(exist_ok=True)
    (root / "broken-prompts.json").write_text("{bad")
    base = (
        "name: located\nmodels:\n  - {name: echo, backend: scripted, params: {rule: echo}}\n"
        "datasets:\n  - name: d\n    format: vqa_csv\n    path: DATASET\n"
        "tasks:\n  - name: t\n    dataset: d\n"
    )
    synth = dataset
    cases = {
        "experiment.yaml:7: field 'datasets.0.path': no-table/annotation.csv": base.replace(
            "DATASET", "no-table"
        ),
        "experiment.yaml:12: field 'tasks.0.prompts.0': broken-prompts.json:1": base.replace(
            "DATASET", str(synth)
        )
        + "    prompts:\n      - broken-prompts.json\n",
        "experiment.yaml:9: field 'tasks.0': dataset 'd'": base.replace("DATASET", str(synth))
        + "    filters: {doc_class: [nope]}\n",
    }
    for expected, body in cases.items():
        response = await submit(client, body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail.startswith(expected), detail
        assert str(root) not in detail


async def test_a_legacy_pair_is_refused_at_its_row_without_server_folders(
    client: httpx.AsyncClient, make_settings: Any
) -> None:
    """The quickstart's pair names its dataset relative to its own folder: on a server
    that is a missing dataset, named at its row; one file alone names the one missing."""
    pair = {
        name: (name, (QUICKSTART / "legacy" / name).read_bytes())
        for name in ("user_config.csv", "vlm_base.csv")
    }
    response = await client.post("/api/v1/experiments", files=pair)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("user_config.csv:2 [dataset]: dataset '../data/quickstart'"), detail
    assert str(make_settings().data_dir) not in detail and "/tmp" not in detail
    alone = await client.post(
        "/api/v1/experiments", files={"user_config.csv": pair["user_config.csv"]}
    )
    assert alone.status_code == 422
    assert alone.json()["detail"].endswith("(missing vlm_base.csv)")
