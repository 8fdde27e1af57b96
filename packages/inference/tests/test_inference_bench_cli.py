"""``vlmhb bench-serve`` as a user runs it: the installed CLI against a real API wrapper."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.backends.scripted import ScriptedBackend

VLMHB = str(Path(sys.executable).with_name("vlmhb"))


def wait_ready(url: str) -> None:
    with httpx.Client() as http:
        while http.get(url + "/health").status_code != 200:
            pass


def test_entry_point_is_registered() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="vlmhb.cli")}
    assert names["bench-serve"] == "vlmhb.inference.bench_cli:app"


def test_bench_serve_prompt_and_image_writes_summary(serve: Any, tmp_path: Path) -> None:
    image = tmp_path / "doc.png"
    Image.new("RGB", (40, 20), (200, 10, 10)).save(image)
    log = tmp_path / "requests.log"
    backend = ScriptedBackend(
        ModelSpec(
            name="m",
            backend="scripted",
            params={"ttft_ms": 3, "latency_ms": 8, "request_log": str(log)},
        )
    )
    output = tmp_path / "out" / "results.json"
    with serve(backend) as url:
        wait_ready(url)
        done = subprocess.run(
            [
                VLMHB,
                "bench-serve",
                "--base-url",
                url + "/v1",
                "--model",
                "m",
                "--prompt",
                "one two three four",
                "--image",
                str(image),
                "--num-requests",
                "24",
                "--concurrency",
                "4",
                "--warmup",
                "3",
                "--request-rate",
                "500",
                "--arrivals",
                "constant",
                "--slo",
                "ttft:60000,tpot:60000",
                "--output",
                str(output),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "bench-serve summary" in done.stdout and "ttft_ms p99" in done.stdout
    summary = json.loads(output.read_text(encoding="utf-8"))
    assert (summary["requests"], summary["completed"], summary["failed"]) == (24, 24, 0)
    assert len(log.read_text(encoding="utf-8").split()) == 27  # 3 warm-up requests
    assert summary["total_output_tokens"] == 24 * 4  # server usage: 4 words each
    assert summary["ttft_ms_p50"] >= 3 and summary["latency_ms_p99"] >= 8
    assert summary["goodput_fraction"] == 1.0 and summary["goodput_rps"] > 0
    assert summary["peak_rss_bytes"] > 1_000_000
    assert summary["duration_s"] >= 23 / 500  # constant arrivals: last at 46 ms
    assert summary["config"]["request_rate"] == 500.0


def test_bench_serve_dataset_and_errors(serve: Any, tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    (dataset / "images").mkdir(parents=True)
    Image.new("RGB", (30, 30)).save(dataset / "images" / "a.png")
    (dataset / "annotation.csv").write_text(
        "data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox\n"
        "0;test;images/a.png;what is it;x;passport;name;\n"
        "1;test;images/a.png;and this;y;passport;date;\n",
        encoding="utf-8",
    )
    backend = ScriptedBackend(ModelSpec(name="m", backend="scripted", params={"fail_ids": ["1"]}))
    output = tmp_path / "r.json"
    with serve(backend) as url:
        wait_ready(url)
        done = subprocess.run(
            [
                VLMHB,
                "bench-serve",
                "--base-url",
                url + "/v1",
                "--model",
                "m",
                "--dataset",
                str(dataset),
                "--format",
                "vqa_csv",
                "--num-requests",
                "6",
                "--concurrency",
                "2",
                "--no-stream",
                "--output",
                str(output),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        bad = subprocess.run(
            [
                VLMHB,
                "bench-serve",
                "--base-url",
                url + "/v1",
                "--model",
                "m",
                "--prompt",
                "x",
                "--slo",
                "speed:1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads(output.read_text(encoding="utf-8"))
    assert (summary["completed"], summary["failed"]) == (3, 3)  # every 2nd is sample 1
    assert summary["error_types"] == {"http_5xx": 3}
    assert summary["ttft_ms_mean"] is None  # not streamed: no TTFT
    assert summary["latency_ms_mean"] > 0
    assert bad.returncode == 2 and "unknown SLO" in bad.stdout
