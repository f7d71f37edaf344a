"""The reward: engagement of a post in the simulated audience, as a fraction of the exact optimum,
gated by topic alignment, fluency and moderation."""

from engagegen.reward.engagement_reward import EngagementReward, RewardBreakdown, RewardConfig, RewardError
from engagegen.reward.lookup import EngagementLookup, SteppedEngagement

__all__ = ["EngagementReward", "RewardBreakdown", "RewardConfig", "RewardError", "EngagementLookup", "SteppedEngagement"]
