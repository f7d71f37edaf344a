"""Analysis of posts (opinion, sentiment, topic, moderation, language) and of networks (communities,
echo chambers, polarization, agent positions), with CSV and self-contained HTML reports."""

from engagegen.analysis.network_report import (
    NetworkReport,
    network_report,
    polarization_index,
)
from engagegen.analysis.opinions import (
    NodeOpinions,
    UserOpinions,
    post_authors,
    user_opinions,
    write_opinions,
)
from engagegen.analysis.posts import (
    OUTPUT_FILES,
    AnalysisError,
    PostAnalysis,
    analyze_posts,
    write_analysis,
)

__all__ = ["AnalysisError", "OUTPUT_FILES", "PostAnalysis", "analyze_posts", "write_analysis", "NetworkReport", "network_report",
           "polarization_index", "UserOpinions", "NodeOpinions", "user_opinions", "post_authors",
           "write_opinions"]
