"""Reports: self-contained HTML pages with plots and tables for runs and experiment grids."""

from engagegen.report.html import figure_tag, page, table_tag
from engagegen.report.run_report import ReportError, run_report

__all__ = ["run_report", "ReportError", "figure_tag", "page", "table_tag"]
