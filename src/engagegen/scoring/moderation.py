"""An offline moderation gate: profanity, slurs, threats, calls to violence, harassment, self-harm, hate,
sexual content involving minors, doxxing, violent extremism.

Three layers. The first two run on a normalised copy of the text that undoes common obfuscation (look-alike
letters from other scripts, accents, zero-width characters, leetspeak such as ``k1ll`` and
``a$$``, stretched letters ``fuuuck``, spaced or dotted letters ``f u c k`` / ``f.u.c.k``, masked
letters ``f*ck``):

- words (:mod:`~engagegen.scoring.moderation_words`): the better-profanity word list (maintained upstream) minus ordinary words it also lists
  (identity terms like "gay", anatomy, substances, mild words like "damn", history like "nazi":
  see :data:`ALLOWED_WORDS`), split into ``slur`` and ``profanity``;
- phrases (:mod:`~engagegen.scoring.moderation_rules`): rules for ``threat`` ("I will kill you"), ``violence`` (calls to violence: "someone
  should burn their house down", "they should be hanged"), ``harassment`` (insults aimed at the
  reader, dehumanising a group, wishing harm) and ``self_harm`` (encouraging it, or stating intent).
  Violent verbs count only with a person (or a person's home) as object, so "killer app", "kill
  time", "shoot a photo" and "this bill should be killed" pass.

The third, semantic, layer reads meaning rather than words: a classifier over the post's sentence
embedding (:class:`~engagegen.scoring.moderation_semantic.SemanticModerator`) flags calls to
violence against people, animals or places written in ordinary verbs ("Drown every stray cat you
see."), hate, sexual content involving minors, doxxing and extremism. It speaks only for posts the
rules pass, so a post's findings name the rule when there is one. With the shared embedder of the
topic scorer it adds one matrix product to a reward step.

An optional transformers toxicity classifier (any local model) adds the ``toxicity`` category.

>>> m = Moderation()
>>> m.flags(["I will k1ll you", "This killer app is great", "go f.u.c.k yourself"])
[['threat'], [], ['profanity']]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

from engagegen.scoring.base import BatchScorer, ScoringError, check_texts, check_unit_interval
from engagegen.scoring.hf import TextClassifier
from engagegen.scoring.moderation_rules import defused, rule_matches
from engagegen.scoring.moderation_semantic import CATEGORY_OF_CLASS, SemanticModerator
from engagegen.scoring.moderation_words import (
    ALLOWED_WORDS,
    ModerationMatch,
    normalize_for_moderation,
    word_lists,
    word_matches,
)

__all__ = ["Moderation", "ModerationMatch", "CATEGORIES", "ALLOWED_WORDS", "normalize_for_moderation"]

CATEGORIES = ("profanity", "slur", "threat", "violence", "harassment", "self_harm", "hate", "sexual_minors", "doxxing",
              "extremism", "toxicity")


# ------------------------------------------------------------------------------------------ the gate


class Moderation(BatchScorer):
    """Offline moderation: ``score`` is 1.0 for a flagged post and 0.0 for a clean one.

    categories: which categories flag a post (default: all of :data:`CATEGORIES`).
    extra_words: more words to treat as profanity; allow_words: words never to flag by the word list.
    semantic: the semantic layer: ``True`` (the bundled classifier over the shared MiniLM embedder),
        ``False`` (rules and word lists only) or a :class:`SemanticModerator` of your own.
    toxicity_model: optional local text-classification model (folder or cached hub id); a post is
        flagged ``toxicity`` when the probability of any of ``toxicity_labels`` reaches
        ``toxicity_threshold``. By default the toxic labels are those whose names contain toxic,
        hate, threat, insult, obscene, offensive, abuse, harass or violen (and do not start with non/not).
    """

    empty_value = 0.0

    def __init__(
        self,
        *,
        categories: Sequence[str] | None = None,
        extra_words: Iterable[str] = (),
        allow_words: Iterable[str] = (),
        toxicity_model: str | os.PathLike | None = None,
        toxicity_labels: Sequence[str] | None = None,
        toxicity_threshold: float = 0.5,
        device: str | None = None,
        max_chars: int = 10_000,
        semantic: bool | SemanticModerator = True,
    ) -> None:
        chosen = tuple(CATEGORIES if categories is None else categories)
        unknown = [c for c in chosen if c not in CATEGORIES]
        if unknown:
            raise ScoringError(f"unknown moderation categories {unknown}; choose from {list(CATEGORIES)}")
        if isinstance(extra_words, str) or isinstance(allow_words, str):
            raise ScoringError("extra_words and allow_words must be lists of words, not a single string")
        self.categories = chosen
        self.extra_words = frozenset(w.lower().strip() for w in extra_words)
        self.allow_words = frozenset(w.lower().strip() for w in allow_words)
        self.toxicity_threshold = check_unit_interval(toxicity_threshold, "toxicity_threshold")
        self.max_chars = max_chars
        self.toxicity: TextClassifier | None = None
        self._toxic_columns: list[int] = []
        if toxicity_model is not None:
            self.toxicity = TextClassifier.load(toxicity_model, device=device, needed_by="Moderation(toxicity_model=...)")
            self._toxic_columns = _toxic_columns(self.toxicity.labels, toxicity_labels, self.toxicity.name)
        word_lists()  # load (and check for) the word list now, not on the first post
        if semantic is True:
            semantic = SemanticModerator.bundled()
        self.semantic: SemanticModerator | None = semantic or None

    def __repr__(self) -> str:
        tox = f", toxicity_model={self.toxicity.name!r}" if self.toxicity is not None else ""
        sem = "" if self.semantic is not None else ", semantic=False"
        return f"Moderation(categories={list(self.categories)}{tox}{sem})"

    def explain(self, texts: Sequence[str]) -> list[list[ModerationMatch]]:
        """Every finding for every text (one entry per rule or word that matched)."""
        checked = check_texts(texts, max_chars=self.max_chars, scorer="Moderation")
        out: list[list[ModerationMatch]] = []
        for text, empty in zip(checked.texts, checked.empty):
            out.append([] if empty else self._find(text))
        if self.semantic is not None:
            cleared = {i: defused(checked.texts[i]) for i, (empty, found) in enumerate(zip(checked.empty, out))
                       if not empty and not found}
            # A fragment of under three words says too little for the classifier (rules still see it).
            todo = [i for i, text in cleared.items() if len(re.findall(r"[^\W\d_]+", text)) >= 3]
            if todo:
                harm, likeliest = self.semantic.harm([cleared[i] for i in todo])
                for i, p, cls in zip(todo, harm, likeliest):
                    if p >= self.semantic.threshold:
                        out[i].append(ModerationMatch(CATEGORY_OF_CLASS[cls], "semantic classifier", f"{cls} p={p:.2f}"))
        if self.toxicity is not None:
            todo = [i for i, empty in enumerate(checked.empty) if not empty]
            if todo:
                probs = self.toxicity.probabilities([checked.texts[i] for i in todo])[:, self._toxic_columns]
                for i, row in zip(todo, probs):
                    if row.max() >= self.toxicity_threshold:
                        label = self.toxicity.labels[self._toxic_columns[int(row.argmax())]]
                        out[i].append(ModerationMatch("toxicity", self.toxicity.name, f"{label} p={row.max():.2f}"))
        return [[m for m in matches if m.category in self.categories] for matches in out]

    def flags(self, texts: Sequence[str]) -> list[list[str]]:
        """The categories that flag each text, in :data:`CATEGORIES` order ([] for a clean text)."""
        return [[c for c in CATEGORIES if any(m.category == c for m in matches)] for matches in self.explain(texts)]

    def _score_batch(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        flags = self.flags(texts)
        return np.array([1.0 if f else 0.0 for f in flags]), ["flagged: " + ", ".join(f) if f else "" for f in flags]

    def _find(self, text: str) -> list[ModerationMatch]:
        found: dict[tuple[str, str], ModerationMatch] = {}
        for tokens in normalize_for_moderation(text):
            for match in word_matches(tokens) + rule_matches(tokens):
                if match.rule == "word list" and match.text in self.allow_words:
                    continue
                found.setdefault((match.category, match.text), match)
            for token in tokens:
                if token.lower() in self.extra_words:
                    found.setdefault(("profanity", token), ModerationMatch("profanity", "extra words", token.lower()))
        return list(found.values())


_TOXIC_NAME_RE = re.compile(r"toxic|hate|threat|insult|obscene|offensive|abuse|abusive|harass|violen", re.IGNORECASE)


def _toxic_columns(labels: tuple[str, ...], chosen: Sequence[str] | None, model: str) -> list[int]:
    by_name = {label.lower(): i for i, label in enumerate(labels)}
    if chosen is not None:
        missing = [c for c in chosen if c.lower() not in by_name]
        if missing:
            raise ScoringError(f"toxicity_labels {missing} are not labels of {model!r}; its labels are {list(labels)}")
        return [by_name[c.lower()] for c in chosen]
    columns = [i for i, label in enumerate(labels)
               if _TOXIC_NAME_RE.search(label) and not re.match(r"(?i)non|not", label)]
    if not columns:
        raise ScoringError(f"cannot tell which labels of {model!r} mean toxic ({list(labels)}); pass toxicity_labels=")
    return columns
