import json

import networkx as nx
import numpy as np
import pytest
from network_authors_recipe import authors_position, generate_G_and_opinions
from rich.console import Console

from engagegen.network import (
    PAPER_POSITIONS,
    POSITIONS,
    NetworkError,
    SocialNetwork,
    betweenness,
    modularity,
    network_stats,
    opinion_assortativity,
    paper_network,
    place_agent,
    planted_partition_network,
)
from engagegen.network.synthetic import LEVEL_PRESETS, OPINION_PRESETS


def from_nx(g, opinions=None, communities=None):
    n = g.number_of_nodes()
    x = np.full(n, 0.5) if opinions is None else opinions
    pairs = list(g.edges()) + ([] if g.is_directed() else [(v, u) for u, v in g.edges()])
    return SocialNetwork.from_edges(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), x, communities)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_betweenness_equals_networkx_on_directed_graphs(seed):
    g = nx.gnp_random_graph(80, 0.04, directed=True, seed=seed)
    net = from_nx(g)
    for normalized in (True, False):
        ref = nx.betweenness_centrality(g, normalized=normalized)
        assert np.allclose(betweenness(net, normalized=normalized), [ref[v] for v in range(80)], rtol=1e-12, atol=0)


def test_sampled_betweenness_is_exact_with_every_source_and_finds_hubs():
    g = nx.gnp_random_graph(60, 0.08, directed=True, seed=4)
    net = from_nx(g)
    assert np.allclose(betweenness(net, k=60, seed=1), betweenness(net), rtol=1e-12)
    # Sampled estimates average to the exact value (networkx's rescaling is unbiased).
    estimates = np.mean([betweenness(net, k=10, seed=s) for s in range(300)], axis=0)
    assert np.allclose(estimates, betweenness(net), rtol=0.1, atol=2e-3)

    hub = planted_partition_network(5000, avg_degree=4, n_communities=20, seed=2)
    exact_top = int(np.argmax(betweenness(hub)))
    assert place_agent(hub, "central", exact_limit=100, k=64, seed=0) == exact_top


@pytest.mark.parametrize(
    "opinions, modularity_level, homophily",
    [("negative", "high", "high"), ("uniform", "low", "low"), ("positive", "low", "high"), ("neutral", "high", "low")],
)
def test_paper_positions_equal_the_authors_positions(opinions, modularity_level, homophily):
    net = paper_network(opinions, modularity_level, homophily)
    alpha, beta = OPINION_PRESETS[opinions]
    G, x, node2community = generate_G_and_opinions(
        100, mu=1 - LEVEL_PRESETS[modularity_level], alpha=alpha, beta=beta, conformism=LEVEL_PRESETS[homophily]
    )
    for position in PAPER_POSITIONS:
        assert place_agent(net, position) == authors_position(G, x, node2community, position), position


def test_ties_go_to_the_lowest_id():
    cycle = from_nx(nx.cycle_graph(6), communities=[1, 1, 1, 0, 0, 0])
    assert place_agent(cycle, "central") == 0  # every user equally central
    assert place_agent(cycle, "comm-largest") == 0 and place_agent(cycle, "comm-smallest") == 0
    x = np.array([0.2, 0.8, 0.5, 0.5, 0.9, 0.1])  # both communities have mean 0.5
    assert place_agent(cycle.with_opinions(x), "echo-high") == 0
    assert place_agent(cycle.with_opinions(x), "echo-low") == 0


def test_community_and_echo_positions():
    x = [0.9, 0.1, 0.1, 0.8, 0.2, 0.2, 0.9]
    net = SocialNetwork.from_edges([(0, 1), (1, 2), (3, 4)], x, communities=[2, 0, 0, 2, 0, 1, 1])
    assert place_agent(net, "comm-largest") == 1  # community 0 has three users: 1, 2, 4
    assert place_agent(net, "comm-smallest") == 0  # communities 2 and 1 both have two; 2 is met first (user 0)
    assert place_agent(net, "echo-high") == 0  # community 2: mean 0.85
    assert place_agent(net, "echo-low") == 1  # community 0: mean 0.133


def test_degree_positions():
    net = SocialNetwork.from_edges([(1, 0), (1, 2), (1, 3), (2, 3), (3, 2), (0, 2)], [0.5] * 5)
    assert place_agent(net, "degree-high") == 1
    assert place_agent(net, "degree-low") == 0  # users 0, 2, 3 have one out-edge; user 4 has none
    lonely = SocialNetwork.from_edges([], [0.5, 0.5])
    assert place_agent(lonely, "degree-high") == 0
    with pytest.raises(NetworkError, match="degree-low: no user has an out-edge"):
        place_agent(lonely, "degree-low")


def test_placement_errors():
    net = SocialNetwork.from_edges([(0, 1)], [0.5, 0.5])
    with pytest.raises(NetworkError, match=r"unknown agent position 'centre'; use a user id or one of central, comm-largest"):
        place_agent(net, "centre")
    with pytest.raises(NetworkError, match=r"'echo-high' needs community labels"):
        place_agent(net, "echo-high")
    with pytest.raises(NetworkError, match=r"agent position 5 does not exist"):
        place_agent(net, 5)
    assert place_agent(net, np.int64(1)) == 1
    assert set(PAPER_POSITIONS) < set(POSITIONS)
    with pytest.raises(NetworkError, match=r"k \(sampled sources\) must be an integer in 1..2"):
        betweenness(net, k=3)


def test_stats_agree_with_networkx():
    g = nx.planted_partition_graph(4, 15, 0.5, 0.05, seed=3)
    labels = np.repeat(np.arange(4), 15)
    x = np.random.default_rng(0).random(60)
    net = from_nx(g, x, labels)
    s = network_stats(net)
    assert s.symmetric and s.n_users == 60 and s.n_edges == 2 * g.number_of_edges()
    assert s.modularity == pytest.approx(nx.community.modularity(g, [set(range(15 * c, 15 * c + 15)) for c in range(4)]))
    e = net.edges()
    assert s.opinion_assortativity == pytest.approx(np.corrcoef(x[e[:, 0]], x[e[:, 1]])[0, 1])
    nx.set_node_attributes(g, dict(enumerate(x)), "x")
    assert s.opinion_assortativity == pytest.approx(nx.numeric_assortativity_coefficient(g, "x"))
    degrees = np.array([d for _, d in g.degree()])
    assert (s.out_degree.mean, s.out_degree.min, s.out_degree.max) == (degrees.mean(), degrees.min(), degrees.max())
    assert s.n_communities == 4 and sum(s.opinion_histogram) == 60
    assert s.opinion_histogram == tuple(np.histogram(x, bins=10, range=(0, 1))[0])
    assert s.opinion_mean == pytest.approx(x.mean()) and s.opinion_std == pytest.approx(x.std())


def test_directed_stats():
    d = nx.gnp_random_graph(50, 0.03, directed=True, seed=5)
    labels = np.arange(50) % 3
    net = from_nx(d, communities=labels)
    s = network_stats(net)
    assert not s.symmetric
    parts = [set(np.flatnonzero(labels == c).tolist()) for c in range(3)]
    assert s.modularity == pytest.approx(nx.community.modularity(d, parts))
    components = [len(c) for c in nx.weakly_connected_components(d)]
    assert (s.n_components, s.largest_component) == (len(components), max(components))
    assert s.n_isolated == sum(1 for v in d if d.degree(v) == 0)
    assert s.in_degree.max == max(dict(d.in_degree()).values())
    assert s.opinion_assortativity is None  # every opinion is 0.5: no variance


def test_stats_of_edge_cases_and_outputs():
    single = network_stats(SocialNetwork.from_edges([], [0.3]))
    assert single.n_edges == 0 and single.modularity is None and single.n_communities is None
    assert single.opinion_assortativity is None and single.largest_component == 1
    assert modularity(SocialNetwork.from_edges([], [0.3, 0.4], communities=[0, 1])) is None
    with pytest.raises(NetworkError, match="no community labels"):
        modularity(SocialNetwork.from_edges([(0, 1)], [0.3, 0.4]))
    assert opinion_assortativity(SocialNetwork.from_edges([(0, 1)], [0.3, 0.4])) is None

    s = network_stats(paper_network())
    assert json.loads(json.dumps(s.to_dict()))["n_users"] == s.n_users
    console = Console(record=True, width=100)
    console.print(s)
    text = console.export_text()
    assert "communities / modularity" in text and f"{s.modularity:.3f}" in text
