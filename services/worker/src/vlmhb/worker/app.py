"""The Celery app of the job queue, built from ``WorkerSettings``: late acks, one message
prefetched at a time, no result backend (results go through the lease store), and the
queues stages are routed to by resource class and host."""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from vlmhb.core.contracts import StageTask
from vlmhb.worker.settings import WorkerSettings

TASK_NAME = "vlmhb.worker.run_stage"
CPU, GPU = "cpu", "gpu"


def queue_name(settings: WorkerSettings, resource_class: str, host: str | None = None) -> str:
    """``<prefix>cpu``, ``<prefix>gpu`` or ``<prefix>gpu.<host>`` (a stage pinned to a host)."""
    return settings.queue_prefix + (f"{resource_class}.{host}" if host else resource_class)


def route(settings: WorkerSettings, task: StageTask, host: str | None = None) -> str:
    """The queue of ``task``: ``gpu`` when it takes GPUs, else ``cpu``; ``gpu.<host>`` when
    pinned to ``host``."""
    return queue_name(settings, GPU if task.resources.gpus else CPU, host)


def make_app(settings: WorkerSettings) -> Celery:
    """The app for ``settings`` (the executor sends with it, ``vlmhb worker`` consumes)."""
    app = Celery("vlmhb-worker", broker=settings.broker_url, set_as_current=False)
    transport: dict[str, object] = {"visibility_timeout": settings.visibility_timeout_s}
    if settings.broker_url.startswith(("redis", "rediss")):
        # look for overdue unacked messages at least every 10 s (sooner when the timeout is
        # short), as kombu would with its defaults only every ~100 s
        transport["unacked_restore_interval"] = max(
            1, min(10, int(settings.visibility_timeout_s / 2))
        )
        transport["unacked_restore_throttle"] = 1
    if settings.broker_url.startswith("filesystem://"):
        inbox, processed = settings.broker_folders()
        inbox.mkdir(parents=True, exist_ok=True)
        processed.mkdir(parents=True, exist_ok=True)
        transport.update(
            data_folder_in=str(inbox),
            data_folder_out=str(inbox),
            processed_folder=str(processed),
            # kombu's default is ./control: exchange tables in the user's working directory
            control_folder=str(inbox.parent / "control"),
        )
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_default_queue=queue_name(settings, CPU),
        task_queues=[Queue(queue_name(settings, CPU)), Queue(queue_name(settings, GPU))],  # type: ignore[no-untyped-call]
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_ignore_result=True,
        result_backend=None,
    )
    return app
