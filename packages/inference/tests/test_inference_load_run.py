"""The model's typed ``load`` settings through a real ``vlmhb run``: warm-up requests are
sent but not recorded, the SLO reaches the evaluation stage, the manifest records both."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image

N = 5


def write_dataset(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    lines = ["data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox"]
    for index in range(N):
        Image.new("RGB", (32, 16), "white").save(root / "images" / f"{index}.png")
        lines.append(f"{index};test;images/{index}.png;q{index};a{index};doc;field;")
    (root / "annotation.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_load_spec_through_vlmhb_run(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data")
    config = {
        "name": "load",
        "output_dir": str(tmp_path / "runs"),
        "models": [
            {
                "name": "oracle",
                "backend": "scripted",
                "concurrency": 2,
                "params": {"rule": "echo", "request_log": "requests.log"},
                "load": {
                    "warmup": 2,
                    "request_rate": 200,
                    "arrivals": "constant",
                    "slo": "latency:60000",
                },
            }
        ],
        "datasets": [{"name": "d", "format": "vqa_csv", "path": "data"}],
        "tasks": [{"name": "t", "dataset": "d", "metrics": ["cer"]}],
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", "run", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    sent = (tmp_path / "runs" / "load" / "requests.log").read_text("utf-8").split()
    assert len(sent) == N + 2  # two warm-up requests first, then every sample once
    (run_dir,) = [p for p in (tmp_path / "runs" / "load").iterdir() if (p / "answers.csv").exists()]
    with (run_dir / "answers.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle, delimiter=";"))) == N  # warm-up not recorded
    with (run_dir / "metrics_general.csv").open(encoding="utf-8") as handle:
        general = {row["metric"]: row["macro"] for row in csv.DictReader(handle, delimiter=";")}
    assert float(general["goodput_fraction"]) == 1.0  # the SLO reached the evaluation
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    load = manifest["spec"]["model"]["load"]
    assert (load["warmup"], load["request_rate"], load["slo"]) == (2, 200.0, {"e2el": 60000.0})
