"""Shared behaviour of the text scorers: input checks, reasons, truncation, the optional extra, doctests."""

from __future__ import annotations

import doctest
import importlib
import sys

import numpy as np
import pytest

from engagegen import scoring
from engagegen.scoring import (
    Fluency,
    LanguageCheck,
    MissingExtraError,
    Moderation,
    ScoringWarning,
    TextScorer,
    VaderOpinion,
    check_texts,
)
from engagegen.scoring.base import require

CHEAP_SCORERS = [VaderOpinion, Fluency, Moderation, LanguageCheck]


@pytest.mark.parametrize("make", CHEAP_SCORERS, ids=lambda c: c.__name__)
def test_every_scorer_is_a_batched_text_scorer(make):
    scorer = make()
    assert isinstance(scorer, TextScorer)
    out = scorer.score(["My cat sleeps all day.", "Taxes are due soon.", "Cats!"])
    assert out.dtype == np.float64 and out.shape == (3,)
    assert np.all((out >= 0) & (out <= 1))
    assert scorer.score([]).shape == (0,)


@pytest.mark.parametrize("make", CHEAP_SCORERS, ids=lambda c: c.__name__)
def test_non_string_raises_type_error_naming_its_position(make):
    with pytest.raises(TypeError, match="position 2.*int"):
        make().score(["a post", "another", 42])


@pytest.mark.parametrize("make", CHEAP_SCORERS, ids=lambda c: c.__name__)
def test_single_string_is_refused(make):
    with pytest.raises(TypeError, match="wrap it in a list"):
        make().score("My cat sleeps all day.")


@pytest.mark.parametrize("make", CHEAP_SCORERS, ids=lambda c: c.__name__)
def test_empty_and_blank_texts_get_a_defined_value_and_a_reason(make):
    scorer = make()
    result = scorer.evaluate(["", "   \n\t", "My cat sleeps all day in the sun."])
    assert result.values[0] == scorer.empty_value == result.values[1]
    assert result.reasons[:2] == ["empty text", "empty text"]
    assert result.reasons[2] == "" or "empty" not in result.reasons[2]


def test_long_text_is_truncated_with_a_warning_naming_positions():
    with pytest.warns(ScoringWarning, match=r"1 text\(s\) longer than 10 characters.*positions 1"):
        checked = check_texts(["short", "a much longer text"], max_chars=10, scorer="test")
    assert checked.texts == ["short", "a much lon"]
    assert checked.reasons == ["", "truncated to 10 characters"]


def test_scorer_truncation_reason_is_reported():
    vader = VaderOpinion(max_chars=20)
    with pytest.warns(ScoringWarning, match="VaderOpinion"):
        result = vader.evaluate(["I love my cat so much, she is the best cat ever."])
    assert result.reasons == ["truncated to 20 characters"]


def test_missing_optional_package_names_the_extra():
    with pytest.raises(MissingExtraError, match=r"pip install 'engagegen\[scoring\]'"):
        require("engagegen_no_such_module", package="no-such-package", needed_by="a test")


def test_scorer_without_its_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vaderSentiment.vaderSentiment", None)  # makes the import fail
    with pytest.raises(MissingExtraError, match=r"VaderOpinion needs .*vaderSentiment.*engagegen\[scoring\]"):
        VaderOpinion()


def test_importing_scoring_does_not_import_the_heavy_packages():
    code = ("import sys, engagegen.scoring; "
            "heavy = [m for m in ('torch', 'sklearn', 'transformers', 'textstat', "
            "'vaderSentiment') if m in sys.modules]; print(heavy)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


MODULES = ["base", "lexicon", "language", "opinion", "fluency", "moderation"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"engagegen.scoring.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_package_docstring_example_runs():
    result = doctest.testmod(scoring)
    assert result.attempted > 0 and result.failed == 0
