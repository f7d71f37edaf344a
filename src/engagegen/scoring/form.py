"""The form of a post: whether it loops, whether it ends where a sentence ends, whether it copies.

Checks a reader makes before reading a post for its content: a post that repeats itself
(degenerate), stops mid-sentence (cut off by a length limit) or copies the text it answers (its
prompt, the post it replies to) is not one anybody would publish.

>>> is_degenerate("cats are cats are cats are cats")
True
>>> ends_a_sentence("My cat stole my seat again. #caturday 😹")
True
>>> ends_a_sentence("My cat stole my seat and then")
False
>>> up_to_last_sentence("My cat stole my seat. Then she looked at me and")
'My cat stole my seat.'
>>> copies("Cats are the best pets.", "cats are the best pets!", 0.8)
True
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

__all__ = ["is_degenerate", "ends_a_sentence", "up_to_last_sentence", "copies"]

# Trailing social-media furniture a sentence may be followed by: hashtags, mentions, links.
_TRAILING_TAG = re.compile(r"(?:\s+|^)(?:#\w+|@\w+|https?://\S+)$")
_SENTENCE_END = ".!?…"
_CLOSERS = "\"'”’»)]*_"
_SENTENCE_BREAK = re.compile(r"[.!?…]+[\"'”’»)\]*_]*(?=\s)")


def is_degenerate(text: str) -> bool:
    """True for looping text: distinct bigram ratio below 0.8, or a word three times in a row."""
    words = text.lower().split()
    bigrams = list(zip(words, words[1:]))
    if bigrams and len(set(bigrams)) / len(bigrams) < 0.8:
        return True
    return any(words[i] == words[i + 1] == words[i + 2] for i in range(len(words) - 2))


def _is_symbol(char: str) -> bool:
    """Emoji, pictographs and their joiners and modifiers."""
    return unicodedata.category(char) in ("So", "Sk", "Cf", "Mn") or char == "\ufe0f"


def ends_a_sentence(text: str) -> bool:
    """True when ``text`` ends with a sentence's final punctuation (. ! ? …), possibly followed by
    closing quotes or brackets, emoji, hashtags, mentions or links; a post cut off by a length
    limit ends mid-sentence instead."""
    rest = text.strip()
    while True:
        trimmed = _TRAILING_TAG.sub("", rest).rstrip()
        while trimmed and _is_symbol(trimmed[-1]):
            trimmed = trimmed[:-1].rstrip()
        if trimmed == rest:
            break
        rest = trimmed
    rest = rest.rstrip(_CLOSERS)
    return bool(rest) and rest[-1] in _SENTENCE_END


def up_to_last_sentence(text: str) -> str:
    """``text`` without a trailing fragment: up to the end of its last complete sentence, as a person
    publishing a post cut off by a length limit would trim it. Text with no complete sentence is
    returned as it is (and stays cut off)."""
    text = text.strip()
    if ends_a_sentence(text):
        return text
    for match in reversed(list(_SENTENCE_BREAK.finditer(text))):
        head = text[: match.end()]
        if ends_a_sentence(head):
            return head
    return text


def copies(source: str, text: str, threshold: float) -> bool:
    """True when ``text``'s character similarity to ``source`` (case ignored) is at least ``threshold``.
    ``quick_ratio`` bounds ``ratio`` from above and is far cheaper, so most texts are cleared without
    the full match."""
    matcher = SequenceMatcher(None, source.lower(), text.lower())
    return matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold
