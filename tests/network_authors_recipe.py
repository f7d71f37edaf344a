"""The authors' synthetic-network recipe and agent positions, transcribed from their code for comparison.

Source: github.com/mminici/Engagement-Driven-Content-Generation, src/synthetic_generator.py
(fortunato_benchmark, assign_opinions, generate_G_and_opinions) and src/graph_utils.py (LLM_central,
LLM_in_comm, LLM_in_echochamber). Kept literal on purpose (global numpy seeding, per-user loop,
set iteration orders); the Timeout retry branch is left out (it depends on wall-clock time).
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np


def fortunato_benchmark(n, avg_deg, mu, seed, power_law_coef=2.0):
    G = None
    MAX_LIM = 10
    while G is None and MAX_LIM > 0:
        try:
            G = nx.generators.community.LFR_benchmark_graph(
                n, tau1=power_law_coef, tau2=1.1, mu=mu, average_degree=avg_deg, min_community=(n // 20),
                max_iters=50, seed=seed,
            ).to_directed()
        except nx.ExceededMaxIterations:
            seed += 150
            MAX_LIM -= 1
    communities = {tuple(sorted(G.nodes[i]["community"])) for i in G.nodes}
    communities = [set(c) for c in communities]
    node2community = np.array([next(i for i, comm in enumerate(communities) if node in comm) for node in G.nodes])
    return G, node2community


def assign_opinions(G, node2community, alpha, beta, conformism, seed=12121995):
    np.random.seed(seed)
    community_opinions = np.random.beta(alpha, beta, size=(max(node2community) + 1))
    opinions = np.random.beta(alpha, beta, size=G.number_of_nodes())
    for node in range(G.number_of_nodes()):
        if np.random.random() < conformism:
            opinions[node] = community_opinions[node2community[node]]
    return opinions


def generate_G_and_opinions(N, mu, alpha, beta, conformism, avg_deg=5, seed=12121995):
    """Their generator; restores the global numpy state it clobbers so tests stay independent."""
    state = np.random.get_state()
    try:
        G, node2community = fortunato_benchmark(N, avg_deg=avg_deg, mu=mu, seed=seed)
        opinions = assign_opinions(G, node2community, alpha=alpha, beta=beta, conformism=conformism, seed=seed)
    finally:
        np.random.set_state(state)
    giant = max(nx.connected_components(nx.Graph(G)), key=len)
    lcc = nx.subgraph(G, giant)
    all_nodes = list(lcc.nodes())
    G = nx.relabel_nodes(lcc, {all_nodes[i]: i for i in range(len(all_nodes))})
    opinions = opinions[list(giant)]
    node2community = node2community[list(giant)]
    communities_left_after_extracting_lcc = list(set(node2community))
    new_mapping = {communities_left_after_extracting_lcc[i]: i for i in range(len(communities_left_after_extracting_lcc))}
    node2community = np.array(list(map(lambda x: new_mapping[x], node2community)))
    return G, opinions, node2community


def llm_central(G):
    betweenness_centrality = nx.betweenness_centrality(G.copy())
    sorted_by_betweenness = sorted(betweenness_centrality.items(), key=lambda x: x[1], reverse=True)
    return sorted_by_betweenness[0][0]


def llm_in_comm(node2community, size):
    community_dict = defaultdict(list)
    for node, community in enumerate(node2community):
        community_dict[community].append(node)
    if size == "largest":
        community = max(community_dict.items(), key=lambda x: len(x[1]))[1]
    else:
        community = min(community_dict.items(), key=lambda x: len(x[1]))[1]
    return community[0]


def llm_in_echochamber(node2community, opinions, opinion_position):
    community_dict = defaultdict(list)
    for node, community in enumerate(node2community):
        community_dict[community].append(node)
    community_avg_opinion = {community: np.mean(opinions[nodes]) for community, nodes in community_dict.items()}
    if opinion_position == "high":
        target_community = max(community_avg_opinion, key=community_avg_opinion.get)
    else:
        target_community = min(community_avg_opinion, key=community_avg_opinion.get)
    return community_dict[target_community][0]


def authors_position(G, opinions, node2community, position):
    if position == "central":
        return llm_central(G)
    if position.startswith("comm-"):
        return llm_in_comm(node2community, position.removeprefix("comm-"))
    return llm_in_echochamber(node2community, opinions, position.removeprefix("echo-"))
