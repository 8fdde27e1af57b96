"""Per-sample rows of a run, one sample across runs, and sample images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from vlmhb.backend.api.experiments import ExperimentId
from vlmhb.backend.api.run_lookup import find_run
from vlmhb.backend.db.models import Run
from vlmhb.backend.paths import is_inside
from vlmhb.backend.run_files import RunFileCache, SampleData
from vlmhb.backend.schemas import (
    INVALID,
    NOT_FOUND,
    SECURED_RESPONSES,
    ComparePage,
    CompareRow,
    SamplePage,
    SampleRow,
)
from vlmhb.backend.services import Services, get_services

router = APIRouter(tags=["samples"], responses={**SECURED_RESPONSES, **INVALID})
ServicesDep = Annotated[Services, Depends(get_services)]
CACHE = RunFileCache()
RunName = Annotated[
    str, PathParam(min_length=1, max_length=255, description="run name, or its numeric id")
]
MAX_COMPARE = 10
RUN_IDS = rf"^[0-9]{{1,9}}(,[0-9]{{1,9}}){{0,{MAX_COMPARE - 1}}}$"


def _image_url(experiment_id: str, run: Run, sample_id: str) -> str:
    return (
        f"/api/v1/experiments/{experiment_id}/runs/{quote(run.name)}/image"
        f"?sample_id={quote(sample_id, safe='')}"
    )


@router.get(
    "/experiments/{experiment_id}/runs/{run}/samples",
    response_model=SamplePage,
    responses=NOT_FOUND,
)
def run_samples(
    experiment_id: ExperimentId,
    run: RunName,
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    errors_only: bool = False,
) -> SamplePage:
    """Samples of a run (``run`` = its name or numeric id), paged: image link, question,
    ground truth, answer, per-sample metrics and timings."""
    row, run_dir = find_run(services, experiment_id, run)
    data = CACHE.get(run_dir)
    ids = data.order
    if errors_only:
        ids = [i for i in ids if (data.answers.get(i) or {}).get("error")]
    items = []
    for sample_id in ids[offset : offset + limit]:
        fields = data.row(sample_id)
        has_image = fields.pop("has_image")
        items.append(
            SampleRow(
                **fields, image_url=_image_url(experiment_id, row, sample_id) if has_image else None
            )
        )
    return SamplePage(run=row.name, items=items, total=len(ids), offset=offset, limit=limit)


@router.get(
    "/experiments/{experiment_id}/runs/{run}/image",
    response_class=Response,
    responses={
        200: {
            "description": "the image file",
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **NOT_FOUND,
    },
)
def sample_image(
    experiment_id: ExperimentId,
    run: RunName,
    services: ServicesDep,
    sample_id: Annotated[str, Query(min_length=1, max_length=500)],
) -> FileResponse:
    """The image of one sample, served only from inside the run's dataset folder."""
    _, run_dir = find_run(services, experiment_id, run)
    data = CACHE.get(run_dir)
    sample = data.samples.get(sample_id)
    if not sample or not sample.get("image_path") or data.dataset_path is None:
        raise HTTPException(404, "no image for this sample")
    path = Path(sample["image_path"])
    if not path.is_absolute():
        path = data.dataset_path / path
    if not is_inside(data.dataset_path, path) or not path.is_file():
        raise HTTPException(404, "image not found inside the dataset folder")
    return FileResponse(path)


@router.get("/samples/compare", response_model=ComparePage, responses=NOT_FOUND)
def compare_samples(
    services: ServicesDep,
    runs: Annotated[
        str,
        Query(
            pattern=RUN_IDS,
            description="run ids (the `id` of runs in an experiment "
            f"detail), comma-separated, 1 to {MAX_COMPARE}; "
            "repeats count once, deltas are against the "
            "first",
        ),
    ],
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    only_different: Annotated[bool, Query(description="only samples whose answers differ")] = False,
) -> ComparePage:
    """The same samples across runs, with metric deltas against the first run (a run
    given twice counts once, so one run compares with itself: deltas are zero)."""
    run_ids = list(dict.fromkeys(str(int(r)) for r in runs.split(",")))
    loaded: list[tuple[str, SampleData]] = []
    for run_id in run_ids:
        with services.db.session() as session:
            row = session.get(Run, int(run_id))
            if row is None:
                raise HTTPException(404, f"run {run_id} not found")
            experiment_id = row.experiment_id
        _, run_dir = find_run(services, experiment_id, run_id)
        loaded.append((run_id, CACHE.get(run_dir)))
    first_id, first = loaded[0]
    metrics = [m for m in first.metric_names if all(m in d.metric_names for _, d in loaded)]
    ids = list(first.order) + [
        i
        for _, d in loaded[1:]
        for i in d.order
        if i not in first.samples and i not in first.answers
    ]
    ids = list(dict.fromkeys(ids))
    if only_different:
        ids = [
            i
            for i in ids
            if len({(d.answers.get(i) or {}).get("model_answer") for _, d in loaded}) > 1
        ]
    items = []
    for sample_id in ids[offset : offset + limit]:
        rows = {run_id: data.row(sample_id) for run_id, data in loaded}
        base = rows[first_id]
        values = {m: {run_id: r["metrics"].get(m) for run_id, r in rows.items()} for m in metrics}
        deltas = {
            m: {
                run_id: (v - values[m][first_id])
                if v is not None and values[m][first_id] is not None
                else None
                for run_id, v in values[m].items()
            }
            for m in metrics
        }
        reference = next((r for r in rows.values() if r["question"] or r["ground_truth"]), base)
        items.append(
            CompareRow(
                id=sample_id,
                question=reference["question"],
                ground_truth=reference["ground_truth"],
                doc_class=reference["doc_class"],
                question_type=reference["question_type"],
                answers={run_id: r["answer"] for run_id, r in rows.items()},
                metrics=values,
                deltas=deltas,
            )
        )
    return ComparePage(
        runs=[r for r, _ in loaded],
        metrics=metrics,
        items=items,
        total=len(ids),
        offset=offset,
        limit=limit,
    )
