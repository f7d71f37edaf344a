"""Analysis of posts (opinion, sentiment, topic, moderation, language) and of networks (communities,
echo chambers, polarization, agent positions), with CSV and self-contained HTML reports."""

from engagegen.analysis.network_report import NetworkReport, network_report, polarization_index
from engagegen.analysis.posts import AnalysisError, PostAnalysis, analyze_posts, write_analysis

__all__ = ["AnalysisError", "PostAnalysis", "analyze_posts", "write_analysis", "NetworkReport", "network_report",
           "polarization_index"]
