"""Language check: flags posts the English-only scorers cannot judge."""

from __future__ import annotations

import pytest

from engagegen.scoring import LanguageCheck

CASES = [
    ("My cat knocked my coffee over again this morning.", "en"),
    ("I strongly disagree with the new tax plan, it hurts families.", "en"),
    ("lol ok cats r gr8 tbh", "en"),
    ("My cat Luna knocked over my coffee again 😂 #caturday", "en"),
    ("El gato es muy bonito y le gusta dormir todo el día.", "es"),
    ("Le chat est très mignon et il aime dormir sur le canapé.", "fr"),
    ("Die Katze ist sehr süß und schläft gern in der Sonne.", "de"),
    ("Il gatto è molto carino e ama dormire sul divano.", "it"),
    ("O gato é muito fofo e gosta de dormir no sofá.", "pt"),
    ("De kat is heel lief en slaapt graag op de bank.", "nl"),
    ("Кошки намного лучше собак, это все знают.", "non-latin"),
    ("猫はとてもかわいいです", "non-latin"),
    ("asdkj qwpoe zmxnc vbnm lkjh", "unknown"),
    ("Ok", ""),
]


@pytest.mark.parametrize(("text", "language"), CASES)
def test_detects_language(text, language):
    assert LanguageCheck().detect([text])[0].language == language


def test_out_of_language_flags_and_score():
    check = LanguageCheck()
    texts = [t for t, _ in CASES]
    flags = check.out_of_language(texts)
    assert flags.tolist() == [lang not in ("en", "") for _, lang in CASES]
    share = check.score(texts)
    assert share[0] == 1.0 and share[12] == 0.0  # dictionary share of the words
    assert check.out_of_language(["", "   "]).tolist() == [False, False]
