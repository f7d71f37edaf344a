"""BoundedConfidenceCascade: the paper's semantics, validation, batched and multi-shot modes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from bcm_strategies import bounds, messages_for, networks
from hypothesis import given, settings
from hypothesis import strategies as st

from engagegen.engagement import BoundedConfidenceCascade, EngagementError, EngagementModel, EngagementWarning
from engagegen.engagement.bounded_confidence import _reference_engaged
from engagegen.network.graph import NetworkError, SocialNetwork

FAST = settings(max_examples=150, deadline=None)


@pytest.fixture
def chain():
    # 0 -> 1 -> 2 -> 3 and 0 -> 4; opinions chosen on a dyadic grid so boundaries are exact.
    return SocialNetwork.from_edges([(0, 1), (1, 2), (2, 3), (0, 4)], opinions=[0.5, 0.5, 0.75, 0.25, 1.0])


def test_is_an_engagement_model():
    assert isinstance(BoundedConfidenceCascade(), EngagementModel)


def test_paper_semantics_strict_bound_and_relay(chain):
    model = BoundedConfidenceCascade(epsilon=0.25)
    # s = 0.5: user 1 engages (0 gap); user 2 at gap 0.25 does not (strict), so 3 never hears it.
    c = model.simulate(chain, 0, 0.5)
    assert (c.engaged, c.active.tolist()) == (1, [1])
    # s = 0.625: users 1 and 2 engage; user 3 (gap 0.375) does not; user 4 (gap 0.375) does not.
    c = model.simulate(chain, 0, 0.625)
    assert (c.engaged, c.active.tolist(), c.source, c.message) == (2, [1, 2], 0, 0.625)
    # The source's own opinion never matters and the source is never counted.
    assert model.simulate(chain.with_opinions([0.0, 0.5, 0.75, 0.25, 1.0]), 0, 0.625).engaged == 2


def test_opinions_after_shift_engaged_users_only(chain):
    c = BoundedConfidenceCascade(epsilon=0.25, mu=0.5).simulate(chain, 0, 0.625)
    np.testing.assert_array_equal(c.opinions_after, [0.5, 0.5625, 0.6875, 0.25, 1.0])
    assert c.extra == {"opinion_shift": 0.0, "backfired": 0}
    np.testing.assert_array_equal(chain.opinions, [0.5, 0.5, 0.75, 0.25, 1.0])  # network untouched


def test_backfire_counts_forwards_and_pushes_away(chain):
    # User 4 (x = 1) is farther than 0.5 from s = 0.375: it engages against the message.
    model = BoundedConfidenceCascade(epsilon=0.25, mu=0.5, epsilon_backfire=0.5)
    c = model.simulate(chain, 0, 0.375)
    assert c.active.tolist() == [1, 4]
    assert c.extra["backfired"] == 1 and c.extra["backfired_counted"] and c.extra["backfired_forward"]
    # Pushed away: 1 - 0.5 * (0.375 - 1) = 1.3125, clipped to the opinion scale.
    assert c.opinions_after[4] == 1.0 and c.opinions_after[1] == 0.4375
    # A backfiring user relays: 0 -> 1 -> 2 with user 1 backfiring lets user 2 engage.
    relay = SocialNetwork.from_edges([(0, 1), (1, 2)], opinions=[0.5, 0.0, 0.875])
    assert model.simulate(relay, 0, 0.875).active.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"epsilon": 0}, "epsilon"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"epsilon": math.nan}, "epsilon"),
        ({"epsilon": math.inf}, "epsilon"),
        ({"epsilon": True}, "epsilon"),
        ({"epsilon": "0.2"}, "epsilon"),
        ({"mu": 1.5}, "mu"),
        ({"mu": -0.1}, "mu"),
        ({"mu": None}, "mu"),
        ({"epsilon_backfire": 0.1}, "epsilon_backfire"),
        ({"epsilon_backfire": math.nan}, "epsilon_backfire"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(EngagementError, match=name):
        BoundedConfidenceCascade(**kwargs)


def test_repr_shows_parameters():
    assert repr(BoundedConfidenceCascade(0.3, epsilon_backfire=0.6)) == "BoundedConfidenceCascade(epsilon=0.3, mu=0.5, epsilon_backfire=0.6)"


@pytest.mark.parametrize("source", [5, -1, 1.0, "0", None])
def test_bad_source_is_a_network_error(chain, source):
    model = BoundedConfidenceCascade()
    for call in (lambda: model.simulate(chain, source, 0.5), lambda: model.engagement(chain, source, [0.5]), lambda: model.optimum(chain, source)):
        with pytest.raises(NetworkError, match="source"):
            call()


@pytest.mark.parametrize("message", [math.nan, -0.01, 1.01, math.inf])
def test_bad_messages_are_engagement_errors(chain, message):
    model = BoundedConfidenceCascade()
    with pytest.raises(EngagementError, match="message value"):
        model.simulate(chain, 0, message)
    with pytest.raises(EngagementError, match=r"position 1"):
        model.engagement(chain, 0, [0.5, message])
    with pytest.raises(EngagementError, match=r"position 2"):
        model.simulate_sequence(chain, 0, [0.5, 0.5, message])


def test_simulate_takes_one_message(chain):
    with pytest.raises(EngagementError, match="one message"):
        BoundedConfidenceCascade().simulate(chain, 0, [0.5, 0.6])


def test_source_without_out_edges_engages_nobody_with_a_warning(chain):
    model = BoundedConfidenceCascade()
    with pytest.warns(EngagementWarning, match="source 3 has no out-edges"):
        assert model.simulate(chain, 3, 0.75).engaged == 0
    with pytest.warns(EngagementWarning):
        assert model.engagement(chain, 3, [0.0, 0.75]).tolist() == [0, 0]
    with pytest.warns(EngagementWarning):
        opt = model.optimum(chain, 3)
    assert (opt.value, [str(iv) for iv in opt.intervals], opt.message) == (0, ["[0, 1]"], 0.5)


def test_empty_message_batch(chain):
    assert BoundedConfidenceCascade().engagement(chain, 0, []).shape == (0,)


@FAST
@given(networks(), bounds())
def test_simulate_matches_the_set_based_reference(case, eps_bf):
    net, source = case
    eps, backfire = eps_bf
    model = BoundedConfidenceCascade(eps, epsilon_backfire=backfire)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EngagementWarning)
        for s in messages_for(net, eps, backfire):
            expected = _reference_engaged(net, source, s, eps, math.inf if backfire is None else backfire)
            c = model.simulate(net, source, s)
            assert c.active.tolist() == sorted(expected)
            assert c.engaged == len(expected)


@FAST
@given(networks(), bounds(), st.lists(st.floats(0.0, 1.0), max_size=20))
def test_batched_equals_per_message(case, eps_bf, extra):
    net, source = case
    eps, backfire = eps_bf
    model = BoundedConfidenceCascade(eps, epsilon_backfire=backfire)
    messages = messages_for(net, eps, backfire) + extra + extra[:3]  # duplicates on purpose
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EngagementWarning)
        batched = model.engagement(net, source, messages)
        assert batched.dtype == np.int64
        assert batched.tolist() == [model.simulate(net, source, s).engaged for s in messages]


def test_batched_equals_per_message_on_a_larger_graph():
    # Several 64-message passes over a graph big enough for users to collect bits from many relays.
    rng = np.random.default_rng(7)
    n = 3000
    edges = rng.integers(0, n, size=(6 * n, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = SocialNetwork.from_edges(edges, rng.random(n))
    model = BoundedConfidenceCascade(0.15, epsilon_backfire=0.7)
    messages = rng.random(300)
    assert model.engagement(net, 11, messages).tolist() == [model.simulate(net, 11, s).engaged for s in messages]


@FAST
@given(networks(), bounds(), st.lists(st.sampled_from([k / 16 for k in range(17)]) | st.floats(0, 1), max_size=6),
       st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_sequence_equals_chained_single_posts(case, eps_bf, messages, mu):
    net, source = case
    eps, backfire = eps_bf
    model = BoundedConfidenceCascade(eps, mu=mu, epsilon_backfire=backfire)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EngagementWarning)
        seq = model.simulate_sequence(net, source, messages)
        current = net
        for s, c in zip(messages, seq.cascades, strict=True):
            single = model.simulate(current, source, s)
            assert c.active.tolist() == single.active.tolist()
            assert c.extra == single.extra
            current = current.with_opinions(single.opinions_after)
    np.testing.assert_array_equal(seq.opinions, current.opinions)
    assert seq.engaged.tolist() == [c.engaged for c in seq.cascades]


def test_sequence_moves_opinions_that_later_posts_meet():
    # 0 -> 1, x_1 = 0.5, epsilon 0.25: a post at 0.875 alone misses user 1, but after 0.625 and 0.75
    # moved user 1 to 0.5625 and then 0.65625, it engages and moves to 0.765625.
    net = SocialNetwork.from_edges([(0, 1)], opinions=[0.0, 0.5])
    model = BoundedConfidenceCascade(0.25, mu=0.5)
    assert model.engagement(net, 0, [0.875]).tolist() == [0]
    seq = model.simulate_sequence(net, 0, [0.625, 0.75, 0.875])
    assert seq.engaged.tolist() == [1, 1, 1]
    assert seq.opinions.tolist() == [0.0, 0.765625]
    assert net.opinions.tolist() == [0.0, 0.5]
