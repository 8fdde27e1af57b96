"""Per-sample rows of a run, one sample across runs, and sample images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response
from PIL import Image, UnidentifiedImageError

from vlmhb.backend.api.deps import ExperimentDep, ServicesDep
from vlmhb.backend.api.run_lookup import RunDep, find_run_by_id
from vlmhb.backend.compare import compare_runs
from vlmhb.backend.db.models import Run
from vlmhb.backend.paths import is_inside
from vlmhb.backend.run_files import RunFileCache, SampleData
from vlmhb.backend.schemas import (
    INVALID,
    NOT_FOUND,
    SECURED_RESPONSES,
    ComparePage,
    SampleImages,
    SamplePage,
    SampleRow,
)
from vlmhb.core.prepare import cropped_png

router = APIRouter(tags=["samples"], responses={**SECURED_RESPONSES, **INVALID})
CACHE = RunFileCache()
MAX_COMPARE = 10
RUN_IDS = rf"^[0-9]{{1,9}}(,[0-9]{{1,9}}){{0,{MAX_COMPARE - 1}}}$"


def sample_images(run: Run, fields: dict[str, Any]) -> SampleImages:
    """The image links of a sample row (``SampleData.row``; its image keys are taken out)."""
    has_image = fields.pop("has_image")
    crop_box = fields.pop("crop_box")
    answer_box = fields.pop("answer_box")
    if not has_image:
        return SampleImages()
    url = (
        f"/api/v1/experiments/{run.experiment_id}/runs/{quote(run.name)}/image"
        f"?sample_id={quote(str(fields['id']), safe='')}"
    )
    return SampleImages(
        image_url=url,
        crop_url=f"{url}&crop=true" if crop_box else None,
        answer_box=list(answer_box) if answer_box else None,
    )


@router.get(
    "/experiments/{experiment_id}/runs/{run}/samples",
    response_model=SamplePage,
    responses=NOT_FOUND,
)
def run_samples(
    experiment: ExperimentDep,
    found: RunDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    errors_only: bool = False,
) -> SamplePage:
    """Samples of a run (``run`` = its name or numeric id), paged: image link, question,
    ground truth, answer, per-sample metrics and timings."""
    row, run_dir = found
    data = CACHE.get(run_dir)
    ids = data.error_ids if errors_only else data.order
    items = []
    for sample_id in ids[offset : offset + limit]:
        fields = data.row(sample_id)
        images = sample_images(row, fields)
        items.append(SampleRow(**fields, **images.model_dump()))
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
    found: RunDep,
    sample_id: Annotated[str, Query(min_length=1, max_length=500)],
    crop: Annotated[
        bool, Query(description="the region the model was sent (answer_bbox tasks), as PNG")
    ] = False,
) -> Response:
    """The image of one sample, served only from inside the run's dataset folder; with
    ``crop=true`` the crop the model received (404 when the sample was not cropped)."""
    data = CACHE.get(found.path)
    sample = data.samples.get(sample_id)
    if not sample or not sample.get("image_path") or data.dataset_path is None:
        raise HTTPException(404, "no image for this sample")
    path = Path(sample["image_path"])
    if not path.is_absolute():
        path = data.dataset_path / path
    if not is_inside(data.dataset_path, path) or not path.is_file():
        raise HTTPException(404, "image not found inside the dataset folder")
    if not crop:
        return FileResponse(path)
    if not sample.get("crop_box"):
        raise HTTPException(404, "this sample was sent uncropped")
    try:
        with Image.open(path) as image:
            png = cropped_png(image, tuple(sample["crop_box"]))
    except (OSError, UnidentifiedImageError, ValueError):
        raise HTTPException(404, "the sample's crop cannot be made from its image") from None
    return Response(png, media_type="image/png")


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
    found = [find_run_by_id(services, int(run_id)) for run_id in run_ids]
    for run_id, (_, run_dir) in zip(run_ids, found, strict=True):
        loaded.append((run_id, CACHE.get(run_dir)))
    first_run = found[0][0]
    return compare_runs(
        loaded, offset, limit, only_different, lambda fields: sample_images(first_run, fields)
    )
