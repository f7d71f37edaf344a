"""Hypothesis strategies shared by the bounded-confidence tests: small networks full of ties.

Opinions mix a dyadic grid (so that x +- epsilon is computed without rounding and messages land
exactly on breakpoints) with arbitrary floats; epsilon and epsilon_backfire come from short lists.
"""

from __future__ import annotations

from hypothesis import strategies as st

from engagegen.network.graph import SocialNetwork

EPSILONS = [0.0625, 0.125, 0.2, 0.25, 0.5, 1.0, 1.5]
GRID = [k / 16 for k in range(17)]

opinion = st.one_of(st.sampled_from(GRID), st.floats(0.0, 1.0))


@st.composite
def networks(draw, symmetric: bool | None = None, max_users: int = 10):
    """(network, source): random directed or symmetric graphs, possibly disconnected or edgeless."""
    n = draw(st.integers(1, max_users))
    opinions = draw(st.lists(opinion, min_size=n, max_size=n))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    if symmetric is None:
        symmetric = draw(st.booleans())
    edges = {(u, v) for u, v in pairs if u != v}
    if symmetric:
        edges |= {(v, u) for u, v in edges}
    net = SocialNetwork.from_edges(sorted(edges), opinions)
    return net, draw(st.integers(0, n - 1))


@st.composite
def bounds(draw):
    """(epsilon, epsilon_backfire or None) with epsilon_backfire >= epsilon."""
    eps = draw(st.sampled_from(EPSILONS))
    backfire = draw(st.one_of(st.none(), st.sampled_from([e for e in EPSILONS if e >= eps] + [eps + 0.3])))
    return eps, backfire


def messages_for(net: SocialNetwork, eps: float, backfire: float | None) -> list[float]:
    """Message values on and around every breakpoint of every user, plus the grid."""
    values = set(GRID)
    for x in net.opinions.tolist():
        for d in [eps] + ([backfire] if backfire is not None else []):
            values |= {x - d, x + d, x}
    return sorted(v for v in values if 0.0 <= v <= 1.0)
