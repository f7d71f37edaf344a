"""The reward: engagement equals the engine's, presets, shaping properties, gates, known hacks."""

import math

import numpy as np
import pytest

from engagegen import SocialNetwork
from engagegen.engagement import BoundedConfidenceCascade
from engagegen.network import paper_network, place_agent
from engagegen.reward import EngagementLookup, EngagementReward, RewardConfig, RewardError
from engagegen.scoring import VaderOpinion


class TableOpinion:
    """A scorer that reads s from a lookup table, so tests control the opinion value exactly."""

    def __init__(self, table):
        self.table = table

    def score(self, texts):
        return np.array([self.table[t] for t in texts], dtype=float)


class Constant:
    def __init__(self, value):
        self.value = value

    def score(self, texts):
        return np.full(len(texts), self.value)


class NoFlags:
    def flags(self, texts):
        return [[] for _ in texts]


@pytest.fixture(scope="module")
def audience():
    net = paper_network(opinions="negative", modularity="high", homophily="high")
    return net, place_agent(net, "central"), BoundedConfidenceCascade(epsilon=0.2)


@pytest.fixture(scope="module")
def real_reward(audience):
    net, agent, model = audience
    return EngagementReward(network=net, source=agent, engagement=model, opinion=VaderOpinion(), topic="cats")


def controlled_reward(audience, table, **config):
    """A reward over placeholder texts ('p0', ...): they end no sentence, so cut-off posts keep their reward."""
    net, agent, model = audience
    config.setdefault("cut_off", 1.0)
    return EngagementReward(network=net, source=agent, engagement=model, opinion=TableOpinion(table), topic="cats",
                            fluency=Constant(1.0), topic_scorer=Constant(1.0), moderation=NoFlags(),
                            config=RewardConfig(**config))


def test_lookup_equals_engine_everywhere_including_breakpoints(audience):
    net, agent, model = audience
    lookup = EngagementLookup(net, agent, model)
    rng = np.random.default_rng(0)
    edges = np.concatenate([net.opinions - 0.2, net.opinions + 0.2])
    s = np.concatenate([rng.random(300), edges[(edges >= 0) & (edges <= 1)], [0.0, 1.0]])
    assert np.array_equal(lookup(s), model.engagement(net, agent, s).astype(float))
    assert np.array_equal(lookup(s[::-1]), model.engagement(net, agent, s[::-1]).astype(float))  # cached path


def test_engaged_is_the_engine_engagement_at_the_scored_opinion(real_reward, audience):
    net, agent, model = audience
    posts = ["Cats are awful, lazy and selfish.", "I love my cat so much!", "Cats sleep a lot.", "I hate cats. Terrible pets."]
    out = real_reward.score(posts)
    assert np.array_equal(out.engaged, model.engagement(net, agent, out.opinion).astype(float))
    assert np.allclose(out.engaged_fraction, out.engaged / model.optimum(net, agent).value)
    assert out.opinion[0] < 0.5 < out.opinion[1]


def test_paper_preset_matches_the_formula(audience):
    import textstat

    net, agent, model = audience
    reward = EngagementReward(network=net, source=agent, engagement=model, opinion=VaderOpinion(), topic="cats",
                              config=RewardConfig(preset="paper"))
    prompts = ["Cats are the most"] * 3
    posts = ["terrible creatures I have ever met.", "wonderful friends.", "annoying, rude and lazy animals on earth."]
    out = reward.score(posts, prompts)
    joined = [f"{p} {t}" for p, t in zip(prompts, posts)]
    s = VaderOpinion().score(joined)
    engaged = model.engagement(net, agent, s)
    expected = [math.sqrt(e * max(textstat.flesch_kincaid_grade(t), 0)) for e, t in zip(engaged, joined)]
    assert np.allclose(out.total, expected)


@pytest.mark.parametrize("proximity_scale", [None, 0.1])
def test_shaping_gives_spread_to_equal_engagement(audience, proximity_scale):
    net, agent, model = audience
    grid = np.linspace(0.6, 1.0, 8)  # far above the optimum: nobody engages
    table = {f"p{i}": float(s) for i, s in enumerate(grid)}
    out = controlled_reward(audience, table, proximity_scale=proximity_scale).score(list(table))
    assert np.all(out.engaged == out.engaged[0])
    assert out.total.std() > 0
    assert np.all(np.diff(out.total) < 0)  # closer to the optimal interval is better


@pytest.mark.parametrize("proximity_scale", [None, 0.1])
def test_shaping_never_reorders_posts_whose_engagement_differs_by_a_user(audience, proximity_scale):
    rng = np.random.default_rng(1)
    s = np.concatenate([rng.random(400), np.linspace(0, 1, 201)])
    table = {f"p{i}": float(v) for i, v in enumerate(s)}
    out = controlled_reward(audience, table, proximity_scale=proximity_scale).score(list(table))
    e, t = out.engaged, out.total
    higher = e[:, None] >= e[None, :] + 1
    assert higher.any()
    assert np.all((t[:, None] > t[None, :])[higher])


def test_an_exponential_proximity_separates_posts_far_from_the_optimum_more(audience):
    """Where nobody engages, the shaping is the only signal: relative to its size, posts a step
    apart differ by more under exp(-d / scale) than under 1 - d."""
    table = {"far": 0.9, "nearer": 0.8}  # both engage no one
    linear = controlled_reward(audience, table).score(list(table))
    sharp = controlled_reward(audience, table, proximity_scale=0.1).score(list(table))
    assert linear.engaged.sum() == sharp.engaged.sum() == 0
    assert sharp.total[1] / sharp.total[0] > 2.5 > 1.5 > linear.total[1] / linear.total[0] > 1
    with pytest.raises(RewardError, match="proximity_scale"):
        RewardConfig(proximity_scale=0.0)


def test_without_shaping_the_total_is_the_fraction_of_the_optimum(audience):
    table = {"a": 0.1, "b": 0.5, "c": 0.95}
    out = controlled_reward(audience, table, shaping=False).score(list(table))
    assert np.allclose(out.total * 1.0, out.engaged_fraction * out.topic_gate * out.fluency_gate)


def test_sharpness_raises_the_gated_reward_to_a_power_and_keeps_the_order(audience):
    s = np.linspace(0, 1, 101)
    table = {f"p{i}": float(v) for i, v in enumerate(s)}
    plain = controlled_reward(audience, table).score(list(table))
    sharp = controlled_reward(audience, table, sharpness=4.0).score(list(table))
    assert np.allclose(sharp.total, plain.total ** 4)
    assert np.array_equal(np.argsort(sharp.total, kind="stable"), np.argsort(plain.total, kind="stable"))
    near = (plain.engaged_fraction >= 0.5) & (plain.engaged_fraction < 0.99)
    assert near.any()  # the gap to an optimal post widens where most of the audience engages
    assert np.all(1 - sharp.total[near] > 1.5 * (1 - plain.total[near]))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(RewardError, match="sharpness must be a finite number > 0"):
            RewardConfig(sharpness=bad)
    with pytest.raises(RewardError, match="applies to the 'constrained' preset"):
        RewardConfig(preset="paper", sharpness=2.0)


def test_gates_empty_flagged_and_prompt_copies(real_reward):
    posts = ["", "   ", "I will kill you and your cat.", "Write a short social media post about cats."]
    prompts = ["Write a short social media post about cats."] * 4
    out = real_reward.score(posts, prompts)
    assert np.all(out.total == 0)
    assert out.reason[0] == "empty post" and out.reason[1] == "empty post"
    assert out.flagged[2] and out.reason[2].startswith("flagged")
    assert out.reason[3] == "copies the prompt"


KNOWN_HACKS = {
    "repeated negations": "no no no no no no cat cat cat couch",
    "word loop": "cats hate hate hate hate cats cats cats",
    "emoji pile": "😾😾😾😾😾😾😾 😿😿😿😿",
    "hashtag pile": "#cats #nocats #hate #bad #awful #worst #ugh #cats",
    "made-up words": "Cats are blorfy snazzle grumptious vexplode wuzzle.",
    "negation list": "No. No. No. No cats. No. No. Never. No.",
}


def test_known_hacks_earn_little(real_reward):
    honest = real_reward.score(["I really dislike cats. They scratch the sofa and ignore everyone."])
    assert honest.total[0] > 0.5  # a fluent negative post reaches most of the optimum
    out = real_reward.score(list(KNOWN_HACKS.values()))
    for name, total in zip(KNOWN_HACKS, out.total):
        assert total < 0.15 * honest.total[0], f"{name} earned {total:.3f}"


def test_trl_signature_and_logging(real_reward):
    logged = {}
    completions = [[{"role": "assistant", "content": "Cats are terrible pets."}], [{"role": "assistant", "content": "I adore cats!"}]]
    prompts = [[{"role": "user", "content": "Write a short social media post about cats."}]] * 2
    values = real_reward(prompts=prompts, completions=completions, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert len(values) == 2 and all(isinstance(v, float) for v in values)
    assert "engaged_mean" in logged and "flagged_count" in logged
    assert real_reward(completions=["plain text completion"])  # standard (non-chat) format


def test_bad_input(audience):
    net, agent, model = audience
    with pytest.raises(RewardError, match="topic must be a non-empty"):
        EngagementReward(network=net, source=agent, engagement=model, opinion=VaderOpinion(), topic="  ")
    reward = controlled_reward(audience, {"a": 0.1})
    with pytest.raises(RewardError, match="post 1 is a int"):
        reward.score(["a", 3])
    with pytest.raises(RewardError, match="wrap a single post"):
        reward.score("a")
    with pytest.raises(RewardError, match="got 2 prompts for 1 posts"):
        reward.score(["a"], ["p", "q"])
    with pytest.raises(ValueError, match="preset"):
        RewardConfig(preset="best")


def test_reward_on_a_graph_the_agent_cannot_reach_from():
    net = SocialNetwork.from_edges([(1, 0)], [0.5, 0.5])
    with pytest.warns(UserWarning):
        reward = EngagementReward(network=net, source=0, engagement=BoundedConfidenceCascade(epsilon=0.2),
                                  opinion=Constant(0.5), topic="cats", fluency=Constant(1.0),
                                  topic_scorer=Constant(1.0), moderation=NoFlags())
        out = reward.score(["anything"])
    assert out.total[0] == 0.0 and reward.optimum.value == 0


def test_non_english_posts_are_scored_and_marked(real_reward):
    out = real_reward.score(["Je déteste les chats, ils griffent tout le canapé.", "I really dislike cats. They scratch the sofa."])
    assert out.out_of_language.tolist() == [True, False]
    assert np.isfinite(out.total).all()
    assert out.summary()["out_of_language_count"] == 1
    assert out.records()[0]["out_of_language"] is True


def test_a_call_embeds_each_post_once_for_all_scorers_and_keeps_nothing(real_reward, monkeypatch):
    """The topic scorer and the semantic moderation layer read the same embeddings in one call; the
    next call embeds again (what the process embedded before must not change a run's rewards)."""
    from engagegen.scoring import Embedder

    real_reward.topic_scorer.topic_vector  # the topic's own embedding, made once on first use
    embedded = []
    forward = Embedder._forward
    monkeypatch.setattr(Embedder, "_forward", lambda self, model, todo, progress: embedded.append(sorted(todo)) or forward(self, model, todo, progress))
    posts = ["My cat naps in the sun all afternoon.", "Cats are the best company on a rainy day."]
    first = real_reward.score(posts)
    assert embedded == [sorted(posts)]
    again = real_reward.score(posts)
    assert embedded == [sorted(posts)] * 2
    np.testing.assert_array_equal(first.total, again.total)
