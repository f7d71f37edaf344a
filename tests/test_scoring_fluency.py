"""Fluency: readability band (not "harder is better"), degeneration checks, length, optional perplexity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scoring_models import make_tiny_causal_lm

from engagegen.scoring import Fluency, FluencyDetails, ScoringError

PLAIN = "My cat sleeps in the sun all afternoon, and honestly that looks like the best life."
HARD = ("Notwithstanding epistemological considerations, feline companionship constitutes an unparalleled "
        "psychophysiological intervention for contemporary urbanites.")


def test_plain_post_scores_high_and_jargon_low():
    details = Fluency().details([PLAIN, HARD])
    assert details.score[0] > 0.9
    assert details.score[1] < 0.1
    assert details.readability_value[1] < details.readability_value[0]  # Flesch reading ease: higher = easier
    assert "hard to read" in details.reason[1] and details.reason[0] == ""


def test_readability_is_a_band_with_soft_decay():
    f = Fluency(band=(50, 90), softness=20)
    d = f.details([PLAIN, HARD, "I see a cat. The cat is fat. The cat can nap."])
    assert 50 <= d.readability_value[0] <= 90 and d.readability[0] == 1.0
    assert d.readability[1] < 0.01
    # too easy is outside the band too: exp(-d^2 / (2 * 20^2)) at distance d above 90
    above = d.readability_value[2] - 90
    assert above > 0 and d.readability[2] == pytest.approx(np.exp(-0.5 * (above / 20) ** 2))


def test_grade_metric_rewards_a_grade_band():
    details = Fluency(metric="grade").details([PLAIN, HARD])
    assert details.readability_value[1] > details.readability_value[0]
    assert details.readability[0] > 0.9 > 0.1 > details.readability[1]


def test_repetition_checks():
    f = Fluency()
    d = f.details(["cats cats cats are great pets and friends", "I love cats. I love cats. I love cats. I love cats.",
                   "cats are great because they are independent and they are clean"])
    assert d.max_repeat[0] == 3 and d.repetition[0] == pytest.approx(0.2)
    assert "repeated 3 times" in d.reason[0]
    assert d.distinct_2[1] < 0.5 and d.repetition[1] < 0.6 and "repetitive" in d.reason[1]
    assert d.repetition[2] == 1.0


def test_nonword_share_counts_emoji_hashtags_urls_mentions_and_made_up_words():
    d = Fluency().details(["lol 😂😂 #cats @bob https://x.com/a blorptastic zindle", PLAIN])
    assert d.nonword_share[0] > 0.7 and d.nonword[0] == 0.0
    assert d.nonword_share[1] == 0.0 and d.nonword[1] == 1.0


def test_length_bounds():
    d = Fluency(min_words=5, max_words=20).details(["Cats rule.", " ".join(["My cat is sweet and kind."] * 8), PLAIN])
    assert d.words.tolist()[:2] == [2, 48]
    assert d.length[0] == pytest.approx(2 / 5) and d.length[1] == pytest.approx(20 / 48) and d.length[2] == 1.0
    assert "too short (2 words)" in d.reason[0] and "too long (48 words)" in d.reason[1]


def test_score_is_the_product_of_components_and_details_cover_every_text():
    texts = [PLAIN, "", "cats cats cats cats", "Blorf zindle quarp the mognak fizzleworp."]
    f = Fluency()
    d = f.details(texts)
    assert isinstance(d, FluencyDetails)
    np.testing.assert_allclose(d.score, f.score(texts))
    np.testing.assert_allclose(d.score, d.readability * d.repetition * d.nonword * d.style * d.length
                               * d.perplexity_score)
    assert d.score[1] == 0 and d.reason[1] == "empty text" and math.isnan(d.readability_value[1])
    assert set(d.as_dict()) >= {"score", "readability", "repetition", "nonword", "length", "reason"}
    assert all(len(v) == len(texts) for v in d.as_dict().values())


def test_shouting_and_punctuation_runs_are_penalised():
    # the cheap ways to inflate a lexicon sentiment score (VADER boosts capitals and "!!!")
    d = Fluency().details(["MY CAT IS THE BEST CAT EVER, I LOVE HER", "My cat is the best cat ever!!!!!",
                           "NASA says my cat is the best cat ever."])
    assert d.caps_share[0] == 1.0 and d.style[0] == 0.0 and "shouting" in d.reason[0]
    assert d.style[1] == 0.5 and "4+ ! or ?" in d.reason[1]
    assert d.style[2] == 1.0  # an acronym is not shouting


def test_only_emoji_has_no_words():
    d = Fluency().details(["😂😂😂 🐱"])
    assert d.score[0] == 0 and "no words" in d.reason[0]


@pytest.mark.parametrize(
    "kwargs",
    [dict(metric="smog"), dict(band=(90, 50)), dict(softness=0), dict(softness=(10, -1)), dict(min_words=10, max_words=5),
     dict(nonword_tolerance=0.7, nonword_limit=0.6), dict(repeat_run=1), dict(perplexity_range=(100, 10))],
)
def test_bad_configuration_is_refused(kwargs):
    with pytest.raises(ScoringError):
        Fluency(**kwargs)


def test_optional_perplexity_under_a_local_causal_lm(tmp_path):
    lm = make_tiny_causal_lm(tmp_path / "tiny-lm")
    f = Fluency(perplexity_model=str(lm), perplexity_range=(50, 1_000_000))
    d = f.details([PLAIN, "Cats!", ""])
    assert np.isfinite(d.perplexity[:2]).all() and math.isnan(d.perplexity[2])
    # a random model over a 30k vocabulary is about as perplexed as uniform guessing
    assert 1_000 < d.perplexity[0] < 200_000
    assert 0 < d.perplexity_score[0] < 1
    np.testing.assert_allclose(d.perplexity[:1], f.perplexity.compute([PLAIN]), rtol=1e-5)  # batch == alone


def test_perplexity_model_that_cannot_load_is_named():
    f = Fluency(perplexity_model="someone/not-cached-lm")  # loaded lazily, on first use
    with pytest.raises(ScoringError, match="someone/not-cached-lm"):
        f.score([PLAIN])
