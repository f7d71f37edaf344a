"""Fluency of a post in [0, 1]: readable (not "harder is better"), not degenerate, a sensible length.

The paper's code rewarded the Flesch-Kincaid grade level, which grows as text gets *harder* to
read, so an RL policy is pushed towards long words and long sentences. Here readability must fall
in a target band (Flesch reading ease 50-100 by default: plain English, from high-school to
fifth-grade level), with a soft decay outside, steeper on the hard side.
The score multiplies four components, each in [0, 1]:

- readability: 1 inside the band, exp(-d^2 / (2 s^2)) at distance d outside it, where s is the
  softness on that side (below / above the band);
- repetition: distinct-1 and distinct-2 (unique words / bigrams over all) below their minimum
  lower it linearly, and any word repeated ``repeat_run`` times in a row multiplies it by
  ``repeat_penalty`` ("cats cats cats" is how degenerate policies look);
- non-words: the share of tokens that are not dictionary words or numbers (emoji, hashtags, URLs,
  @mentions, made-up words); up to ``nonword_tolerance`` is free, ``nonword_limit`` scores 0;
- length: 1 within [min_words, max_words], n / min_words below, max_words / n above;
- style: shouting and punctuation runs, the cheap ways to push a lexicon sentiment score
  (VADER boosts ALL-CAPS words and "!!!"): a share of capitalised words above ``max_caps_share``
  lowers it linearly to 0 at twice that share, and a run of 4 or more ! or ? halves it;

and, when ``perplexity_model`` is given, a fifth: perplexity under that causal LM, 1 at or below
``perplexity_range[0]``, 0 at or above ``perplexity_range[1]``, log-linear between.

>>> f = Fluency()
>>> f.score(["My cat sleeps in the sun all day and I love her for it.",
...          "cats cats cats cats cats cats",
...          "Notwithstanding epistemological considerations, feline companionship "
...          "constitutes an unparalleled psychophysiological intervention."]).round(2).tolist()
[0.96, 0.02, 0.0]
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from engagegen.scoring.base import BatchScorer, ScoringError, check_texts, require
from engagegen.scoring.lexicon import count_tokens
from engagegen.scoring.perplexity import Perplexity

__all__ = ["Fluency", "FluencyDetails"]

# (band, (softness below, softness above)). Easy text is fine in a post, hard text is not: the
# decay is gentler on the easy side (high reading ease, low grade).
_PUNCTUATION_RUN_RE = re.compile(r"[!?]{4,}")
DEFAULT_BANDS = {"reading_ease": ((50.0, 100.0), (20.0, 30.0)), "grade": ((3.0, 10.0), (4.0, 3.0))}


@dataclass(frozen=True)
class FluencyDetails:
    """Every component of the fluency score, one array entry per text.

    ``readability_value`` is the Flesch reading ease (or grade level with ``metric="grade"``);
    ``readability`` its band score. ``perplexity``/``perplexity_score`` are NaN/1 without a
    reference model. ``reason`` lists what lowered a text's score ('' when nothing did).
    """

    score: np.ndarray
    readability_value: np.ndarray
    readability: np.ndarray
    distinct_1: np.ndarray
    distinct_2: np.ndarray
    max_repeat: np.ndarray
    repetition: np.ndarray
    nonword_share: np.ndarray
    nonword: np.ndarray
    caps_share: np.ndarray
    style: np.ndarray
    words: np.ndarray
    length: np.ndarray
    perplexity: np.ndarray
    perplexity_score: np.ndarray
    reason: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Field name -> array (or list of reasons), for logging."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Fluency(BatchScorer):
    """Fluency in [0, 1] from readability in a band, repetition, non-word share, length (and perplexity).

    metric: ``reading_ease`` (Flesch reading ease, higher = easier) or ``grade`` (Flesch-Kincaid).
    band, softness: target interval of the metric and the width of the decay outside it, one
        number or (below, above) (defaults: reading ease 50-100, softness (20, 30); grade 3-10,
        softness (4, 3)).
    min_words, max_words: length bounds in words.
    min_distinct_1, min_distinct_2, repeat_run, repeat_penalty: repetition checks.
    max_caps_share: share of ALL-CAPS words (of 2+ letters) tolerated.
    nonword_tolerance, nonword_limit: free and fatal shares of non-word tokens.
    perplexity_model: optional local causal LM (folder or cached hub id), loaded on first use;
        perplexity_range: (good, bad) perplexities.
    """

    empty_value = 0.0

    def __init__(
        self,
        *,
        metric: Literal["reading_ease", "grade"] = "reading_ease",
        band: tuple[float, float] | None = None,
        softness: float | tuple[float, float] | None = None,
        min_words: int = 5,
        max_words: int = 100,
        min_distinct_1: float = 0.4,
        min_distinct_2: float = 0.8,
        repeat_run: int = 3,
        repeat_penalty: float = 0.2,
        nonword_tolerance: float = 0.15,
        nonword_limit: float = 0.6,
        max_caps_share: float = 0.3,
        perplexity_model: str | os.PathLike | None = None,
        perplexity_range: tuple[float, float] = (50.0, 1000.0),
        device: str | None = None,
        max_chars: int = 5_000,
    ) -> None:
        if metric not in DEFAULT_BANDS:
            raise ScoringError(f"metric must be 'reading_ease' or 'grade', got {metric!r}")
        default_band, default_softness = DEFAULT_BANDS[metric]
        band = tuple(band) if band is not None else default_band
        if len(band) != 2 or not band[0] <= band[1]:
            raise ScoringError(f"band must be (low, high) with low <= high, got {band!r}")
        softness = default_softness if softness is None else softness
        pair = tuple(softness) if isinstance(softness, (tuple, list)) else (softness, softness)
        if len(pair) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in pair):
            raise ScoringError(f"softness must be a number > 0 or a (below, above) pair of them, got {softness!r}")
        if not 1 <= min_words <= max_words:
            raise ScoringError(f"need 1 <= min_words <= max_words, got {min_words} and {max_words}")
        if not 0 <= nonword_tolerance < nonword_limit <= 1:
            raise ScoringError(f"need 0 <= nonword_tolerance < nonword_limit <= 1, got {nonword_tolerance}, {nonword_limit}")
        if not (0 < min_distinct_1 <= 1 and 0 < min_distinct_2 <= 1):
            raise ScoringError("min_distinct_1 and min_distinct_2 must be in (0, 1]")
        if repeat_run < 2 or not 0 <= repeat_penalty <= 1:
            raise ScoringError(f"need repeat_run >= 2 and repeat_penalty in [0, 1], got {repeat_run}, {repeat_penalty}")
        if not 0 < max_caps_share <= 0.5:
            raise ScoringError(f"max_caps_share must be in (0, 0.5], got {max_caps_share!r}")
        if not 0 < perplexity_range[0] < perplexity_range[1]:
            raise ScoringError(f"perplexity_range must be (good, bad) with 0 < good < bad, got {perplexity_range!r}")
        self.metric = metric
        self.band = (float(band[0]), float(band[1]))
        self.softness = (float(pair[0]), float(pair[1]))
        self.min_words, self.max_words = int(min_words), int(max_words)
        self.min_distinct_1, self.min_distinct_2 = float(min_distinct_1), float(min_distinct_2)
        self.repeat_run, self.repeat_penalty = int(repeat_run), float(repeat_penalty)
        self.nonword_tolerance, self.nonword_limit = float(nonword_tolerance), float(nonword_limit)
        self.max_caps_share = float(max_caps_share)
        self.perplexity_range = (float(perplexity_range[0]), float(perplexity_range[1]))
        self.perplexity = Perplexity(perplexity_model, device=device) if perplexity_model is not None else None
        self.max_chars = max_chars
        textstat = require("textstat.textstat", package="textstat", needed_by="Fluency")
        self._textstat = textstat.textstatistics()  # our own instance: its language setting is not global

    def __repr__(self) -> str:
        extra = f", perplexity_model={self.perplexity.model!r}" if self.perplexity is not None else ""
        return f"Fluency(metric={self.metric!r}, band={self.band}, words=[{self.min_words}, {self.max_words}]{extra})"

    def _score_batch(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        d = self._details(texts)
        return d.score, d.reason

    def details(self, texts: Sequence[str]) -> FluencyDetails:
        """The score and each of its components for every text (empty texts score 0)."""
        checked = check_texts(texts, max_chars=self.max_chars, scorer="Fluency")
        n = len(checked.texts)
        todo = np.flatnonzero(~checked.empty)
        part = self._details([checked.texts[i] for i in todo])
        arrays: dict[str, Any] = {}
        for f in fields(FluencyDetails):
            if f.name == "reason":
                continue
            fill = math.nan if f.name in ("readability_value", "distinct_1", "distinct_2", "nonword_share", "caps_share",
                                          "perplexity") else 0.0
            full = np.full(n, fill)
            full[todo] = getattr(part, f.name)
            arrays[f.name] = full
        reasons = checked.merged_reasons(todo, part.reason)  # empty texts keep the check's "empty text"
        return FluencyDetails(**arrays, reason=reasons)

    # ------------------------------------------------------------------ components
    def _details(self, texts: list[str]) -> FluencyDetails:
        n = len(texts)
        value, words, d1, d2, run, share, caps = (np.zeros(n) for _ in range(7))
        shouted = np.zeros(n, dtype=bool)
        for i, text in enumerate(texts):
            counts = count_tokens(text)
            tokens = counts.words
            words[i] = len(tokens)
            d1[i] = len(set(tokens)) / len(tokens) if tokens else 1.0
            bigrams = list(zip(tokens, tokens[1:]))
            d2[i] = len(set(bigrams)) / len(bigrams) if bigrams else 1.0
            run[i] = _longest_run(tokens)
            share[i] = counts.nonword_share if counts.total else 1.0
            lettered = [w for w in text.split() if sum(c.isalpha() for c in w) >= 2]
            caps[i] = sum(w.isupper() for w in lettered) / len(lettered) if lettered else 0.0
            shouted[i] = _PUNCTUATION_RUN_RE.search(text) is not None
            value[i] = (self._textstat.flesch_reading_ease(text) if self.metric == "reading_ease"
                        else self._textstat.flesch_kincaid_grade(text))
        lo, hi = self.band
        scaled = np.maximum(lo - value, 0.0) / self.softness[0] + np.maximum(value - hi, 0.0) / self.softness[1]
        readability = np.exp(-0.5 * scaled**2)
        repetition = (np.minimum(d1 / self.min_distinct_1, 1.0) * np.minimum(d2 / self.min_distinct_2, 1.0)
                      * np.where(run >= self.repeat_run, self.repeat_penalty, 1.0))
        nonword = np.clip(1.0 - (share - self.nonword_tolerance) / (self.nonword_limit - self.nonword_tolerance), 0.0, 1.0)
        style = (np.clip(1.0 - (caps - self.max_caps_share) / self.max_caps_share, 0.0, 1.0)
                 * np.where(shouted, 0.5, 1.0))
        length = np.where(words < self.min_words, words / self.min_words,
                          np.where(words > self.max_words, self.max_words / np.maximum(words, 1.0), 1.0))
        perplexity = self.perplexity.compute(texts) if self.perplexity is not None else np.full(n, math.nan)
        good, bad = self.perplexity_range
        ppl_score = np.where(np.isnan(perplexity), 1.0,
                             np.clip(1.0 - (np.log(np.where(np.isnan(perplexity), good, perplexity)) - math.log(good))
                                     / (math.log(bad) - math.log(good)), 0.0, 1.0))
        score = readability * repetition * nonword * style * length * ppl_score
        reasons = []
        for i in range(n):
            why = []
            if words[i] == 0:
                why.append("no words")
            else:
                if readability[i] < 0.8:
                    side = "hard to read" if (value[i] < lo) == (self.metric == "reading_ease") else "too simple"
                    why.append(f"{side} ({self.metric} {value[i]:.0f})")
                if run[i] >= self.repeat_run:
                    why.append(f"a word repeated {int(run[i])} times in a row")
                elif repetition[i] < 0.8:
                    why.append(f"repetitive (distinct-1 {d1[i]:.2f}, distinct-2 {d2[i]:.2f})")
                if nonword[i] < 0.8:
                    why.append(f"{share[i]:.0%} non-words")
                if caps[i] > self.max_caps_share:
                    why.append(f"shouting ({caps[i]:.0%} of words in capitals)")
                if shouted[i]:
                    why.append("a run of 4+ ! or ?")
                if length[i] < 0.8:
                    why.append(f"{'too short' if words[i] < self.min_words else 'too long'} ({int(words[i])} words)")
            if ppl_score[i] < 0.8:
                why.append(f"perplexity {perplexity[i]:.0f}")
            reasons.append("; ".join(why))
        return FluencyDetails(score, value, readability, d1, d2, run, repetition, share, nonword, caps, style, words,
                              length, perplexity, ppl_score, reasons)


def _longest_run(tokens: tuple[str, ...]) -> int:
    """Length of the longest run of the same word (punctuation-only tokens ignored)."""
    best = current = 0
    previous = None
    for token in tokens:
        current = current + 1 if token == previous else 1
        best = max(best, current)
        previous = token
    return best
