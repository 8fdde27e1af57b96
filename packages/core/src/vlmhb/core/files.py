"""Names and columns of the files stages exchange in a run directory."""

SAMPLES_FILE = "samples.jsonl"
PROBLEMS_FILE = "problems.csv"
ANSWERS_FILE = "answers.csv"
INFERENCE_STATS_FILE = "inference_stats.json"
METRICS_FILES = {
    "by_id": "metrics_by_id.csv",
    "by_doc_question": "metrics_by_doc_question.csv",
    "by_doc_type": "metrics_by_doc_type.csv",
    "general": "metrics_general.csv",
}
# The metrics files with VLMHyperBench v0.1's column names (a task's metric_columns: v0.1).
V01_METRICS_FILES = {level: f"metrics_v0.1_{level}.csv" for level in METRICS_FILES}
# Direction, unit, range and kind of every metric of the metrics files (vlmhb.core.metric_info).
METRICS_SCHEMA_FILE = "metrics_schema.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
# The experiment folder's files its HTML reports share (plotly.js: vlmhb.reporting.assets).
REPORT_ASSETS_DIR = "assets"
# The experiment folder's table of every run's macro values (the experiment_report stage).
COMPARISON_FILE = "comparison.csv"
MANIFEST_FILE = "manifest.json"
RUN_SPEC_FILE = "run.json"
DONE_DIR = ".done"
# Stage task files (secrets masked), results and the per-stage locks of a run directory.
TASKS_DIR = ".tasks"
CSV_SEPARATOR = ";"

# answers.csv columns, in order. ``error`` is empty for a good answer.
ANSWER_COLUMNS = [
    "id",
    "model_answer",
    "error",
    "ttft_ms",
    "latency_ms",
    "tpot_ms",
    "prompt_tokens",
    "completion_tokens",
    "attempts",
    "queue_ms",
    "itl_ms_mean",
    "itl_ms_max",
    "error_type",
]
# The header of answers.csv files written before queue_ms, itl_ms_*, error_type existed.
LEGACY_ANSWER_COLUMNS = ANSWER_COLUMNS[:9]
# The numeric columns of answers.csv (timings in ms, token counts, attempts).
TIMING_COLUMNS = tuple(
    c for c in ANSWER_COLUMNS if c not in ("id", "model_answer", "error", "error_type")
)
