"""Built-in task kinds: how samples are asked and which metrics fit by default."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskKindInfo:
    """A task kind. ``per_document`` kinds send one request per document."""

    name: str
    description: str
    default_metrics: list[str] = field(default_factory=list)
    per_document: bool = False


def builtin_task_kinds() -> list[TaskKindInfo]:
    return [
        TaskKindInfo("vqa", "one question per annotation row; free-text answer",
                     ["cer", "wer", "anls", "exact_match"]),
        TaskKindInfo("extraction", "one request per document; a JSON answer scored per field",
                     ["json_valid", "field_f1", "cer"], per_document=True),
        TaskKindInfo("classification", "the document class of each image",
                     ["accuracy", "macro_f1"], per_document=True),
        TaskKindInfo("ordering", "the page order of a multi-page document",
                     ["kendall_tau"], per_document=True),
    ]
