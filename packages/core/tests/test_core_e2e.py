"""End to end through the real ``vlmhb`` CLI: synthetic dataset → model API servers →
answers → metrics → reports; a SIGKILL mid-inference resumes without re-asking or losing
finished samples; the legacy CSV form of the quickstart plans the same runs."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from vlmhb.core.testing import COMPLETED_RUN_FILES, wait_for

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "examples" / "quickstart"
VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]

pytestmark = pytest.mark.slow


def vlmhb(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*VLMHB, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"vlmhb {' '.join(args)} exited {proc.returncode}\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def read_answers(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the quickstart example with a freshly generated (small) dataset."""
    root = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(QUICKSTART, root / "qs", ignore=shutil.ignore_patterns("data", "runs"))
    vlmhb(
        "datasets",
        "synth",
        "--out",
        str(root / "qs" / "data" / "quickstart"),
        "--n",
        "1",
        "--seed",
        "7",
        cwd=root,
    )
    return root


@pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="the tesseract binary (apt tesseract-ocr) is not installed",
)
def test_quickstart_runs_end_to_end(quickstart: Path) -> None:
    proc = vlmhb("run", "qs/experiment.yaml", cwd=quickstart)
    experiment = quickstart / "runs" / "quickstart"
    runs = sorted(p for p in experiment.iterdir() if (p / "run.json").is_file())
    assert [r.name.split("__")[0] for r in runs] == ["noisy-oracle", "oracle", "tesseract-rus"]
    samples = sum(1 for _ in (runs[0] / "samples.jsonl").open(encoding="utf-8"))
    assert samples == 26  # one passport, one invoice, one SNILS: 26 fields
    for run in runs:
        for name in COMPLETED_RUN_FILES:
            assert (run / name).is_file(), f"{run.name} lacks {name}"
        answers = read_answers(run / "answers.csv")
        assert len(answers) == samples and len({a["id"] for a in answers}) == samples
        assert all(float(a["latency_ms"]) > 0 for a in answers)
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["rerun"].startswith("vlmhb run ")
        assert manifest["dataset"]["fingerprint"] and manifest["packages"]["vlmhb-core"]
        assert set(manifest["timings"]) == {"inference", "evaluation", "report"}
        report = (run / "report.md").read_text(encoding="utf-8")
        assert "| concurrency |" in report and "| request rate |" in report
    general = {r.name.split("__")[0]: _general(r) for r in runs}
    assert general["oracle"]["cer"] == 0.0 and general["oracle"]["exact_match"] == 1.0
    assert 0.0 < general["noisy-oracle"]["cer"] < 0.3
    assert general["tesseract-rus"]["cer"] < 0.2  # real OCR on clean synthetic crops
    html = (experiment / "report.html").read_text(encoding="utf-8")
    assert html.count("tesseract-rus") >= 1 and '<script src="http' not in html
    assert (experiment / "comparison.csv").is_file()
    assert "samples" in proc.stdout or "runs" in proc.stdout
    # piped: plain progress lines, each stage's ending at 100 %, never a bar cut at the end
    ended = re.findall(r"^(inference|evaluation) (\S+) · .*: (\d+)/\3 \(100%\)", proc.stdout, re.M)
    assert {(stage, model) for stage, model, _ in ended} >= {
        ("inference", "oracle"),
        ("evaluation", "oracle"),
    }, proc.stdout[-3000:]
    assert not re.search(r"━+\s+\d+/\d+", proc.stdout)  # no progress bar drawing

    # a second run finds every stage finished and redoes nothing
    again = vlmhb("run", "qs/experiment.yaml", cwd=quickstart)
    assert again.stdout.count("skipped") == 10
    assert "running" not in again.stdout


def _general(run: Path) -> dict[str, float]:
    with (run / "metrics_general.csv").open(encoding="utf-8") as handle:
        return {row["metric"]: float(row["macro"]) for row in csv.DictReader(handle, delimiter=";")}


KILL_EXPERIMENT = """\
name: killme
models:
  - name: slow
    backend: scripted
    params: {{answers_file: {answers}, answer_column: answer, latency_ms: 150,
             request_log: {log}}}
    concurrency: 2
datasets:
  - {{name: docs, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: docs, kind: vqa, metrics: [cer, exact_match]}}
"""


def _start_slow_run(
    quickstart: Path, tmp_path: Path, name: str, **popen: Any
) -> tuple[Path, subprocess.Popen[Any], Path]:
    """``vlmhb run`` of ``KILL_EXPERIMENT`` in the background: (config, process, the run's
    ``answers.csv`` once it exists)."""
    data = quickstart / "qs" / "data" / "quickstart"
    config = tmp_path / name
    config.write_text(
        KILL_EXPERIMENT.format(
            answers=data / "annotation.csv", log=tmp_path / "requests.log", data=data
        ),
        encoding="utf-8",
    )
    proc = subprocess.Popen([*VLMHB, "run", str(config)], cwd=tmp_path, **popen)
    answers_path = wait_for(
        lambda: list((tmp_path / "runs" / "killme").glob("*/answers.csv")), proc
    )[0]
    return config, proc, answers_path


def test_sigkill_mid_inference_resumes_without_redoing_finished_samples(
    quickstart: Path, tmp_path: Path
) -> None:
    log = tmp_path / "requests.log"
    config, proc, answers_path = _start_slow_run(
        quickstart,
        tmp_path,
        "kill.yaml",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(lambda: len(read_answers(answers_path)) >= 8 or None, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # the stage gets SIGTERM from the kernel (parent death) and stops
    before = {row["id"] for row in read_answers(answers_path)}
    assert 8 <= len(before) < 26

    vlmhb("run", str(config), cwd=tmp_path)
    rows = read_answers(answers_path)
    ids = [row["id"] for row in rows]
    assert len(ids) == 26 and len(set(ids)) == 26
    requests = Counter(log.read_text(encoding="utf-8").split())
    assert all(requests[i] == 1 for i in before), "a finished sample was requested again"
    assert set(requests) == set(ids)
    assert (answers_path.parent / "metrics_general.csv").is_file()


def _family(root: int) -> list[int]:
    """``root`` and its descendants (from ``/proc``), children last."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    family = [root]
    for pid in family:
        family += [child for child, parent in parents.items() if parent == pid]
    return family


def test_a_killed_session_still_counts_in_throughput(quickstart: Path, tmp_path: Path) -> None:
    """SIGKILL to the whole process tree (stage and model server too, as an OOM kill
    would): the killed session's requests and active time, checkpointed while it ran,
    are summed with the resumed session's; the metrics say how many sessions it took."""
    config, proc, answers_path = _start_slow_run(
        quickstart,
        tmp_path,
        "kill.yaml",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    stats_path = answers_path.with_name("inference_stats.json")
    wait_for(lambda: len(read_answers(answers_path)) >= 10 and stats_path.is_file(), proc)
    for pid in _family(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    killed = json.loads(stats_path.read_text(encoding="utf-8"))["sessions"]
    assert len(killed) == 1 and killed[0]["complete"] is False
    assert killed[0]["requests"] >= 1 and killed[0]["active_s"] > 0

    vlmhb("run", str(config), cwd=tmp_path)
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    first, second = stats["sessions"]
    assert first == killed[0] and second["complete"] is True
    assert stats["requests"] == first["requests"] + second["requests"]
    assert stats["active_s"] == pytest.approx(first["active_s"] + second["active_s"])
    assert stats["sessions_interrupted"] == 1
    general = _general(answers_path.parent)
    assert general["sessions"] == 2 and general["sessions_interrupted"] == 1
    assert general["duration_inference_s"] == pytest.approx(stats["active_s"])
    assert general["throughput_rps"] == pytest.approx(stats["requests"] / stats["active_s"])


def test_legacy_quickstart_plans_the_same_runs_as_yaml(quickstart: Path) -> None:
    """examples/quickstart/legacy is the quickstart written as user_config.csv +
    vlm_base.csv: the same runs and stage ids (only names may differ) once the models'
    concurrency, which v0.1 rows cannot set and which is in the run id, is the same."""
    from vlmhb.core.config import load_experiment
    from vlmhb.core.orchestration.graph import plan_experiment

    modern_spec = load_experiment(quickstart / "qs" / "experiment.yaml")
    legacy_spec = load_experiment(quickstart / "qs" / "legacy")
    for model, twin in zip(legacy_spec.models, modern_spec.models, strict=True):
        model.concurrency = twin.concurrency
    modern = plan_experiment(modern_spec)
    legacy = plan_experiment(legacy_spec)
    assert [t.id for t in legacy] == [t.id for t in modern]
    assert [r.run_id for r in legacy.runs] == [r.run_id for r in modern.runs]
    assert legacy.runs[0].dataset.format == "vqa_csv"  # the folder also has jsons/
    proc = vlmhb("plan", "qs/legacy", cwd=quickstart)
    assert "oracle__quickstart_vqa__fields" in proc.stdout.replace("\n", "")


def _stage_pid(root: int) -> int:
    """The stage process under ``vlmhb run`` (``root``)."""
    for pid in _family(root):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"stage" in argv and b"run" in argv:
            return pid
    raise AssertionError("no stage process under vlmhb run")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_cancels_the_stage_and_the_rerun_resumes(
    quickstart: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGINT (Ctrl-C) or SIGTERM of ``vlmhb run``: the stage process is stopped (it is
    gone when ``vlmhb run`` exits), the manifest marks the inference stage CANCELLED,
    finished rows stay, and the re-run asks only for the samples left."""
    config, proc, answers_path = _start_slow_run(
        quickstart,
        tmp_path,
        "int.yaml",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: len(read_answers(answers_path)) >= 4 or None, proc)
    run_dir = answers_path.parent
    stage = _stage_pid(proc.pid)
    server = [pid for pid in _family(stage) if pid != stage]
    assert _alive(stage) and server
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "cancelled inference" in out and "run the same command again to resume" in err
    assert not _alive(stage) and not any(_alive(pid) for pid in server)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    inference = manifest["timings"]["inference"]
    assert inference["status"] == "CANCELLED"
    assert inference["summary"]["left"] > 0
    kept = {row["id"] for row in read_answers(answers_path)}
    assert 4 <= len(kept) < 26
    vlmhb("run", str(config), cwd=tmp_path)
    assert len({row["id"] for row in read_answers(answers_path)}) == 26
    requests = Counter((tmp_path / "requests.log").read_text(encoding="utf-8").split())
    assert all(requests[i] == 1 for i in kept), "a finished sample was requested again"
