"""Turn extraction documents into per-field VQA samples."""

from __future__ import annotations

from vlmhb.core.contracts import DatasetLoad, RowProblem, Sample


def expand_fields_to_vqa(
    load: DatasetLoad, question_template: str = "Напиши {field}"
) -> DatasetLoad:
    """One VQA sample per (document, field): id ``<doc id>:<field>``.

    ``question_type`` is the field name, ``answer`` its value, ``question`` the template
    filled with ``{field}``, and ``bbox`` the union of the field's boxes (from
    ``extra["field_bboxes"]``; None without boxes), so ``image_region: answer_bbox`` works.
    A field with an empty value has no reference answer and is reported, not expanded.
    Documents without ``fields`` pass through unchanged; problems are kept.
    """
    samples: list[Sample] = []
    problems = list(load.problems)
    for doc in load.samples:
        if doc.fields is None:
            samples.append(doc)
            continue
        all_boxes = doc.extra.get("field_bboxes", {})
        extra = {k: v for k, v in doc.extra.items() if k != "field_bboxes"}
        for name, value in doc.fields.items():
            sample_id = f"{doc.id}:{name}"
            if not value.strip():
                problems.append(
                    RowProblem(
                        source=doc.source,
                        field=name,
                        sample_id=sample_id,
                        message="empty field value: no reference answer",
                    )
                )
                continue
            samples.append(
                Sample(
                    id=sample_id,
                    image_path=doc.image_path,
                    question=question_template.format(field=name),
                    answer=value,
                    doc_class=doc.doc_class,
                    question_type=name,
                    bbox=_union(all_boxes.get(name, [])),
                    split=doc.split,
                    source=doc.source,
                    extra={**extra, "document_id": doc.id},
                )
            )
    return DatasetLoad(samples=samples, problems=problems)


def _union(boxes: list[list[float]]) -> tuple[float, float, float, float] | None:
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
