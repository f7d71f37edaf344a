"""Engagement models behind one protocol: simulate, engagement (batched), optimum."""

from engagegen.engagement.base import Cascade, EngagementError, EngagementModel, Interval, Optimum, check_messages

__all__ = ["Cascade", "EngagementError", "EngagementModel", "Interval", "Optimum", "check_messages"]
