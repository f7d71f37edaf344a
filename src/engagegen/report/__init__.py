"""Reports: self-contained HTML pages with plots and tables for runs and experiment grids."""

from engagegen.report.calibration_report import calibration_report
from engagegen.report.grid_report import grid_report
from engagegen.report.run_report import ReportError, run_report

__all__ = ["run_report", "grid_report", "calibration_report", "ReportError"]
