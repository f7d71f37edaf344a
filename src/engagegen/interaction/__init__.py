"""Interaction with posts and people: replies (audience, engagement, reward) and chat with the agent."""

from engagegen.interaction.chat import ChatSession, ChatTurn, describe
from engagegen.interaction.reply import ReplyEngagement, ReplyReward, ReplyTarget, reply_audience

__all__ = ["ReplyEngagement", "ReplyReward", "ReplyTarget", "reply_audience", "ChatSession", "ChatTurn", "describe"]
