"""A user's own engagement model: a plain class, no subclassing, plugs into the generic helpers."""

import numpy as np

from engagegen.engagement import Cascade, EngagementModel, Interval, Optimum, check_messages
from engagegen.network.graph import SocialNetwork
from engagegen.reward.lookup import EngagementLookup, SteppedEngagement


class ReachWithinEpsilon:
    """Everyone within epsilon of the post engages, wherever they sit in the graph (a broadcast)."""

    def __init__(self, epsilon: float = 0.2) -> None:
        self.epsilon = epsilon

    def engagement(self, network, source, messages):
        s = check_messages(messages)
        close = np.abs(s[:, None] - network.opinions[None, :]) < self.epsilon
        close[:, source] = False
        return close.sum(axis=1).astype(float)

    def simulate(self, network, source, message):
        active = np.flatnonzero(np.abs(network.opinions - message) < self.epsilon)
        active = active[active != source]
        return Cascade(engaged=float(len(active)), active=active, message=float(message), source=source)

    def optimum(self, network, source):
        grid = np.linspace(0.0, 1.0, 1001)
        values = self.engagement(network, source, grid)
        best = int(values.argmax())
        at = float(grid[best])
        return Optimum(value=float(values[best]), message=at, intervals=(Interval(at, at, True, True),),
                       exact=False, method="grid of 1001 points")

    # Optional: where engagement can change. Lets EngagementLookup evaluate each step only once.
    def breakpoints(self, network, source):
        x = np.delete(network.opinions, source)
        return np.sort(np.concatenate([x - self.epsilon, x + self.epsilon]))


def test_a_plain_class_is_an_engagement_model():
    model = ReachWithinEpsilon(0.2)
    assert isinstance(model, EngagementModel) and isinstance(model, SteppedEngagement)

    class NoOptimum:
        def simulate(self, network, source, message): ...
        def engagement(self, network, source, messages): ...

    assert not isinstance(NoOptimum(), EngagementModel)


def test_the_custom_model_works_with_the_generic_lookup():
    # User 3 has no edge at all: a broadcast still reaches it.
    net = SocialNetwork.from_edges([(0, 1), (1, 2)], [0.5, 0.1, 0.25, 0.3])
    model = ReachWithinEpsilon(0.2)
    assert model.simulate(net, 0, 0.2).active.tolist() == [1, 2, 3]
    lookup = EngagementLookup(net, 0, model)
    s = np.random.default_rng(0).uniform(size=200)
    assert np.array_equal(lookup(s), model.engagement(net, 0, s))
    best = model.optimum(net, 0)
    assert best.value == 3.0 and model.engagement(net, 0, best.message)[0] == 3.0
