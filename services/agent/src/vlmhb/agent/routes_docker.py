"""Routes of the host's engine: vlmhb containers (list, stop by label, logs, remove) and
images (list, build, pull, remove). No route runs a container: containers run only as
stage tasks (``POST /stages``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from vlmhb.agent import containers as ctr
from vlmhb.agent.images import ImageError, check_pull_ref, pull_image, remove_image
from vlmhb.agent.state import agent_state
from vlmhb.agent.wire import (
    BuildImages,
    ContainerInfo,
    ImageJob,
    Images,
    PullImage,
    StopContainers,
    StoppedContainers,
)
from vlmhb.containers.images.listing import list_images
from vlmhb.core.envs.policy import ContainerPolicyError, container_policy

router = APIRouter()


def _labels(selectors: list[str]) -> dict[str, str]:
    labels = {}
    for item in selectors:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"label {item!r}: expected k=v")
        labels[key] = value
    try:
        ctr.check_labels(labels)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    return labels


def _container(request: Request, container_id: str) -> ContainerInfo:
    state = agent_state(request)
    try:
        return ctr.get_container(state.docker(), state.settings.name, container_id)
    except ctr.NotAVlmhbContainer as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.get("/containers")
def list_containers(
    request: Request, label: Annotated[list[str] | None, Query()] = None
) -> list[ContainerInfo]:
    """This agent's containers with every ``label=k=v`` given."""
    state = agent_state(request)
    return ctr.list_containers(state.docker(), state.settings.name, _labels(label or []))


@router.post("/containers/stop")
def stop_containers(request: Request, body: StopContainers) -> StoppedContainers:
    labels = _labels([f"{k}={v}" for k, v in body.labels.items()])
    state = agent_state(request)
    return StoppedContainers(
        stopped=ctr.stop_containers(state.docker(), state.settings.name, labels)
    )


@router.get("/containers/{container_id}/logs")
def container_logs(
    request: Request,
    container_id: str,
    follow: bool = False,
    tail: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """The container's output lines, each with its timestamp; streamed while it runs when
    ``follow``."""
    info = _container(request, container_id)
    chunks = ctr.stream_logs(agent_state(request).docker(), info.id, follow, tail)
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")


@router.delete("/containers/{container_id}")
def remove_container(request: Request, container_id: str) -> dict[str, str]:
    state = agent_state(request)
    try:
        removed = ctr.remove_container(state.docker(), state.settings.name, container_id)
    except ctr.NotAVlmhbContainer as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return {"removed": removed}


@router.get("/images")
def images(request: Request) -> Images:
    return Images(images=list_images(agent_state(request).docker()))


@router.post("/images/build", status_code=status.HTTP_202_ACCEPTED)
def build_images(request: Request, body: BuildImages) -> ImageJob:
    """Build the project's images (``vlmhb images build``) in the background."""
    state = agent_state(request)
    return state.builds.start(state.docker(), body.names, body.force)


@router.get("/images/jobs/{job_id}")
def image_job(request: Request, job_id: str) -> ImageJob:
    job = agent_state(request).builds.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no image job {job_id}")
    return job


@router.post("/images/pull")
def pull(request: Request, body: PullImage) -> dict[str, str]:
    """Pull an allowed image from the registry its name gives (refused before any pull)."""
    try:
        check_pull_ref(body.ref)
    except ContainerPolicyError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    try:
        image_id = pull_image(agent_state(request).docker(), body.ref)
    except ImageError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from exc
    return {"ref": body.ref, "image_id": image_id}


@router.delete("/images/{ref:path}")
def delete_image(request: Request, ref: str) -> dict[str, str]:
    try:
        container_policy().check_image(ref)
    except ContainerPolicyError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    try:
        remove_image(agent_state(request).docker(), ref)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ImageError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return {"removed": ref}
