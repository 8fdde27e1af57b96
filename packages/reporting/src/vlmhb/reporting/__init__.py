"""VLMHyperBench reporting: run and experiment reports (Markdown, self-contained HTML).

Figures live in ``vlmhb.reporting.figures`` (shared with the backend's analytics);
the stages are ``vlmhb.reporting.stage.RunReportStage`` and ``ExperimentReportStage``.
"""

from vlmhb.reporting.loading import ReportInputError, RunData, load_run
from vlmhb.reporting.pareto import pareto_front
from vlmhb.reporting.tables import markdown_table

__all__ = ["ReportInputError", "RunData", "load_run", "markdown_table", "pareto_front"]
