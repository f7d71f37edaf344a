"""Moderation's first layer: word lists and the normalisation that undoes obfuscation.

Posts are read as normalised tokens (look-alike letters from other scripts, accents, zero-width
characters, leetspeak, stretched, spaced, dotted or masked letters undone); the better-profanity
list, less the ordinary words of ``engagegen/data/moderation/allowed_words.txt``, and the slurs of
``slurs.txt`` are matched against them.

>>> normalize_for_moderation("Ｉ wіll k1ll  y o u!!!")
[['i', 'will', 'kill', 'you', '.'], ['i', 'will', 'kl', 'you', '.']]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from engagegen.scoring.base import require
from engagegen.scoring.lexicon import english_words

__all__ = ["ModerationMatch", "normalize_for_moderation", "ALLOWED_WORDS", "SLURS", "word_matches"]

def _word_file(name: str) -> frozenset[str]:
    """A word list shipped in ``engagegen/data/moderation`` (blank-separated, '#' comments, '_' for a space)."""
    text = resources.files("engagegen").joinpath("data", "moderation", name).read_text(encoding="utf-8")
    return frozenset(w.replace("_", " ") for line in text.splitlines() if not line.startswith("#") for w in line.split())


# Entries of the better-profanity list that are ordinary words ("gay rights", "breast cancer", "Nazi
# Germany"); the phrase rules and the semantic layer catch their abusive uses.
ALLOWED_WORDS = _word_file("allowed_words.txt")
_SLUR_ENTRIES = _word_file("slurs.txt")
SLURS = frozenset(w for w in _SLUR_ENTRIES if " " not in w)
SLUR_PHRASES = frozenset(w for w in _SLUR_ENTRIES if " " in w)
# Abbreviations and spellings of strong profanity the upstream list lacks.
EXTRA_PROFANITY = _word_file("extra_profanity.txt")

# Strong words a masked spelling ("f*ck", "sh*t", "a**hole") is matched against.
MASKABLE = ("fuck", "fucking", "fucked", "fucker", "motherfucker", "motherfucking", "shit", "shitty", "bullshit",
            "cunt", "bitch", "bitches", "asshole", "ass", "bastard", "dick", "dickhead", "cock", "pussy", "whore",
            "slut", "nigger", "nigga", "faggot", "fag", "retard", "wanker", "twat", "prick", "piss")

# Substrings that make any word profane ("fuckwittery"), except the listed innocent words.
STEMS = {
    "fuck": (),
    "shit": ("shitake", "shitakes", "shittim"),
    "cunt": ("scunthorpe",),
    "nigger": ("snigger", "sniggers", "sniggered", "sniggering"),
    "faggot": (),
    "motherf": (),
}

_CONFUSABLES = str.maketrans({
    # Cyrillic and Greek letters that look like Latin ones
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "һ": "h",
    "ԁ": "d", "ӏ": "l", "к": "k", "м": "m", "н": "h", "т": "t", "в": "b", "А": "A", "Е": "E", "О": "O",
    "Р": "P", "С": "C", "Х": "X", "К": "K", "М": "M", "Н": "H", "Т": "T", "В": "B", "α": "a", "ο": "o", "ε": "e",
    "ι": "i", "κ": "k", "ν": "v", "τ": "t", "υ": "u", "ρ": "p",
    # typographic apostrophes
    "\u2019": "'", "\u2018": "'", "\u02bc": "'",
})
_INVISIBLE_RE = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s",
         "!": "i", "|": "l", "+": "t", "€": "e", "£": "l"}
_LEET_CHARS = "".join(re.escape(c) for c in _LEET)
_LETTER_SEPARATED_RE = re.compile(rf"^(?:[a-z0-9{_LEET_CHARS}*][._\-*,/~]){{2,}}[a-z0-9{_LEET_CHARS}*]$", re.IGNORECASE)
_PIECE_RE = re.compile(rf"[a-z0-9'{_LEET_CHARS}*]+|[.!?;:]+", re.IGNORECASE)
_STRETCH_RE = re.compile(r"([a-z])\1{2,}", re.IGNORECASE)


@dataclass(frozen=True)
class ModerationMatch:
    """One finding: its category, the rule or word list that found it, and the matched text (normalised)."""

    category: str
    rule: str
    text: str


# ------------------------------------------------------------------------------------------ normalisation


@lru_cache(maxsize=65536)  # posts repeat their words; this runs for every word of every post
def _deobfuscate_word(word: str, one: str) -> str:
    """Leetspeak to letters (``one`` is what '1' becomes) in a token that has letters; stretched letters shrunk."""
    if any(c.isalpha() for c in word) and any(c in _LEET for c in word):
        # '$5' or '@bob' style tokens: only map characters inside the word, keep a leading '@' mention
        # unless the rest is itself leetspeak ("@$$hole").
        body = word[1:] if word.startswith("@") and not any(c in _LEET for c in word[1:]) else word
        word = "".join(one if c == "1" else _LEET.get(c, c) for c in body)
    return _STRETCH_RE.sub(r"\1", word)


def _view_tokens(text: str, one: str) -> list[str]:
    """The normalised tokens of ``text``: words (lowercase, or Title case for a name inside a sentence)
    and '.' for sentence ends."""
    tokens: list[str] = []
    at_start = True
    for raw in text.split():
        if _LETTER_SEPARATED_RE.match(raw.rstrip(".!?,;:")):  # f.u.c.k, s-h-1-t, f_u_c_k
            stripped = raw.rstrip(".!?,;:")
            raw = re.sub(r"[._\-,/~]", "", stripped) + raw[len(stripped):]
        for piece in _PIECE_RE.findall(raw):
            if piece[0] in ".!?;:" and not any(c.isalnum() for c in piece):
                if tokens and tokens[-1] != ".":
                    tokens.append(".")
                at_start = True
                continue
            trailing = re.search(r"[!?]+$", piece) if any(c.isalpha() for c in piece.rstrip("!?")) else None
            if trailing:
                piece = piece[: trailing.start()]
            word = _deobfuscate_word(piece.strip("'"), one)
            if not word:
                continue
            is_name = not at_start and len(word) > 1 and word[0].isupper() and word[1:].islower()
            tokens.append(word if is_name else word.lower())
            at_start = False
            if trailing:
                tokens.append(".")
                at_start = True
    return _join_spelled_out(tokens)


def _join_spelled_out(tokens: list[str]) -> list[str]:
    """Runs of 3+ single characters become words: "f u c k" -> "fuck", "k i l l y o u r s e l f" ->
    "kill yourself" (split into the fewest dictionary words, so the phrase rules see it)."""
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, "."]:
        if len(token) == 1 and token.isalnum():
            run.append(token)
            continue
        if len(run) >= 3:
            out.extend(_segment("".join(run).lower()))
        else:
            out.extend(run)
        run = []
        out.append(token)
    return out[:-1]


@lru_cache(maxsize=4096)
def _segment(word: str) -> tuple[str, ...]:
    """``word`` split into the fewest English dictionary words ("killyourself" -> kill, yourself), or
    ``(word,)`` when that needs single letters other than i, a, u ("kys" stays "kys")."""
    words = english_words()
    n = len(word)
    best: list[tuple[str, ...] | None] = [()] + [None] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - 20), end):
            prefix = best[start]
            piece = word[start:end]
            if prefix is not None and piece in words and (len(piece) > 1 or piece in "iau"):
                candidate = (*prefix, piece)
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[n] or (word,)


def normalize_for_moderation(text: str) -> list[list[str]]:
    """The token views the rules read: one, or two when a '1' may stand for 'i' or for 'l'.

    >>> normalize_for_moderation("Ｉ wіll k1ll  y o u!!!")
    [['i', 'will', 'kill', 'you', '.'], ['i', 'will', 'kl', 'you', '.']]
    """
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE_RE.sub("", text).translate(_CONFUSABLES)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    views = [_view_tokens(text, "i")]
    # '1' and a capital 'I' inside a lowercase word ("k1ll", "kiII") may both stand for 'l'
    with_l = text if not re.search(r"\SI", text) else re.sub(
        r"\S+", lambda m: m.group(0)[0] + m.group(0)[1:].replace("I", "l") if any(c.islower() for c in m.group(0))
        else m.group(0), text)
    if with_l != text or re.search(r"[^\W\d_]1|1[^\W\d_]", text):
        views.append(_view_tokens(with_l, "l"))
    return views


# ------------------------------------------------------------------------------------------ word lists


@lru_cache(maxsize=1)
def word_lists() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(single words, multi-word phrases, slurs) after normalising the upstream list like posts."""
    require("better_profanity", package="better-profanity", needed_by="Moderation")
    raw = resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text(encoding="utf-8")
    words: set[str] = set(EXTRA_PROFANITY)
    phrases: set[str] = set(SLUR_PHRASES)
    for entry in raw.splitlines():
        entry = entry.strip()
        if not entry:
            continue
        tokens = [t for t in normalize_for_moderation(entry)[0] if t != "."]
        normal = " ".join(t.lower() for t in tokens)
        if not normal or normal in ALLOWED_WORDS or entry.lower() in ALLOWED_WORDS:
            continue
        (phrases if " " in normal else words).add(normal)
    words |= SLURS
    return frozenset(words), frozenset(phrases), SLURS | SLUR_PHRASES


def _masked_regex(token: str) -> re.Pattern[str] | None:
    if "*" not in token or not any(c.isalpha() for c in token):
        return None
    return re.compile("".join("[a-z]{1,4}" if part.startswith("*") else re.escape(part)
                              for part in re.split(r"(\*+)", token) if part))


@lru_cache(maxsize=65536)  # the same few thousand words make most posts
def _listed_word(token: str) -> str | None:
    """The listed word ``token`` is (as written, with doubled letters shrunk, as a plural, masked with
    '*', or containing a listed stem), or None."""
    words = word_lists()[0]
    candidates = (token, re.sub(r"([a-z])\1+", r"\1", token))
    hit = next((c for c in candidates if c in words or (c.endswith("s") and not c.endswith("ss") and c[:-1] in words)), None)
    if hit is None:
        masked = _masked_regex(token)
        if masked is not None:
            hit = next((w for w in MASKABLE if masked.fullmatch(w)), None)
    if hit is None:
        hit = next((stem for stem, innocent in STEMS.items() if stem in token and token not in innocent), None)
    return hit


def word_matches(tokens: list[str]) -> list[ModerationMatch]:
    _, phrases, slurs = word_lists()
    found: list[ModerationMatch] = []
    lower = [t.lower() for t in tokens]
    for i, token in enumerate(lower):
        hit = _listed_word(token)
        if hit is not None:
            found.append(ModerationMatch("slur" if hit in slurs else "profanity", "word list", token))
        for n in (2, 3):
            phrase = " ".join(lower[i : i + n])
            if i + n <= len(lower) and phrase in phrases:
                found.append(ModerationMatch("slur" if phrase in slurs else "profanity", "word list", phrase))
    return found
