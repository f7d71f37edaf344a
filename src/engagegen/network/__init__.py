"""Social networks whose users hold opinions: the graph type, loaders, generators, placement, statistics."""

from engagegen.network.graph import NetworkError, NetworkWarning, SocialNetwork, validate_opinions

__all__ = ["SocialNetwork", "NetworkError", "NetworkWarning", "validate_opinions"]
