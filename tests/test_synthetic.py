import json

import networkx as nx
import numpy as np
import pytest
from network_authors_recipe import generate_G_and_opinions
from typer.testing import CliRunner

import engagegen.cli.network_cmd  # noqa: F401  (registers `engagegen network`)
from engagegen.cli.app import app
from engagegen.network import NetworkError, SocialNetwork, network_stats, paper_network, planted_partition_network
from engagegen.network.synthetic import LEVEL_PRESETS, OPINION_PRESETS


def _beta_mean(preset):
    alpha, beta = OPINION_PRESETS[preset]
    return alpha / (alpha + beta)


@pytest.mark.parametrize(
    "opinions, modularity, homophily",
    [("negative", "high", "high"), ("uniform", "low", "low"), ("neutral", "medium", 0.6), ("positive", "high", "low")],
)
def test_paper_network_equals_the_authors_code(opinions, modularity, homophily):
    net = paper_network(opinions, modularity, homophily)
    alpha, beta = OPINION_PRESETS[opinions]
    q = LEVEL_PRESETS[modularity]
    h = homophily if isinstance(homophily, float) else LEVEL_PRESETS[homophily]
    G, x, node2community = generate_G_and_opinions(100, mu=1 - q, alpha=alpha, beta=beta, conformism=h)

    assert net.n_users == G.number_of_nodes()
    # LFR can emit self-loops; they reach nobody new and are not stored.
    theirs = sorted((u, v) for u, v in G.edges() if u != v)
    assert net.edges().tolist() == [list(e) for e in theirs]
    assert np.array_equal(net.opinions, x)  # bit for bit
    assert np.array_equal(net.communities, node2community)


def test_paper_network_follows_the_stated_recipe():
    stats = {}
    for modularity in ("high", "low"):
        net = paper_network("uniform", modularity, "high")
        stats[modularity] = network_stats(net)
        assert net.n_users <= 100 and net.is_symmetric
        assert stats[modularity].largest_component == net.n_users  # the largest connected component was kept
        assert np.bincount(net.communities).min() >= 100 // 20  # LFR min_community
    # Lower LFR mixing (mu = 1 - modularity) gives a more modular partition.
    assert stats["high"].modularity > stats["low"].modularity


@pytest.mark.parametrize("preset", sorted(OPINION_PRESETS))
def test_opinions_without_homophily_follow_the_preset(preset):
    net = paper_network(preset, "high", 0.0)  # every user keeps its own Beta draw
    alpha, beta = OPINION_PRESETS[preset]
    beta_std = np.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
    assert abs(net.opinions.mean() - _beta_mean(preset)) < 4 * beta_std / np.sqrt(net.n_users)


def test_homophily_share_of_users_holding_their_community_opinion():
    for h in (0.0, 1.0, 0.75):
        net = paper_network("uniform", "high", h)
        # Users who took their community's opinion share one exact value; count the largest group per community.
        groups = [np.unique(net.opinions[net.communities == c], return_counts=True)[1] for c in np.unique(net.communities)]
        share = sum(g.max() for g in groups) / net.n_users
        if h == 1.0:
            assert share == 1.0
        elif h == 0.0:
            assert share == len(np.unique(net.communities)) / net.n_users  # all distinct: groups of one
        else:
            assert abs(share - h) < 0.15


def test_paper_network_is_deterministic_and_leaves_the_global_generator_alone():
    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    a = paper_network("neutral", "low", "high")
    after = np.random.random(3)
    assert np.array_equal(expected, after)
    b = paper_network("neutral", "low", "high")
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.opinions, b.opinions)
    c = paper_network("neutral", "low", "high", seed=1)
    assert not np.array_equal(a.opinions, c.opinions)


def test_explicit_beta_shape_and_levels():
    net = paper_network((2.0, 5.0), 0.6, 0.3, n_users=60, seed=3)
    assert net.n_users <= 60 and net.communities is not None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"opinions": "sceptical"}, r"unknown opinion preset 'sceptical'"),
        ({"opinions": (0.0, 1.0)}, r"must be finite and > 0"),
        ({"modularity": 1.5}, r"modularity must be in \[0, 1\], got 1.5"),
        ({"homophily": "extreme"}, r"unknown homophily level 'extreme'"),
        ({"n_users": 5}, r"n_users must be an integer >= 20"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*32\)"),
    ],
)
def test_paper_network_rejects_bad_parameters(kwargs, message):
    with pytest.raises(NetworkError, match=message):
        paper_network(**kwargs)


def test_planted_partition_structure():
    n, k, mixing = 20_000, 20, 0.2
    net = planted_partition_network(n, avg_degree=10, n_communities=k, mixing=mixing, homophily=0.75, seed=5)
    assert net.n_users == n and net.is_symmetric
    assert sorted(np.unique(net.communities)) == list(range(k))
    assert abs(net.out_degree.mean() - 10) < 1.5  # self-loops and repeats dropped: a little under
    assert net.out_degree.max() > 10 * net.out_degree.mean()  # power-law propensities: hubs
    e = net.edges()
    inside = np.mean(net.communities[e[:, 0]] == net.communities[e[:, 1]])
    assert abs(inside - (1 - mixing)) < 0.03
    holding = sum(np.unique(net.opinions[net.communities == c], return_counts=True)[1].max() for c in range(k))
    assert abs(holding / n - 0.75) < 0.03
    assert abs(net.opinions.mean() - 0.5) < 0.15  # uniform preset, community draws dominate


def test_planted_partition_directed_and_deterministic():
    a = planted_partition_network(3000, avg_degree=6, symmetric=False, seed=9)
    b = planted_partition_network(3000, avg_degree=6, symmetric=False, seed=9)
    assert not a.is_symmetric
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.opinions, b.opinions) and np.array_equal(a.communities, b.communities)
    e = a.edges()
    assert np.all(e[:, 0] != e[:, 1])
    assert len(np.unique(e[:, 0] * a.n_users + e[:, 1])) == a.n_edges
    c = planted_partition_network(3000, avg_degree=6, symmetric=False, seed=10)
    assert not np.array_equal(a.opinions, c.opinions)


def test_planted_partition_without_mixing_has_no_edges_between_communities():
    net = planted_partition_network(2000, avg_degree=5, n_communities=4, mixing=0.0, seed=1)
    e = net.edges()
    assert np.all(net.communities[e[:, 0]] == net.communities[e[:, 1]])
    assert nx.number_connected_components(net.to_networkx().to_undirected()) >= 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_users": 1}, r"n_users must be an integer >= 2"),
        ({"n_users": 100, "avg_degree": 0}, r"avg_degree must be a number in \(0, n_users=100\)"),
        ({"n_users": 100, "n_communities": 101}, r"n_communities=101 exceeds n_users=100"),
        ({"n_users": 100, "n_communities": 1}, r"mixing=0.2 needs at least 2 communities"),
        ({"n_users": 100, "degree_exponent": 2.0}, r"degree_exponent must be > 2"),
        ({"n_users": 100, "mixing": -0.1}, r"mixing must be in \[0, 1\]"),
    ],
)
def test_planted_partition_rejects_bad_parameters(kwargs, message):
    with pytest.raises(NetworkError, match=message):
        planted_partition_network(**kwargs)


def test_cli_generates_paper_and_planted_networks(tmp_path):
    runner = CliRunner()
    out = tmp_path / "paper.npz"
    result = runner.invoke(app, ["network", "generate", "paper", "--out", str(out), "--opinions", "2,5", "--modularity", "0.6"])
    assert result.exit_code == 0, result.output
    assert "modularity" in result.output and out.exists()
    assert np.array_equal(SocialNetwork.load(out).opinions, paper_network((2, 5), 0.6, "high").opinions)

    out = tmp_path / "planted.npz"
    args = ["network", "generate", "planted", "-o", str(out), "--users", "500", "--communities", "5", "--directed"]
    assert runner.invoke(app, args).exit_code == 0
    stats = json.loads(runner.invoke(app, ["network", "stats", str(out), "--json"]).output)
    assert stats["n_users"] == 500 and stats["n_communities"] == 5 and stats["symmetric"] is False

    bad = runner.invoke(app, ["network", "generate", "paper", "-o", str(tmp_path / "x.npz"), "--homophily", "2"])
    assert bad.exit_code == 2 and "homophily must be in [0, 1]" in bad.output
