"""A cheap offline check that a post is in English, the language the bundled scorers understand.

VADER, the readability formulas, the moderation rules and MiniLM are English tools: on other
languages their numbers mean little. :class:`LanguageCheck` flags such posts so the reward can mark
them "out of the scorer's language" instead of trusting their scores. It needs no model: function
words decide between English and six common European languages, letters of other scripts mark
non-Latin text, and the share of dictionary words catches the rest (gibberish included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engagegen.scoring.base import BatchScorer, check_texts, check_unit_interval
from engagegen.scoring.lexicon import count_tokens

__all__ = ["LanguageCheck", "LanguageGuess"]

ENGLISH_FUNCTION_WORDS = frozenset(
    "the and is are was were be been to of in that it its you your for on with this these those have has had not "
    "but they them their my i me we our at so just do does did what who which all will would can could about "
    "from or if an a as by there here when than then very really because he she his her him".split()
)
# Frequent function words of each language; words that are also English function words never count.
OTHER_FUNCTION_WORDS = {
    "es": "el la los las de del que y en es un una unos unas por con para no se lo muy pero mi mis su sus más mas "
          "como está esta están son al le les yo tú tu nosotros ella ellos también tambien porque cuando hay todo "
          "todos este esto eso ser estar tiene tengo ya",
    "fr": "le la les de des du et est un une que qui en pour pas je il elle nous vous sur avec ce cette ces mon "
          "ma mes ton ta très tres dans au aux sont mais ne c'est j'ai suis être avoir aussi tout tous comme plus "
          "leur leurs",
    "de": "der die das und ist nicht ein eine einen ich du sie es wir ihr mit für fur auf den dem zu von sehr "
          "auch sind aber mein meine dein wie noch nur wenn weil hat haben bin bist war oder kein keine immer "
          "schon",
    "it": "il lo la gli le di che e è un una per non sono con mi del della dei delle molto ma questo questa io "
          "tu lui lei noi voi anche perché perche come più piu ha ho hanno sempre tutto tutti nel nella",
    "pt": "o a os as de que e é um uma para não nao com do da dos das em muito mas meu minha eu você voce são "
          "sao está esta também tambem porque quando tem tenho isso isto ele ela nós nos seu sua mais",
    "nl": "de het een en is van niet ik je dat die op met voor zijn maar heel mijn ook wat er naar bij nog wel "
          "geen hij zij we wij jij zo al omdat als dan heb hebt heeft deze dit",
}
_OTHER = {lang: frozenset(words.split()) - ENGLISH_FUNCTION_WORDS for lang, words in OTHER_FUNCTION_WORDS.items()}


@dataclass(frozen=True)
class LanguageGuess:
    """``language``: ``en``, ``es``, ``fr``, ``de``, ``it``, ``pt``, ``nl``, ``non-latin``, ``unknown``
    (mostly non-dictionary words) or ``''`` for a text too short to tell; ``english_share``: share of
    word tokens found in the English dictionary."""

    language: str
    english_share: float


class LanguageCheck(BatchScorer):
    """Score = share of a text's words that are English dictionary words; flags non-English posts.

    min_english_share: below this share of dictionary words a text is not English (``unknown``).
    min_words: texts with fewer word tokens are not judged (treated as English).

    >>> check = LanguageCheck()
    >>> check.out_of_language(["My cat sleeps all day.", "Mi gato duerme todo el día y es muy feliz."]).tolist()
    [False, True]
    """

    empty_value = 0.0

    def __init__(self, min_english_share: float = 0.5, min_words: int = 3, max_chars: int = 10_000) -> None:
        self.min_english_share = check_unit_interval(min_english_share, "min_english_share")
        self.min_words = int(min_words)
        self.max_chars = max_chars

    def __repr__(self) -> str:
        return f"LanguageCheck(min_english_share={self.min_english_share}, min_words={self.min_words})"

    def _score_batch(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        guesses = [self._guess(t) for t in texts]
        return np.array([g.english_share for g in guesses]), ["" for _ in guesses]

    def detect(self, texts: Sequence[str]) -> list[LanguageGuess]:
        """The guessed language of each text (empty texts: ``''``)."""
        checked = check_texts(texts, max_chars=self.max_chars, scorer="LanguageCheck")
        return [LanguageGuess("", 0.0) if empty else self._guess(t) for t, empty in zip(checked.texts, checked.empty)]

    def out_of_language(self, texts: Sequence[str]) -> np.ndarray:
        """True for texts judged not English (empty and too-short texts are not flagged)."""
        return np.array([g.language not in ("en", "") for g in self.detect(texts)], dtype=bool)

    def _guess(self, text: str) -> LanguageGuess:
        counts = count_tokens(text)
        n_words = counts.known + counts.unknown
        share = counts.known / n_words if n_words else 0.0
        if n_words and counts.non_latin / n_words >= 0.5:
            return LanguageGuess("non-latin", share)
        words = [w for w in counts.words if any(ch.isalpha() for ch in w)]
        english_hits = sum(w in ENGLISH_FUNCTION_WORDS for w in words)
        hits = {lang: sum(w in vocab for w in words) for lang, vocab in _OTHER.items()}
        best = max(hits, key=lambda lang: hits[lang])
        if hits[best] >= 2 and hits[best] > english_hits:
            return LanguageGuess(best, share)
        if n_words < self.min_words:
            return LanguageGuess("", share)
        if share < self.min_english_share:
            return LanguageGuess("unknown", share)
        return LanguageGuess("en", share)
