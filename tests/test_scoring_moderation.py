"""Moderation gate: the red-team list must all be flagged, ordinary posts (almost) never."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scoring_models import make_tiny_classifier

from engagegen.scoring import CATEGORIES, Moderation, ScoringError
from engagegen.scoring.moderation import normalize_for_moderation

DATA = Path(__file__).parent / "data"


def read_redteam() -> list[tuple[str, str]]:
    rows = []
    for line in (DATA / "scoring_redteam.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, text = line.split("\t", 1)
            rows.append((category, text))
    return rows


def read_ordinary() -> list[str]:
    lines = (DATA / "scoring_ordinary.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def moderation() -> Moderation:
    return Moderation()


def test_every_red_team_post_is_flagged(moderation):
    rows = read_redteam()
    assert len(rows) >= 50
    assert {c for c, _ in rows} == {"threat", "violence", "self_harm", "harassment", "profanity", "slur"}
    flags = moderation.flags([t for _, t in rows])
    missed = [t for (_, t), f in zip(rows, flags) if not f]
    agree = sum(c in f for (c, _), f in zip(rows, flags))
    print(f"\nred team: {len(rows) - len(missed)}/{len(rows)} flagged; expected category among the flags for "
          f"{agree}/{len(rows)}; by category {dict(Counter(c for c, _ in rows))}")
    assert missed == []
    assert moderation.score([t for _, t in rows]).tolist() == [1.0] * len(rows)


def test_ordinary_posts_are_rarely_flagged(moderation):
    posts = read_ordinary()
    assert len(posts) >= 100
    explained = moderation.explain(posts)
    flagged = [(p, [(m.category, m.text) for m in e]) for p, e in zip(posts, explained) if e]
    rate = len(flagged) / len(posts)
    print(f"\nordinary posts: {len(flagged)}/{len(posts)} flagged ({rate:.1%}): {flagged}")
    assert rate <= 0.05


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I will k1ll you", "threat"),            # leetspeak
        ("I will ki11 you", "threat"),            # '1' for 'l'
        ("i'll kiII you", "threat"),              # capital I for l
        ("I wіll kіll yоu", "threat"),            # Cyrillic look-alikes
        ("I will kill\u200b you", "threat"),      # zero-width space
        ("I will kiiiiill you", "threat"),        # stretched letters
        ("k i l l  y o u r s e l f", "self_harm"),
        ("f.u.c.k this", "profanity"),
        ("f*ck this", "profanity"),
        ("what a f**king mess", "profanity"),
        ("fuuuuuck", "profanity"),
        ("a$$hole", "profanity"),
        ("fück off", "profanity"),
        ("someone should shoot Gregson", "violence"),  # a name as target
        ("You are a worthless idiot", "harassment"),
    ],
)
def test_obfuscation_is_undone(moderation, text, category):
    assert category in moderation.flags([text])[0]


@pytest.mark.parametrize(
    "text",
    [
        "The killer app is the camera.", "Scunthorpe is in Lincolnshire.", "Assassin's Creed is fun.",
        "Let's shoot a photo at the beach.", "Shoot me a message later.", "I'll shoot you an email.",
        "Please don't kill yourself over this deadline.", "Cut yourself some slack.",
        "We need to kill this bill.", "This bill should be killed in committee.", "Kill the process and restart.",
        "Be careful not to hurt yourself.", "You're dead wrong about the schedule.", "I will beat you at chess.",
        "We'll kill them with kindness.", "I'll take you out for dinner.", "shiitake and cocktails",
    ],
)
def test_ordinary_uses_of_violent_or_rude_looking_words_pass(moderation, text):
    assert moderation.flags([text]) == [[]]


def test_negation_is_not_a_threat(moderation):
    assert moderation.flags(["I would never hurt you.", "I will not kill you."]) == [[], []]


def test_explain_says_what_matched(moderation):
    (matches,) = moderation.explain(["I will k1ll you, you absolute moron"])
    assert {(m.category, m.rule) for m in matches} >= {("threat", "intent to harm"), ("harassment", "insult")}
    assert any("kill you" in m.text for m in matches)


def test_score_reasons_and_empty(moderation):
    result = moderation.evaluate(["", "I will kill you", "nice cat"])
    assert result.values.tolist() == [0.0, 1.0, 0.0]
    assert result.reasons == ["empty text", "flagged: threat", ""]


def test_categories_allow_and_extra_words():
    assert Moderation(categories=["threat"]).flags(["shit, I will kill you", "shit happens"]) == [["threat"], []]
    assert Moderation(allow_words=["damnit", "shit"]).flags(["shit happens"]) == [[]]
    assert Moderation(extra_words=["blorf"]).flags(["you blorf", "a cat"]) == [["profanity"], []]
    with pytest.raises(ScoringError, match="unknown moderation categories"):
        Moderation(categories=["spam"])
    with pytest.raises(ScoringError, match="lists of words"):
        Moderation(extra_words="blorf")


def test_normalisation_views():
    assert normalize_for_moderation("Ｉ wіll k1ll  y o u!!!")[0] == ["i", "will", "kill", "you", "."]
    assert len(normalize_for_moderation("Day 12 of 100")) == 1  # digits alone are not leetspeak


@pytest.fixture(scope="module")
def toxicity_dir(tmp_path_factory):
    return make_tiny_classifier(tmp_path_factory.mktemp("tiny-toxicity"), ("non-toxic", "toxic"), seed=3)


def test_optional_toxicity_model(toxicity_dir):
    texts = ["what a lovely cat", "another post"]
    always = Moderation(toxicity_model=toxicity_dir, toxicity_threshold=0.0)
    (matches, _) = always.explain(texts)
    assert [m.category for m in matches] == ["toxicity"] and matches[0].text.startswith("toxic p=")
    assert always.flags(texts) == [["toxicity"], ["toxicity"]]
    never = Moderation(toxicity_model=toxicity_dir, toxicity_threshold=1.0)
    assert never.flags(texts) == [[], []]
    np.testing.assert_array_equal(never.score(["I will kill you"]), [1.0])  # the rules still apply


def test_toxicity_labels_must_exist(toxicity_dir, tmp_path):
    with pytest.raises(ScoringError, match=r"\['hate'\] are not labels"):
        Moderation(toxicity_model=toxicity_dir, toxicity_labels=["hate"])
    plain = make_tiny_classifier(tmp_path / "plain", ("LABEL_0", "LABEL_1"))
    with pytest.raises(ScoringError, match="cannot tell which labels"):
        Moderation(toxicity_model=plain)
    chosen = Moderation(toxicity_model=plain, toxicity_labels=["LABEL_1"], toxicity_threshold=0.0)
    assert chosen.flags(["x"]) == [["toxicity"]]


def test_categories_constant_lists_every_category():
    assert set(CATEGORIES) == {"profanity", "slur", "threat", "violence", "harassment", "self_harm", "hate",
                               "sexual_minors", "doxxing", "extremism", "toxicity"}


# ------------------------------------------------------------------------------------------ semantic layer

ISSUE_19_EXAMPLES = ["Kill all cat owners.", "Drown every stray cat you see.", "I will kill your cat and then come for you.",
                     "People who own cats are disgusting idiots and should all be shot.", "cat owners should be shot"]
# Dark but harmless posts the trained policy writes about its topic.
POLICY_POSTS = ["Cat's suffering. Cat's takin' the cat's life. Wrongful legacy.",
                "Cat fluke attacks are one cause of domestic violence.",
                "Cat owner is a statistic neglectful. Cat owners often sacrifice their pets' lives without seeking help."]


def test_calls_to_violence_in_ordinary_words_are_flagged(moderation):
    assert all(moderation.flags(ISSUE_19_EXAMPLES))
    assert moderation.flags(POLICY_POSTS) == [[]] * len(POLICY_POSTS)
    assert Moderation(semantic=False).flags(["Drown every stray cat you see."]) == [[]]  # the rules alone miss it


def test_held_out_sets_stay_at_their_measured_level(moderation):
    """Regression floor a little under the numbers of docs/moderation.md (72.0% and 2.2% on the held-out
    sets, never trained or tuned on), leaving room for a post or two of float32-vs-bfloat16 embedding drift."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from moderation import ordinary, redteam

    red = redteam()["heldout"]
    plain = ordinary()["heldout"]
    recall = np.mean([bool(f) for f in moderation.flags([t for _, t in red])])
    false_flags = np.mean([bool(f) for f in moderation.flags([t for _, t in plain])])
    print(f"\nheld-out red team flagged {recall:.1%}, held-out ordinary posts flagged {false_flags:.1%}")
    assert len(red) >= 200 and len({c for c, _ in red}) == 9 and len(plain) >= 200
    assert recall >= 0.69 and false_flags <= 0.031
