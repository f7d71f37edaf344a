"""Social networks whose users hold opinions: the graph type, loaders, generators, placement, statistics."""

from engagegen.network.graph import NetworkError, NetworkWarning, SocialNetwork, validate_opinions
from engagegen.network.io import edgelist_nodes, load_edgelist
from engagegen.network.placement import PAPER_POSITIONS, POSITIONS, betweenness, place_agent
from engagegen.network.stats import NetworkStats, modularity, network_stats, opinion_assortativity
from engagegen.network.synthetic import paper_network, planted_partition_network

__all__ = [
    "SocialNetwork",
    "NetworkError",
    "NetworkWarning",
    "validate_opinions",
    "load_edgelist",
    "edgelist_nodes",
    "paper_network",
    "planted_partition_network",
    "PAPER_POSITIONS",
    "POSITIONS",
    "place_agent",
    "betweenness",
    "NetworkStats",
    "network_stats",
    "modularity",
    "opinion_assortativity",
]
