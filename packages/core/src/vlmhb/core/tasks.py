"""Task kinds: how samples are asked and, declared once here, which metrics and
aggregation levels a task of the kind gets when it lists none."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlmhb.core.contracts import TaskSpec
    from vlmhb.core.registry import Registry

ALL_LEVELS = ["by_id", "by_doc_question", "by_doc_type", "general"]


@dataclass(frozen=True)
class TaskKindInfo:
    """A task kind. ``per_document`` kinds send one request per document;
    ``default_metrics``/``default_aggregations`` fill a task that lists none."""

    name: str
    description: str
    default_metrics: list[str] = field(default_factory=list)
    per_document: bool = False
    default_aggregations: list[str] = field(default_factory=lambda: list(ALL_LEVELS))


def builtin_task_kinds() -> list[TaskKindInfo]:
    return [
        TaskKindInfo(
            "vqa", "one question per annotation row; free-text answer", ["cer", "wer", "anls"]
        ),
        TaskKindInfo(
            "extraction",
            "one request per document; a JSON answer scored per field",
            ["json_valid", "field_f1", "cer"],
            per_document=True,
        ),
        TaskKindInfo(
            "classification",
            "the document class of each image",
            ["accuracy", "macro_f1"],
            per_document=True,
            default_aggregations=["by_id", "by_doc_type", "general"],
        ),
        TaskKindInfo(
            "ordering",
            "the page order of a multi-page document",
            ["kendall_tau"],
            per_document=True,
            default_aggregations=["by_id", "by_doc_type", "general"],
        ),
    ]


def fill_task_defaults(tasks: Iterable[TaskSpec], kinds: Registry[TaskKindInfo]) -> None:
    """Give each task without ``metrics``/``aggregations`` its kind's defaults (in place).
    A task of an unknown kind is left as is; validation names the kind."""
    for task in tasks:
        if (task.metrics is not None and task.aggregations is not None) or task.kind not in kinds:
            continue
        info = kinds.get(task.kind)
        if task.metrics is None:
            task.metrics = list(info.default_metrics)
        if task.aggregations is None:
            task.aggregations = list(info.default_aggregations)
