"""Exact optimum of the bounded-confidence cascade: both searches against brute force."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from bcm_strategies import bounds, messages_for, networks
from hypothesis import given, settings

from engagegen.engagement import BoundedConfidenceCascade, EngagementError, EngagementWarning, Interval
from engagegen.engagement import optimum as optimum_module
from engagegen.engagement.optimum import SEARCH, _brute_force_optimum, _optimum_from_segments, _search_values, _segments
from engagegen.network.graph import SocialNetwork

FAST = settings(max_examples=150, deadline=None)


def _floats(interval):
    """The interval as the closed range of floats it holds (open ends written two ways are equal)."""
    lo = interval.lo if interval.lo_closed else np.nextafter(interval.lo, 2.0)
    hi = interval.hi if interval.hi_closed else np.nextafter(interval.hi, -1.0)
    return float(lo), float(hi)


def _same(found, expected):
    assert found.value == expected.value
    assert [_floats(iv) for iv in found.intervals] == [_floats(iv) for iv in expected.intervals]
    assert found.exact and found.contains(found.message)


def _probes(net, eps, backfire):
    """Breakpoints, their float neighbours and the midpoints between them."""
    values = np.array(messages_for(net, eps, backfire))
    around = np.concatenate([values, np.nextafter(values, -1), np.nextafter(values, 2), 0.5 * (values[1:] + values[:-1])])
    return np.unique(around[(around >= 0) & (around <= 1)])


def _check(net, source, eps, backfire):
    model = BoundedConfidenceCascade(eps, epsilon_backfire=backfire)
    bf = math.inf if backfire is None else backfire
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EngagementWarning)
        expected = _brute_force_optimum(net, source, eps, bf)
        found = model.optimum(net, source)
        _same(found, expected)
        # The window refinement, forced to run many rounds even on a tiny graph.
        seg = _segments(net, source, eps, bf)
        _same(_optimum_from_segments(seg, *_search_values(seg, first_split=2, split=2), eps, bf, SEARCH), expected)
        if net.is_symmetric:
            _same(model.optimum(net, source, method="search"), expected)
        # Every float probe is inside an optimal interval iff it reaches the optimum.
        probes = _probes(net, eps, backfire)
        reached = model.engagement(net, source, probes) == found.value
        assert reached.tolist() == [found.contains(s) for s in probes]
        assert found.contains(found.message)


@FAST
@given(networks(symmetric=False), bounds())
def test_directed_optimum_equals_brute_force(case, eps_bf):
    _check(*case, *eps_bf)


@FAST
@given(networks(symmetric=True), bounds())
def test_symmetric_optimum_equals_brute_force(case, eps_bf):
    _check(*case, *eps_bf)


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("backfire", [None, 0.6])
def test_medium_random_graphs(symmetric, backfire):
    # Thousands of segments: the search runs several rounds of windows with its default splits.
    rng = np.random.default_rng(3 + symmetric)
    n = 1500
    edges = rng.integers(0, n, size=(4 * n, 2))
    if symmetric:
        edges = np.concatenate([edges, edges[:, ::-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = SocialNetwork.from_edges(edges, np.round(rng.random(n), 3))
    assert net.is_symmetric == symmetric
    _check(net, 0, 0.1, backfire)
    _check_near_optimal(net, 0, 0.1, backfire)


def test_a_grid_of_step_001_misses_the_optimum():
    # Users 1 and 2 engage together only on (0.5005, 0.5045): no multiple of 0.01 lies inside.
    net = SocialNetwork.from_edges([(0, 1), (0, 2)], opinions=[0.5, 0.3045, 0.7005])
    model = BoundedConfidenceCascade(0.2)
    opt = model.optimum(net, 0)
    assert opt.value == 2
    assert opt.intervals == (Interval(0.7005 - 0.2, 0.3045 + 0.2),)
    assert model.engagement(net, 0, np.linspace(0, 1, 101)).max() == 1
    assert model.simulate(net, 0, opt.message).engaged == 2


def test_interval_runs_through_a_breakpoint_reaching_the_optimum():
    # User 1 stops engaging at 0.5 exactly where user 2 starts; on a second path 3 is engaged across.
    # 0 -> 1, 0 -> 2, 0 -> 3: x = (0.25, 0.75, 0.5), epsilon 0.25 -> alive (0, 0.5), (0.5, 1), (0.25, 0.75).
    net = SocialNetwork.from_edges([(0, 1), (0, 2), (0, 3)], opinions=[0.0, 0.25, 0.75, 0.5])
    opt = BoundedConfidenceCascade(0.25).optimum(net, 0)
    assert opt.value == 2 and [str(iv) for iv in opt.intervals] == ["(0.25, 0.5)", "(0.5, 0.75)"]
    # With user 1 wider, both sides and the breakpoint itself reach 3: one interval through 0.5.
    net = SocialNetwork.from_edges([(0, 1), (0, 2), (0, 3)], opinions=[0.0, 0.5, 0.5, 0.5])
    opt = BoundedConfidenceCascade(0.25).optimum(net, 0)
    assert opt.value == 3 and [str(iv) for iv in opt.intervals] == ["(0.25, 0.75)"]
    # Ends at 0 and 1 are closed when reached there.
    opt = BoundedConfidenceCascade(1.0).optimum(net, 0)
    assert [str(iv) for iv in opt.intervals] == ["[0, 1]"]


def test_message_is_the_midpoint_of_the_widest_interval():
    net = SocialNetwork.from_edges([(0, 1), (0, 2)], opinions=[0.0, 0.125, 0.875])
    opt = BoundedConfidenceCascade(0.25).optimum(net, 0)
    assert [str(iv) for iv in opt.intervals] == ["[0, 0.375)", "(0.625, 1]"]
    assert opt.message == 0.1875


def test_sweep_refuses_a_directed_network():
    net = SocialNetwork.from_edges([(0, 1)], opinions=[0.5, 0.5])
    with pytest.raises(EngagementError, match="symmetric"):
        BoundedConfidenceCascade().optimum(net, 0, method="sweep")
    with pytest.raises(EngagementError, match="method"):
        BoundedConfidenceCascade().optimum(net, 0, method="grid")


def test_a_rounding_sliver_holding_no_float_is_not_an_optimum():
    # In floats 0.1 + 0.1 and 0.3 - 0.1 are adjacent: users 1 and 2 "overlap" on an open interval
    # holding no message value, so no post engages both; every float in (0, 0.4) engages one.
    net = SocialNetwork.from_edges([(0, 1), (0, 2)], opinions=[0.5, 0.1, 0.3])
    assert np.nextafter(0.3 - 0.1, 1.0) == 0.1 + 0.1
    for method in ("search", "auto"):
        opt = BoundedConfidenceCascade(0.1).optimum(net, 0, method=method)
        assert opt.value == 1
        assert [str(iv) for iv in opt.intervals] == ["(0, 0.4)"]


def _check_near_optimal(net, source, eps, backfire):
    """Every float probe lies in the near-optimal intervals iff its engagement reaches the fraction."""
    model = BoundedConfidenceCascade(eps, epsilon_backfire=backfire)
    bf = math.inf if backfire is None else backfire
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EngagementWarning)
        best = model.optimum(net, source).value
        probes = _probes(net, eps, backfire)
        engaged = model.engagement(net, source, probes)
        for fraction in (0.3, 0.9, 1.0):
            found = model.near_optimal(net, source, fraction)
            expected = [bool(e / best >= fraction) if best else True for e in engaged]
            assert [any(s in iv for iv in found) for s in probes] == expected
            # Maximal: consecutive intervals never touch.
            assert all(a.hi < b.lo or (a.hi == b.lo and not (a.hi_closed or b.lo_closed)) for a, b in zip(found, found[1:]))
            # One window over every leaf to begin with: settled by halving, round after round.
            assert optimum_module.near_optimal_intervals(net, source, eps, fraction, bf, first_windows=1) == found
        assert [(iv.lo, iv.hi) for iv in model.near_optimal(net, source, 1.0)] == [
            (iv.lo, iv.hi) for iv in model.optimum(net, source).intervals]


@FAST
@given(networks(symmetric=False), bounds())
def test_directed_near_optimal_equals_brute_force(case, eps_bf):
    _check_near_optimal(*case, *eps_bf)


@FAST
@given(networks(symmetric=True), bounds())
def test_symmetric_near_optimal_equals_brute_force(case, eps_bf):
    _check_near_optimal(*case, *eps_bf)


def test_near_optimal_level_is_compared_in_floats_as_results_are():
    # 0.9 * 90 is 81.00000000000001 in floats; 81 of 90 users still counts as 90% of the optimum.
    assert optimum_module._need(90, 0.9) == 81
    assert optimum_module._need(10, 0.95) == 10 and optimum_module._need(0, 0.9) == 0


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, True, "0.9", float("nan")])
def test_near_optimal_refuses_a_bad_fraction(fraction):
    net = SocialNetwork.from_edges([(0, 1)], [0.5, 0.3])
    with pytest.raises(EngagementError, match="fraction must be a number in"):
        BoundedConfidenceCascade(0.2).near_optimal(net, 0, fraction)
