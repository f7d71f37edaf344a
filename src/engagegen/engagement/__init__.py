"""Engagement models behind one protocol: simulate, engagement (batched), optimum."""

from engagegen.engagement.base import Cascade, EngagementError, EngagementModel, Interval, NearOptimalModel, Optimum, check_messages
from engagegen.engagement.bounded_confidence import BoundedConfidenceCascade, CascadeSequence, EngagementWarning
from engagegen.engagement.friedkin_johnsen import FriedkinJohnsen
from engagegen.engagement.independent_cascade import IndependentCascade
from engagegen.engagement.linear_threshold import LinearThreshold
from engagegen.engagement.noisy_bounded_confidence import NoisyBoundedConfidence

__all__ = ["Cascade", "EngagementError", "EngagementModel", "Interval", "NearOptimalModel", "Optimum", "check_messages"]
__all__ += ["FriedkinJohnsen", "IndependentCascade", "LinearThreshold", "NoisyBoundedConfidence"]
__all__ += ["BoundedConfidenceCascade", "CascadeSequence", "EngagementWarning"]
