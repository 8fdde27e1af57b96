"""Scale: the pipeline's file-bound steps at 10,000 and 100,000 samples, and the API on them.

A synthetic ``vqa_csv`` dataset of N rows is generated here (fixed seed; 50 small PNG
pages shared by the rows, questions and answers of 1-40 characters), with an experiment
of one run (``scripted`` model, never asked; metrics cer, wer, anls, exact_match). For
N = 10k and 100k, each step runs in a fresh ``python`` subprocess (this file with
``--step``), best wall of ``--repeats``; its peak RSS is the subprocess's own
``ru_maxrss`` from ``os.wait4`` (per child, unlike ``RUSAGE_CHILDREN``, which keeps the
largest child so far), and ``added_mb`` = peak minus the RSS just before the step (after
imports), i.e. what the step itself held:

- ``plan``: ``load_experiment`` + ``plan_experiment`` (with the dataset fingerprint);
- ``prepare``: the first inference start's ``prepare_run_inputs`` (read the dataset,
  check images, write ``samples.jsonl``);
- ``resume``: what the inference stage does before it sends on a re-run: its
  ``load_prepared`` (``samples.jsonl``), ``AnswersFile.recover`` of a half-finished
  ``answers.csv`` (N/2 rows and a half-written one) and the pending list;
- ``evaluation``, ``report``, ``experiment_report``: the stages through
  ``run_stage_file`` (what ``vlmhb stage run`` calls), on a complete ``answers.csv``
  (answers with noise: edits, empty answers, error rows).

Each step's ``ratio`` is 100k/10k wall (≈ 10 when linear); ``added_mb_ratio`` likewise.

Then the API, on one real ``vlmhb serve`` (SQLite file) whose database holds the 100k run
(experiment and run rows through the backend's crud and models) and 10,000 seeded
experiments (``api_list.seed``):

- ``GET .../runs/{run}/samples?offset=&limit=50``: the first page after the start (the
  run's files parsed into the cache) apart from the warm pages at offsets across the
  range, p50/p95/max, plus ``errors_only`` pages. Target p95 <= 50 ms.
- ``GET /api/v1/experiments`` with 10,000 experiments: ``api_list.measure_list`` (first
  page, filters, search, sort, deep offset). Target p95 <= 50 ms.

Writes ``benchmarks/results/scale.json``.
Run: ``.venv/bin/python benchmarks/scale.py [--sizes 10000,100000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image
from results_file import environment, write_results

from vlmhb.core.files import ANSWER_COLUMNS
from vlmhb.data.readers.vqa_csv import VQA_COLUMNS

SEED = 7
PAGES = 50
ALPHABET = "абвгдежзийклмнопрстуфхцчшщыэюяАБВabcdefXYZ0123456789.,:-   "
DOC_CLASSES = ("passport", "invoice", "snils")
FIELDS = ("number", "date", "name", "total", "address")
METRICS = ["cer", "wer", "anls", "exact_match"]
STEPS = ("plan", "prepare", "resume", "evaluation", "report", "experiment_report")
STAGE_STEPS = {"evaluation", "report", "experiment_report"}
PAGE_TARGET_MS = 50.0
TASKS_DIR = "stage-tasks"


# ---------------------------------------------------------------------------- the data
def write_dataset(root: Path, rows: int) -> list[str]:
    """``root/annotation.csv`` of ``rows`` questions over ``PAGES`` shared images; the
    answers (ground truth) in row order, whose 0-based number is the sample id."""
    rng = random.Random(SEED)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    for page in range(PAGES):
        shade = (page * 5 % 256, 255 - page * 5 % 256, 128)
        Image.new("RGB", (64, 48), shade).save(images / f"page{page:03d}.png")
    answers = []
    with (root / "annotation.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow([c for c in VQA_COLUMNS if c != "answer_bbox"])
        for i in range(rows):
            answer = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40))).strip()
            answer = answer or "x"
            field = rng.choice(FIELDS)
            writer.writerow(
                [
                    i,
                    "test",
                    f"images/page{i % PAGES:03d}.png",
                    f"What is the {field} on this document?",
                    answer,
                    DOC_CLASSES[i % len(DOC_CLASSES)],
                    field,
                ]
            )
            answers.append(answer)
    return answers


def noisy(answer: str, rng: random.Random) -> tuple[str, str]:
    """A model's answer to ``answer`` and its error: mostly exact, some edited, a few
    empty or failed requests, so every metric has something to score."""
    roll = rng.random()
    if roll < 0.02:
        return "", "HTTP 503: overloaded"
    if roll < 0.07:
        return "", ""
    if roll < 0.70:
        return answer, ""
    chars = list(answer)
    for _ in range(rng.randint(1, 4)):
        chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
    return "".join(chars), ""


def write_answers(path: Path, truth: list[str], rows: int, partial: bool) -> None:
    """``answers.csv`` with the first ``rows`` samples answered (timings filled), and
    with ``partial`` a half-written row after them, as a killed run leaves it."""
    rng = random.Random(SEED + 1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(ANSWER_COLUMNS)
        for i in range(rows):
            answer, error = noisy(truth[i], rng)
            latency = rng.uniform(20, 80)
            values = {
                "id": str(i),
                "model_answer": answer,
                "error": error,
                "ttft_ms": f"{latency / 4:.3f}",
                "latency_ms": f"{latency:.3f}",
                "tpot_ms": f"{rng.uniform(1, 3):.3f}",
                "prompt_tokens": str(rng.randint(300, 900)),
                "completion_tokens": str(rng.randint(1, 20)),
                "attempts": "1",
                "queue_ms": f"{rng.uniform(0, 2):.3f}",
                "itl_ms_mean": f"{rng.uniform(1, 3):.3f}",
                "itl_ms_max": f"{rng.uniform(3, 9):.3f}",
                "error_type": "http_5xx" if error else "",
            }
            writer.writerow([values[c] for c in ANSWER_COLUMNS])
        if partial:
            handle.write(f"{rows};half-written answ")


def write_config(folder: Path, dataset: Path, name: str, runs: Path) -> Path:
    config = {
        "name": name,
        "output_dir": str(runs),
        "models": [{"name": "echo", "backend": "scripted", "params": {"rule": "echo"}}],
        "datasets": [{"name": "synth", "format": "vqa_csv", "path": str(dataset)}],
        "tasks": [{"name": "vqa", "dataset": "synth", "kind": "vqa", "metrics": METRICS}],
    }
    path = folder / "experiment.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- the steps (child)
def _rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _task(folder: Path, stage: str) -> Any:
    from vlmhb.core.contracts import StageTask

    return StageTask.model_validate_json((folder / TASKS_DIR / f"{stage}.json").read_text())


def warm(stage: str | None = None) -> None:
    """Import what a step loads through the registries (the backend the config names,
    the dataset reader, the stage and its metrics or reports), so the clock measures the
    work, not imports."""
    from vlmhb.core.registries import get_registries

    registries = get_registries()
    registries.models.get("scripted")
    registries.datasets.get("vqa_csv")
    if stage is not None:
        registries.stages.get(stage)
        for name in METRICS:
            registries.metrics.get(name)
        for name in registries.reports.names():
            registries.reports.get(name)


def step_plan(folder: Path) -> Callable[[], dict[str, Any]]:
    from vlmhb.core.config.loader import load_experiment
    from vlmhb.core.orchestration.graph import plan_experiment

    warm()

    def run() -> dict[str, Any]:
        graph = plan_experiment(load_experiment(folder / "experiment.json"))
        # the later steps' task files (the orchestrator writes the same ones)
        (folder / TASKS_DIR).mkdir(exist_ok=True)
        for task in graph:
            (folder / TASKS_DIR / f"{task.stage.value}.json").write_text(task.model_dump_json())
        return {"tasks": len(graph.tasks), "fingerprint": graph.runs[0].dataset_fingerprint}

    return run


def step_prepare(folder: Path) -> Callable[[], dict[str, Any]]:
    from vlmhb.core.prepare import prepare_run_inputs

    warm()
    task = _task(folder, "inference")

    def run() -> dict[str, Any]:
        task.run_dir.mkdir(parents=True, exist_ok=True)
        prepared = prepare_run_inputs(task.run, task.run_dir)
        return {"samples": len(prepared.samples), "problems": len(prepared.problems)}

    return run


def step_resume(folder: Path) -> Callable[[], dict[str, Any]]:
    from vlmhb.core.files import ANSWERS_FILE
    from vlmhb.core.rundir import AnswersFile
    from vlmhb.inference.stage import load_prepared

    task = _task(folder, "inference")

    def run() -> dict[str, Any]:  # InferenceStage.run up to the first request
        seen: set[str] = set()
        samples = []
        for sample in load_prepared(task):  # the stage's _unique
            if sample.id not in seen:
                seen.add(sample.id)
                samples.append(sample)
        finished = set(AnswersFile(task.run_dir / ANSWERS_FILE).recover())
        pending = [s for s in samples if s.id not in finished]
        return {"samples": len(samples), "answered": len(finished), "pending": len(pending)}

    return run


def step_stage(stage: str) -> Callable[[Path], Callable[[], dict[str, Any]]]:
    def make(folder: Path) -> Callable[[], dict[str, Any]]:
        from vlmhb.core.contracts import StageResult
        from vlmhb.core.stage_runner import run_stage_file

        warm(stage)
        task_file = folder / TASKS_DIR / f"{stage}.json"
        result_file = folder / TASKS_DIR / f"{stage}.result.json"

        def run() -> dict[str, Any]:
            run_stage_file(task_file, result_file)
            result = StageResult.model_validate_json(result_file.read_text())
            if result.status.value != "COMPLETED":
                raise RuntimeError(f"{stage}: {result.status.value}: {result.message}")
            return {"stage_s": round(result.duration_s or 0, 3), "message": result.message}

        return run

    return make


MAKERS: dict[str, Callable[[Path], Callable[[], dict[str, Any]]]] = {
    "plan": step_plan,
    "prepare": step_prepare,
    "resume": step_resume,
    **{name: step_stage(name) for name in STAGE_STEPS},
}


def child(step: str, folder: Path, out: Path) -> None:
    """Run one step (imports and task loading before the clock) and write its figures."""
    run = MAKERS[step](folder)
    before = _rss_now_mb()
    started = time.perf_counter()
    figures = run()
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(
        json.dumps({"wall_s": wall, "rss_before_mb": before, "peak_mb": peak, **figures}),
        encoding="utf-8",
    )


# ---------------------------------------------------------------------------- the parent
def measure(step: str, folder: Path, before: Callable[[], object] | None = None) -> dict[str, Any]:
    """One step in a fresh subprocess; its figures and its peak RSS from ``os.wait4``;
    ``process_s``: the subprocess's whole wall (interpreter start and imports too)."""
    if before is not None:
        before()
    out = folder / f"{step}.figures.json"
    started = time.perf_counter()
    with (folder / f"{step}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--step", step, "--folder", str(folder), "--out", str(out)],
            stdout=log,
            stderr=log,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{(folder / f'{step}.log').read_text()[-3000:]}")
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    figures["process_s"] = round(time.perf_counter() - started, 3)
    return figures


def best(
    step: str, folder: Path, repeats: int, before: Callable[[], object] | None = None
) -> dict[str, Any]:
    """The step ``repeats`` times (``before`` each); the run of the best wall."""
    runs = [measure(step, folder, before) for _ in range(repeats)]
    top = min(runs, key=lambda r: r["wall_s"])
    top.pop("peak_mb", None)
    top["wall_s"] = round(top["wall_s"], 3)
    top["walls_s"] = [round(r["wall_s"], 3) for r in runs]
    top["added_mb"] = round(top["peak_rss_mb"] - top.pop("rss_before_mb"), 1)
    top["peak_rss_mb"] = round(top["peak_rss_mb"], 1)
    return top


def run_size(root: Path, rows: int, repeats: int) -> tuple[dict[str, Any], Path, Path]:
    """Every step at ``rows`` samples; the figures, the experiment folder and config."""
    folder = root / f"n{rows}"
    folder.mkdir()
    started = time.perf_counter()
    truth = write_dataset(folder / "data", rows)
    config = write_config(folder, folder / "data", f"scale-{rows}", root / "runs")
    figures: dict[str, Any] = {"generate_s": round(time.perf_counter() - started, 2)}
    figures["plan"] = best("plan", folder, repeats)
    figures["prepare"] = best("prepare", folder, repeats)
    run_dir = Path(json.loads((folder / TASKS_DIR / "inference.json").read_text())["run_dir"])
    half = folder / "answers-half.csv"
    write_answers(half, truth, rows // 2, partial=True)
    answers = run_dir / "answers.csv"
    figures["resume"] = best("resume", folder, repeats, lambda: shutil.copyfile(half, answers))
    assert figures["resume"]["pending"] == rows - rows // 2, figures["resume"]
    write_answers(answers, truth, rows, partial=False)
    for stage in ("evaluation", "report", "experiment_report"):
        figures[stage] = best(stage, folder, repeats)
    print(f"[{rows}] " + ", ".join(f"{s} {figures[s]['wall_s']} s" for s in STEPS), flush=True)
    return figures, run_dir, config


def growth(small: dict[str, Any], large: dict[str, Any], factor: float) -> dict[str, Any]:
    """Per step: 100k/10k of wall and of the memory the step added; ``super_linear``
    where the wall grew more than 1.5 × the size factor."""
    out = {}
    for step in STEPS:
        a, b = small[step], large[step]
        wall = b["wall_s"] / a["wall_s"] if a["wall_s"] else None
        mem = b["added_mb"] / a["added_mb"] if a["added_mb"] > 1 else None
        out[step] = {
            "wall_ratio": round(wall, 2) if wall else None,
            "added_mb_ratio": round(mem, 2) if mem else None,
            "super_linear": bool(wall and wall > 1.5 * factor),
        }
    return out


# ---------------------------------------------------------------------------- the API
# (imported here, not at the top: the step subprocesses never load the backend stack)
def register_run(url: str, config: Path, run_dir: Path, rows: int) -> tuple[str, str]:
    """The experiment of ``config`` and its run, COMPLETED, in the backend's database
    (through its crud and models); its id and the run's name."""
    from vlmhb.backend.crud import experiments
    from vlmhb.backend.db.engine import Database
    from vlmhb.backend.db.migrate import upgrade
    from vlmhb.backend.db.models import Run
    from vlmhb.core.config.loader import load_experiment

    upgrade(url)
    spec = load_experiment(config)
    db = Database(url)
    experiment_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    with db.session() as session:
        experiments.insert(session, experiment_id, spec, "json", config)
        session.flush()
        row = experiments.get(session, experiment_id)
        assert row is not None
        row.status, row.progress, row.started_at, row.finished_at = "COMPLETED", 1.0, now, now
        session.add(
            Run(
                experiment_id=experiment_id,
                name=run_dir.name,
                model="echo",
                task="vqa",
                state="COMPLETED",
                done=rows,
                total=rows,
            )
        )
    db.dispose()
    return experiment_id, run_dir.name


def page_stats(times: list[float]) -> dict[str, Any]:
    from api_list import percentile

    return {
        "requests": len(times),
        "p50_ms": round(percentile(times, 0.5), 2),
        "p95_ms": round(percentile(times, 0.95), 2),
        "max_ms": round(max(times), 2),
    }


def measure_samples(base: str, path: str, rows: int, requests: int) -> dict[str, Any]:
    """The first page after the server's start, then ``requests`` warm pages at offsets
    across the run (first, last, random) and as many ``errors_only`` pages (offsets
    across the error rows)."""
    import httpx
    from api_list import AUTH

    rng = random.Random(SEED)
    offsets = [0, rows - 50] + [rng.randrange(0, rows - 50) for _ in range(requests - 2)]
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=120, headers=AUTH) as client:
        started = time.perf_counter()
        first = client.get(path, params={"offset": 0, "limit": 50})
        out["cold_first_page_ms"] = round((time.perf_counter() - started) * 1000, 1)
        first.raise_for_status()
        assert first.json()["total"] == rows, first.json()["total"]
        errors = client.get(path, params={"limit": 1, "errors_only": "true"}).json()["total"]
        out["error_rows"] = errors
        kinds: dict[str, list[dict[str, Any]]] = {
            "pages": [{"offset": o, "limit": 50} for o in offsets],
            "errors_only_pages": [
                {"offset": o % max(1, errors - 50), "limit": 50, "errors_only": "true"}
                for o in offsets
            ],
        }
        for name, pages in kinds.items():
            times = []
            for params in pages:
                started = time.perf_counter()
                response = client.get(path, params=params)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                assert len(response.json()["items"]) == 50, params
            out[name] = page_stats(times)
    return out


def measure_api(
    root: Path, config: Path, run_dir: Path, rows: int, args: argparse.Namespace
) -> dict[str, Any]:
    """The samples API on the run and the experiment list, one ``vlmhb serve`` (its
    runs root is ``root/runs``, where the experiments wrote their folders)."""
    from api_list import measure_list, seed, start_server, stop

    url = f"sqlite:///{root / 'state' / 'vlmhb.db'}"
    (root / "state").mkdir(exist_ok=True)
    seed(url, args.experiments)
    experiment_id, run = register_run(url, config, run_dir, rows)
    proc, base = start_server(root, {"DATABASE_URL": url})
    try:
        samples = measure_samples(
            base, f"/api/v1/experiments/{experiment_id}/runs/{run}/samples", rows, args.requests
        )
        listing = measure_list(base, args.list_requests)
    finally:
        stop(proc)
    return {"samples": samples, "experiment_list": listing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="sample pages per kind")
    parser.add_argument("--experiments", type=int, default=10_000)
    parser.add_argument("--list-requests", type=int, default=50, help="per api_list query")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        child(args.step, args.folder, args.out)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="vlmhb-scale-") as tmp:
        root = Path(tmp)
        by_size: dict[str, Any] = {}
        last: tuple[Path, Path] | None = None
        for rows in sizes:
            figures, run_dir, config = run_size(root, rows, args.repeats)
            by_size[str(rows)] = figures
            last = (run_dir, config)
        assert last is not None
        api = measure_api(root, last[1], last[0], sizes[-1], args)
    factor = sizes[-1] / sizes[0]
    ratios = (
        growth(by_size[str(sizes[0])], by_size[str(sizes[-1])], factor) if len(sizes) > 1 else {}
    )
    report = {
        "benchmark": "scale",
        "environment": environment(load_avg=os.getloadavg()),
        "method": {
            "steps": "each in a fresh subprocess; best wall of the repeats; peak RSS = the "
            "subprocess's ru_maxrss (os.wait4); added_mb = peak - RSS before the step",
            "repeats": args.repeats,
            "size_factor": factor,
        },
        "sizes": by_size,
        "growth": ratios,
        "api": {"samples_run_rows": sizes[-1], "experiments_in_db": args.experiments + 1, **api},
        "targets_met": {
            "samples_pages_p95<=50ms": api["samples"]["pages"]["p95_ms"] <= PAGE_TARGET_MS,
            "experiment_list_p95<=50ms": api["experiment_list"]["all"]["p95_ms"] <= PAGE_TARGET_MS,
            "no_step_super_linear": not any(r["super_linear"] for r in ratios.values()),
        },
    }
    write_results("scale", report)


if __name__ == "__main__":
    main()
