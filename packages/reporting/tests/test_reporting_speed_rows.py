"""The load client's timing rows in reports: speed table, comparison columns, directions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vlmhb.core.speed import SPEED_ROWS
from vlmhb.reporting.experiment import IDENTITY_COLUMNS, LOAD_COLUMNS, load_experiment
from vlmhb.reporting.loading import load_run
from vlmhb.reporting.run_report import build_run_report
from vlmhb.reporting.tables import render_markdown

TIMING = {
    "latency_ms_p50": 120.0,
    "latency_ms_p99": 300.0,
    "ttft_ms_p50": 40.0,
    "tpot_ms_p50": 8.0,
    "itl_ms_p50": 7.5,
    "itl_ms_max": 30.0,
    "queue_ms_p99": 900.0,
    "error_rate": 0.0,
    "throughput_rps": 12.5,
    "throughput_output_tok_s": 400.0,
    "goodput_fraction": 0.9,
    "goodput_rps": 11.25,
    "peak_rss_mib": 812.0,
    "duration_inference_s": 8.0,
}


def write_general(run_dir: Path, cer: float, scale: float) -> None:
    run_dir.mkdir(parents=True)
    rows = [{"metric": "cer", "macro": cer, "n": 10}] + [
        {"metric": name, "macro": value * scale, "n": 10} for name, value in TIMING.items()
    ]
    pd.DataFrame(rows).to_csv(run_dir / "metrics_general.csv", sep=";", index=False)


def test_new_rows_are_speed_rows_with_the_right_direction() -> None:
    for name in TIMING:
        assert SPEED_ROWS[name].kind != "quality", name
    assert SPEED_ROWS["itl_ms_p50"].higher_is_better is False
    assert SPEED_ROWS["peak_rss_mib"].higher_is_better is False
    assert SPEED_ROWS["goodput_fraction"].higher_is_better is True
    assert SPEED_ROWS["throughput_output_tok_s"].higher_is_better is True


def test_speed_table_and_comparison_columns(tmp_path: Path) -> None:
    write_general(tmp_path / "exp" / "a__t__p", cer=0.1, scale=1.0)
    write_general(tmp_path / "exp" / "b__t__p", cer=0.2, scale=2.0)
    report = build_run_report(load_run(tmp_path / "exp" / "a__t__p"))
    speed = render_markdown(report.speed)
    assert "| goodput_fraction | 0.9000 | fraction | higher |" in speed
    assert "| queue_ms_p99 | 900.0 | ms | lower |" in speed
    assert "| peak_rss_mib | 812.0 | MiB | lower |" in speed
    assert "goodput" not in render_markdown(report.general)
    data = load_experiment(
        tmp_path / "exp", [tmp_path / "exp" / "a__t__p", tmp_path / "exp" / "b__t__p"]
    )
    assert list(data.comparison.columns) == [
        *IDENTITY_COLUMNS,
        *LOAD_COLUMNS,
        "cer",
        "latency_ms_p50",
        "latency_ms_p99",
        "ttft_ms_p50",
        "tpot_ms_p50",
        "error_rate",
        "throughput_rps",
        "throughput_output_tok_s",
        "goodput_fraction",
        "goodput_rps",
        "peak_rss_mib",
    ]
    assert data.higher_is_better["goodput_rps"] and not data.higher_is_better["peak_rss_mib"]
