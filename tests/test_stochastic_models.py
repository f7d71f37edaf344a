"""Independent cascade, linear threshold and Friedkin-Johnsen against plain-Python references."""

import itertools

import networkx as nx
import numba
import numpy as np
import pytest

from engagegen.engagement import _stochastic_kernels as kernels
from engagegen.engagement import EngagementError, EngagementModel, FriedkinJohnsen, IndependentCascade, LinearThreshold
from engagegen.network.graph import NetworkError, SocialNetwork

# A small directed graph with a cycle, a shortcut and a user the source cannot reach (6).
EDGES = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 1), (2, 5), (5, 4), (6, 0), (1, 2), (4, 5)]
OPINIONS = [0.5, 0.3, 0.45, 0.6, 0.7, 0.2, 0.9]


@pytest.fixture(scope="module")
def net():
    return SocialNetwork.from_edges(EDGES, OPINIONS)


def reachable(network, source):
    return sorted(nx.descendants(network.to_networkx(), source))


def exact_ic(network, source, p, epsilon, s):
    """Expected engagement by enumerating every set of live edges (independent coins)."""
    edges = network.edges().tolist()
    x = network.opinions
    prob = [p if epsilon is None else p * max(0.0, 1 - abs(s - x[v]) / epsilon) for _, v in edges]
    total = 0.0
    for live in itertools.product([False, True], repeat=len(edges)):
        weight = np.prod([q if on else 1 - q for q, on in zip(prob, live)])
        if weight == 0:
            continue
        g = nx.DiGraph([e for e, on in zip(edges, live) if on])
        g.add_node(source)
        total += weight * len(nx.descendants(g, source))
    return total


def exact_lt(network, source, weights, epsilon, s):
    """Expected engagement by Kempe et al.'s live-edge equivalence: each eligible user keeps at most
    one in-edge, edge (u, w) with probability weight(u, w); engaged users are those reached."""
    x = network.opinions
    choices = []  # per user: list of (in-neighbour or None, probability)
    for w in range(network.n_users):
        if w == source or (epsilon is not None and not abs(s - x[w]) < epsilon):
            choices.append([(None, 1.0)])
            continue
        options = [(u, weights[e]) for e, (u, v) in enumerate(network.edges().tolist()) if v == w]
        choices.append(options + [(None, 1.0 - sum(q for _, q in options))])
    total = 0.0
    for pick in itertools.product(*choices):
        weight = np.prod([q for _, q in pick])
        g = nx.DiGraph([(u, w) for w, (u, _) in enumerate(pick) if u is not None])
        g.add_node(source)
        total += weight * len(nx.descendants(g, source))
    return total


# ---------------------------------------------------------------------------------------------------
# Independent cascade
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p, epsilon, s", [(0.3, None, 0.5), (0.7, None, 0.1), (0.8, 0.3, 0.45), (0.9, 0.25, 0.2)])
def test_ic_mean_agrees_with_exact_expectation(net, p, epsilon, s):
    cascade = IndependentCascade(p=p, epsilon=epsilon, n_runs=20000, seed=3).simulate(net, 0, s)
    expected = exact_ic(net, 0, p, epsilon, s)
    assert abs(cascade.engaged - expected) < 4 * cascade.std_error
    assert cascade.ci[0] < cascade.engaged < cascade.ci[1]


def test_ic_p_one_is_reachability_and_p_zero_is_nobody(net):
    sure = IndependentCascade(p=1.0, n_runs=50).simulate(net, 0, 0.5)
    assert sure.engaged == len(reachable(net, 0)) and sure.std_error == 0.0
    assert sure.active.tolist() == reachable(net, 0)
    assert np.array_equal(sure.extra["activation_probability"] > 0, np.isin(np.arange(7), reachable(net, 0)))
    assert IndependentCascade(p=1.0, n_runs=5).engagement(net, 6, [0.0, 1.0]).tolist() == [6.0, 6.0]
    nobody = IndependentCascade(p=0.0, n_runs=50).simulate(net, 0, 0.5)
    assert nobody.engaged == 0.0 and nobody.active.size == 0
    assert IndependentCascade(p=0.0, epsilon=0.3, n_runs=50).engagement(net, 0, np.linspace(0, 1, 11)).max() == 0.0


def test_ic_is_deterministic_and_independent_of_threads_and_batching(net, monkeypatch):
    model = IndependentCascade(p=0.5, epsilon=0.3, n_runs=999, seed=11)
    s = np.linspace(0, 1, 7)
    batch = model.engagement(net, 0, s)
    assert np.array_equal(batch, IndependentCascade(p=0.5, epsilon=0.3, n_runs=999, seed=11).engagement(net, 0, s))
    assert np.array_equal(batch, np.concatenate([model.engagement(net, 0, [v]) for v in s]))
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert np.array_equal(batch, model.engagement(net, 0, s))
    finally:
        numba.set_num_threads(threads)
    monkeypatch.setattr(kernels, "_PARALLEL_WORK", 0)  # every run after the pilot goes over threads
    assert np.array_equal(batch, model.engagement(net, 0, s))
    parallel = model.simulate(net, 0, 0.4)
    monkeypatch.setattr(kernels, "_PARALLEL_WORK", float("inf"))
    serial = model.simulate(net, 0, 0.4)
    assert parallel.engaged == serial.engaged
    assert np.array_equal(parallel.extra["activation_probability"], serial.extra["activation_probability"])
    assert not np.array_equal(batch, IndependentCascade(p=0.5, epsilon=0.3, n_runs=999, seed=12).engagement(net, 0, s))


def test_ic_common_random_numbers_make_engagement_monotone():
    # Every receiver holds 0.6, so in every run a message closer to 0.6 keeps each live edge live.
    g = nx.gnp_random_graph(60, 0.08, seed=5, directed=True)
    net = SocialNetwork.from_edges(np.array(g.edges()), np.full(60, 0.6))
    model = IndependentCascade(p=0.6, epsilon=0.4, n_runs=200, seed=1)
    s = np.linspace(0, 1, 101)
    e = model.engagement(net, 0, s)
    assert np.all(np.diff(e[s <= 0.6]) >= 0) and np.all(np.diff(e[s >= 0.6]) <= 0)
    assert e[0] < e[60]
    # The same coins at a larger p: never fewer engaged.
    assert np.all(IndependentCascade(p=0.7, epsilon=0.4, n_runs=200, seed=1).engagement(net, 0, s) >= e)


def test_ic_optimum_is_a_grid_search(net):
    model = IndependentCascade(p=0.8, epsilon=0.3, n_runs=300, seed=2, grid_size=101)
    best = model.optimum(net, 0)
    grid = np.linspace(0, 1, 101)
    values = model.engagement(net, 0, grid)
    assert not best.exact and "grid of 101 points" in best.method
    assert best.value == values.max()
    assert all(values[(grid >= iv.lo) & (grid <= iv.hi)].min() == best.value for iv in best.intervals)
    assert best.contains(best.message)
    flat = IndependentCascade(p=0.5, n_runs=100).optimum(net, 0)
    assert flat.exact and flat.intervals[0].lo == 0.0 and flat.intervals[0].hi == 1.0


# ---------------------------------------------------------------------------------------------------
# Linear threshold
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights, epsilon, s", [("uniform", None, 0.5), ("random", None, 0.5), ("uniform", 0.2, 0.4), ("random", 0.3, 0.6)])
def test_lt_mean_agrees_with_live_edge_expectation(net, weights, epsilon, s):
    model = LinearThreshold(weights=weights, epsilon=epsilon, n_runs=20000, seed=4)
    cascade = model.simulate(net, 0, s)
    expected = exact_lt(net, 0, model.edge_weights(net), epsilon, s)
    assert abs(cascade.engaged - expected) < 4 * cascade.std_error


def test_lt_weights_sum_to_one_per_user(net):
    for kind in ("uniform", "random"):
        w = LinearThreshold(weights=kind).edge_weights(net)
        assert np.allclose(np.bincount(net.indices, weights=w, minlength=7), (net.in_degree > 0).astype(float))
        assert w.min() > 0


def test_lt_common_random_numbers_and_determinism(net, monkeypatch):
    s = np.linspace(0, 1, 21)
    narrow = LinearThreshold(epsilon=0.15, n_runs=500, seed=9).engagement(net, 0, s)
    wide = LinearThreshold(epsilon=0.3, n_runs=500, seed=9).engagement(net, 0, s)
    assert np.all(wide >= narrow)  # more users may engage, same thresholds: never fewer engaged
    assert np.array_equal(narrow, LinearThreshold(epsilon=0.15, n_runs=500, seed=9).engagement(net, 0, s))
    monkeypatch.setattr(kernels, "_PARALLEL_WORK", 0)
    assert np.array_equal(narrow, LinearThreshold(epsilon=0.15, n_runs=500, seed=9).engagement(net, 0, s))
    # All the weight into user 0 comes from user 6: 0 always engages when 6 posts.
    assert LinearThreshold(n_runs=10).simulate(net, 6, 0.3).extra["activation_probability"][0] == 1.0


def test_lt_optimum_is_exact_over_the_steps(net):
    model = LinearThreshold(epsilon=0.2, n_runs=400, seed=1)
    best = model.optimum(net, 0)
    values = model.engagement(net, 0, np.linspace(0, 1, 2001))
    assert best.exact and values.max() <= best.value
    for iv in best.intervals:
        inside = np.linspace(iv.lo, iv.hi, 7)[1:-1] if iv.width else np.array([iv.lo])
        assert np.all(model.engagement(net, 0, inside) == best.value)
    steps = model.breakpoints(net, 0)
    assert np.all(np.diff(steps) > 0) and steps.min() > 0 and steps.max() < 1
    coarse = LinearThreshold(epsilon=0.2, n_runs=400, seed=1, grid_size=5).optimum(net, 0)
    assert not coarse.exact and "grid of 5 points" in coarse.method


def test_step_optimum_merges_cells_and_skips_segments_without_messages():
    b = 0.3
    steps = np.array([b, np.nextafter(b, 1.0)])  # the segment between them holds no float
    lo, hi, inside = kernels.cells_of(steps)
    assert lo.tolist() == [0.0, 0.0, b, b, steps[1], steps[1], 1.0] and np.all((inside >= lo) & (inside <= hi))
    # Cells: point 0, (0, b), point b, (b, b+ulp), point b+ulp, (b+ulp, 1), point 1.
    best = kernels.cells_optimum(steps, np.array([4, 4, 1, 9, 1, 4, 3]), "test")
    assert [str(iv) for iv in best.intervals] == ["[0, 0.3)", f"({steps[1]:.6g}, 1)"] and best.value == 4
    joined = kernels.cells_optimum(steps, np.array([0, 1, 5, 0, 5, 2, 2]), "test").intervals
    assert len(joined) == 1 and joined[0].lo == b and joined[0].hi == steps[1] and joined[0].lo_closed and joined[0].hi_closed


# ---------------------------------------------------------------------------------------------------
# Friedkin-Johnsen
# ---------------------------------------------------------------------------------------------------


def dense_fj(network, source, message, standardize):
    """The authors' formulation with dense numpy: W row-normalised over in-neighbours, agent row zeroed."""
    n = network.n_users
    A = np.zeros((n, n))
    for u, v in network.edges().tolist():
        A[v, u] = 1.0
    A /= np.maximum(A.sum(axis=1, keepdims=True), 1)
    A[source] = 0.0
    s = network.opinions.copy()
    s[source] = message
    if standardize:
        s = (s - s.mean()) / s.std()
    z = np.linalg.solve(2 * np.eye(n) - A, s)
    d_in = np.diag(A.sum(axis=0))
    polarization = z @ z
    disagreement = 0.5 * z @ (d_in + np.eye(n) - 2 * A) @ z
    # Their one-shot formula (with the 1/2 correction to Cinus et al.'s eq. 14).
    z1 = np.linalg.solve(2 * np.eye(n) - A.T, s)
    z3 = np.linalg.solve(2 * np.eye(n) - A.T, (d_in - np.eye(n)) @ z)
    assert np.isclose(s @ z1 + 0.5 * s @ z3, polarization + disagreement)
    return z, polarization, disagreement


@pytest.fixture(scope="module")
def directed_net():
    g = nx.gnp_random_graph(30, 0.12, seed=4, directed=True)
    return SocialNetwork.from_edges(np.array(g.edges()), np.random.default_rng(4).beta(1, 3, 30))


@pytest.mark.parametrize("standardize", [True, False])
def test_fj_matches_dense_solve(directed_net, standardize):
    model = FriedkinJohnsen(standardize=standardize)
    for source, message in [(7, 0.2), (0, 0.9), (21, 0.5)]:
        cascade = model.simulate(directed_net, source, message)
        z, polarization, disagreement = dense_fj(directed_net, source, message, standardize)
        assert np.allclose(cascade.opinions_after, z, atol=1e-12)
        assert np.isclose(cascade.extra["polarization"], polarization)
        assert np.isclose(cascade.extra["disagreement"], disagreement)
        assert np.isclose(cascade.extra["polarization_plus_disagreement"], polarization + disagreement)
        assert np.isclose(cascade.engaged, cascade.extra["worst_polarization_plus_disagreement"] - polarization - disagreement)
        assert cascade.active.tolist() == reachable(directed_net, source)


def test_fj_on_a_symmetric_graph_equals_the_authors_adjacency(net):
    # On graphs with every edge both ways, row-normalising nx.adjacency_matrix (their code) is our W.
    g = nx.gnp_random_graph(25, 0.15, seed=2)
    for v in g:
        g.nodes[v]["opinion"] = v / 25
    sym = SocialNetwork.from_networkx(g)
    A = nx.to_numpy_array(g, nodelist=range(25))
    A /= np.maximum(A.sum(axis=1, keepdims=True), 1)
    A[3] = 0.0
    s = sym.opinions.copy()
    s[3] = 0.7
    s = (s - s.mean()) / s.std()
    z = np.linalg.solve(2 * np.eye(25) - A, s)
    assert np.allclose(FriedkinJohnsen().simulate(sym, 3, 0.7).opinions_after, z)


@pytest.mark.parametrize("standardize", [True, False])
def test_fj_optimum_is_exact(directed_net, standardize):
    model = FriedkinJohnsen(standardize=standardize)
    grid = np.linspace(0, 1, 20001)
    interior = 0
    for source in range(0, 30, 3):
        best = model.optimum(directed_net, source)
        values = model.engagement(directed_net, source, grid)
        assert best.exact and values.max() <= best.value + 1e-12 and best.value - values.max() < 1e-6
        assert np.isclose(model.engagement(directed_net, source, best.message)[0], best.value)
        assert values.min() >= -1e-12 and values.min() < 1e-6  # 0 at the worst message
        interior += 0 < best.message < 1
    assert interior > 0 or not standardize  # standardised opinions give interior optima on this graph


def test_fj_cache_follows_network_and_source(directed_net, net):
    model = FriedkinJohnsen()
    a = model.engagement(directed_net, 3, [0.2, 0.8])
    model.engagement(net, 0, 0.5)
    assert np.array_equal(model.engagement(directed_net, 3, [0.2, 0.8]), a)
    assert not np.array_equal(model.engagement(directed_net, 4, [0.2, 0.8]), a)


def test_fj_degenerate_networks_stay_finite():
    agreeing = SocialNetwork.from_edges([(0, 1), (1, 2), (2, 1)], [0.4, 0.4, 0.4])
    values = FriedkinJohnsen().engagement(agreeing, 0, [0.0, 0.4, 1.0])
    assert np.all(np.isfinite(values)) and FriedkinJohnsen().optimum(agreeing, 0).value >= values.max()
    alone = SocialNetwork.from_edges([], [0.3])
    best = FriedkinJohnsen().optimum(alone, 0)
    assert best.value == 0.0 and best.intervals[0].width == 1.0
    assert FriedkinJohnsen().simulate(alone, 0, 0.8).engaged == 0.0


# ---------------------------------------------------------------------------------------------------
# The protocol and bad input
# ---------------------------------------------------------------------------------------------------


def test_models_follow_the_protocol():
    for model in (IndependentCascade(), LinearThreshold(), FriedkinJohnsen()):
        assert isinstance(model, EngagementModel)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: IndependentCascade(p=1.5), "p must be a probability"),
        (lambda: IndependentCascade(p=-0.1), "p must be a probability"),
        (lambda: IndependentCascade(p=float("nan")), "p must be a probability"),
        (lambda: IndependentCascade(p=True), "p must be a probability"),
        (lambda: IndependentCascade(n_runs=0), "n_runs must be an integer >= 1"),
        (lambda: IndependentCascade(n_runs=2.5), "n_runs must be an integer >= 1"),
        (lambda: IndependentCascade(epsilon=0), "epsilon must be a finite number > 0"),
        (lambda: IndependentCascade(epsilon=-0.2), "epsilon must be a finite number > 0"),
        (lambda: IndependentCascade(epsilon=float("inf")), "epsilon must be a finite number > 0"),
        (lambda: IndependentCascade(seed=-1), "seed must be an integer"),
        (lambda: IndependentCascade(grid_size=1), "grid_size must be an integer >= 2"),
        (lambda: LinearThreshold(weights="degree"), "weights must be 'uniform' or 'random'"),
        (lambda: LinearThreshold(n_runs=0), "n_runs must be an integer >= 1"),
        (lambda: LinearThreshold(epsilon=0.0), "epsilon must be a finite number > 0"),
        (lambda: FriedkinJohnsen(standardize="yes"), "standardize must be True or False"),
    ],
)
def test_bad_parameters_are_named(make, words):
    with pytest.raises(EngagementError, match=words):
        make()


@pytest.mark.parametrize("model", [IndependentCascade(n_runs=10), LinearThreshold(n_runs=10), FriedkinJohnsen()])
def test_bad_calls_are_named(net, model):
    with pytest.raises(EngagementError, match=r"message value 1.5 \(position 1\)"):
        model.engagement(net, 0, [0.5, 1.5])
    with pytest.raises(NetworkError, match="source 9 does not exist"):
        model.simulate(net, 9, 0.5)
    with pytest.raises(EngagementError, match="simulate takes one message value"):
        model.simulate(net, 0, [0.1, 0.2])
    assert model.engagement(net, 0, []).shape == (0,)
