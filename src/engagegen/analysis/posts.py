"""Analysis of a file of posts: opinion value, sentiment, topic similarity, moderation flags and
language of each post, summary statistics, and a CSV + self-contained HTML report.

>>> result = analyze_posts(["Cats are great!", "Interest rates rose again."], topic="cats")
>>> [round(r["opinion"], 2) for r in result.rows], [r["on_topic"] for r in result.rows], result.summary()["flagged"]
([0.83, 0.73], [True, False], 0)
>>> import tempfile
>>> [path.name for path in write_analysis(result, tempfile.mkdtemp())]
['posts.csv', 'report.html']
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engagegen import scoring
from engagegen.errors import EngagegenError
from engagegen.files import atomic_write_text
from engagegen.html_page import figure_tag, page, table_tag
from engagegen.scoring.moderation import CATEGORIES

__all__ = ["PostAnalysis", "analyze_posts", "write_analysis", "AnalysisError", "OUTPUT_FILES"]

COLUMNS = ("line", "text", "opinion", "sentiment", "topic_similarity", "on_topic", "flags", "language", "english_share", "note")
OUTPUT_FILES = ("posts.csv", "report.html")


class AnalysisError(EngagegenError, ValueError):
    """Input that cannot be analysed (no posts, bad arguments)."""


@dataclass
class PostAnalysis:
    """Per-post rows (see :data:`COLUMNS`) and what they were scored with."""

    rows: list[dict[str, Any]]
    topic: str
    opinion_scorer: str
    topic_threshold: float
    source: str = ""
    flag_details: list[list[str]] = field(default_factory=list)
    input_columns: list[str] = field(default_factory=list)  # the input file's other columns (author, ...), kept

    def column(self, name: str) -> np.ndarray:
        return np.array([r[name] for r in self.rows], dtype=float)

    def summary(self) -> dict[str, Any]:
        """Counts, means and distributions over the posts (empty posts excluded from the means)."""
        opinion = self.column("opinion")
        scored = ~np.isnan(opinion)
        sentiment = self.column("sentiment")[scored]
        similarity = self.column("topic_similarity")[scored]
        flags = Counter(f for r in self.rows for f in r["flags"].split(";") if f)
        languages = Counter(r["language"] or "too short" for r, ok in zip(self.rows, scored) if ok)

        def stat(a: np.ndarray, fn: Any) -> float | None:
            return float(fn(a)) if len(a) else None

        return {
            "posts": len(self.rows),
            "empty": int((~scored).sum()),
            "opinion_mean": stat(opinion[scored], np.mean),
            "opinion_median": stat(opinion[scored], np.median),
            "opinion_std": stat(opinion[scored], np.std),
            "share_favourable": stat(opinion[scored] > 0.5, np.mean),
            "sentiment_mean": stat(sentiment, np.mean),
            "topic_similarity_mean": stat(similarity, np.mean),
            "share_on_topic": stat(similarity >= self.topic_threshold, np.mean),
            "flagged": int(sum(1 for r in self.rows if r["flags"])),
            "flags_by_category": {c: flags.get(c, 0) for c in CATEGORIES},
            "languages": dict(languages.most_common()),
            "non_english": int(sum(n for lang, n in languages.items() if lang not in ("en", "too short"))),
        }

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[*self.input_columns, *COLUMNS], extrasaction="ignore")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
        return buf.getvalue()

    def to_html(self, title: str | None = None, max_rows: int = 500) -> str:
        s = self.summary()
        title = title or f"Posts analysis{': ' + self.source if self.source else ''}"

        def kpi(label: str, value: Any) -> str:
            shown = "n/a" if value is None else (f"{value:.3g}" if isinstance(value, float) else str(value))
            return f'<span class="kpi"><b>{shown}</b>{label}</span>'

        body = [
            f'<p class="muted">Topic: {_esc(self.topic)} · opinion scorer: {_esc(self.opinion_scorer)} · '
            f"a post is on topic when its cosine similarity to the topic is at least {self.topic_threshold:g}.</p>",
            kpi("posts", s["posts"]), kpi("mean opinion (0 against, 1 for)", s["opinion_mean"]),
            kpi("opinion std", s["opinion_std"]), kpi("mean sentiment (-1..1)", s["sentiment_mean"]),
            kpi("share on topic", s["share_on_topic"]), kpi("flagged", s["flagged"]), kpi("not English", s["non_english"]),
        ]
        opinion = self.column("opinion")
        body.append("<h2>Opinion values</h2>" + figure_tag(_histogram(opinion[~np.isnan(opinion)]),
                                                            "Histogram of the posts' opinion values"))
        flagged = {c: n for c, n in s["flags_by_category"].items() if n}
        body.append("<h2>Moderation flags by category</h2>" + (
            figure_tag(_flag_bars(flagged), "Posts flagged in each category (a post can be in several)") if flagged
            else '<p class="muted">No post was flagged.</p>'))
        body.append("<h2>Languages</h2>" + table_tag([{"language": k, "posts": v} for k, v in s["languages"].items()]))
        shown = [{k: r.get(k, "") for k in (*self.input_columns, *COLUMNS)} for r in self.rows[:max_rows]]
        more = f'<p class="muted">First {max_rows} of {len(self.rows)} posts; all are in the CSV.</p>' if len(self.rows) > max_rows else ""
        body.append("<h2>Posts</h2>" + more + table_tag(shown))
        return page(title, "\n".join(body))


def _esc(text: str) -> str:
    return html.escape(text)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _histogram(values: np.ndarray) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(values, bins=20, range=(0, 1), color="#4c72b0", edgecolor="white")
    ax.set_xlabel("opinion value")
    ax.set_ylabel("posts")
    return fig


def _flag_bars(counts: dict[str, int]) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(list(counts), list(counts.values()), color="#c44e52")
    ax.yaxis.get_major_locator().set_params(integer=True)  # counts of posts
    ax.set_ylabel("posts")
    ax.tick_params(axis="x", rotation=20)
    return fig


def analyze_posts(
    posts: Sequence[Any],
    topic: str,
    *,
    opinion: Any = None,
    topic_threshold: float = 0.17,
    embedder: Any = None,
    moderation: Any = None,
    language: Any = None,
    source: str = "",
) -> PostAnalysis:
    """Score every post: ``posts`` are strings or ``PostRecord`` objects (from ``read_posts``).

    opinion: the opinion scorer (default VADER, s = (compound + 1) / 2; a ``StanceClassifier`` for
        stance on the topic). ``sentiment`` is always VADER's compound score in [-1, 1].
    topic_threshold: cosine similarity from which a post counts as on topic (the reward's default).
    Empty posts get a row with empty scores and the note "empty post".
    """
    if isinstance(posts, str):
        raise AnalysisError("analyze_posts takes a sequence of posts; wrap a single post in a list")
    if not posts:
        raise AnalysisError("no posts to analyse")
    if not isinstance(topic, str) or not topic.strip():
        raise AnalysisError("topic must be a non-empty description of what the posts are about")
    texts, lines, extras = [], [], []
    for i, p in enumerate(posts):
        text = p if isinstance(p, str) else getattr(p, "text", None)
        if not isinstance(text, str):
            raise AnalysisError(f"post {i} has no text (got {type(p).__name__})")
        texts.append(text)
        lines.append(getattr(p, "line", i + 1))
        # the file's other columns, kept beside the analysis (renamed where they share its column names)
        extras.append({(f"input_{k}" if k in COLUMNS else k): v for k, v in getattr(p, "fields", {}).items()})
    vader = scoring.VaderOpinion()
    opinion = opinion if opinion is not None else vader
    moderation = moderation if moderation is not None else scoring.Moderation()
    language = language if language is not None else scoring.LanguageCheck()
    alignment = scoring.TopicAlignment(topic, embedder=embedder)
    todo = [i for i, t in enumerate(texts) if t.strip()]
    body = [texts[i] for i in todo]
    n = len(texts)
    values = {name: np.full(n, np.nan) for name in ("opinion", "sentiment", "similarity", "english")}
    flags: list[list[str]] = [[] for _ in texts]
    details: list[list[str]] = [[] for _ in texts]
    guesses = [""] * n
    if body:
        with scoring.reused_embeddings():  # the topic and moderation scorers embed the same posts
            values["opinion"][todo] = np.asarray(opinion.score(body), dtype=float)
            values["sentiment"][todo] = vader.compound(body)
            values["similarity"][todo] = alignment.details(body).similarity
            for i, matches in zip(todo, moderation.explain(body)):
                details[i] = [f"{m.category}: {m.text}" for m in matches]
            for i, f in zip(todo, moderation.flags(body)):
                flags[i] = f
        for i, g in zip(todo, language.detect(body)):
            guesses[i] = g.language
            values["english"][i] = g.english_share
    rows = []
    for i, text in enumerate(texts):
        empty = not text.strip()
        rows.append({
            "line": lines[i], "text": text, "opinion": float(values["opinion"][i]), "sentiment": float(values["sentiment"][i]),
            "topic_similarity": float(values["similarity"][i]),
            "on_topic": "" if empty else bool(values["similarity"][i] >= topic_threshold),
            "flags": ";".join(flags[i]), "language": guesses[i], "english_share": float(values["english"][i]),
            "note": "empty post" if empty else "",
            **extras[i],
        })
    input_columns = list(dict.fromkeys(k for e in extras for k in e))
    return PostAnalysis(rows, topic.strip(), _describe(opinion), float(topic_threshold), source, details, input_columns)


def _describe(scorer: Any) -> str:
    """A scorer as a reader knows it, not its Python repr."""
    if isinstance(scorer, scoring.VaderOpinion):
        return "VADER sentiment" + (" (inverted)" if getattr(scorer, "invert", False) else "")
    if isinstance(scorer, scoring.StanceClassifier):
        return "stance classifier (MiniLM + logistic regression)"
    return type(scorer).__name__


def write_analysis(result: PostAnalysis, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``posts.csv`` (one row per post) and ``report.html`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    csv_path = atomic_write_text(out / OUTPUT_FILES[0], result.to_csv())
    html_path = atomic_write_text(out / OUTPUT_FILES[1], result.to_html())
    return csv_path, html_path
