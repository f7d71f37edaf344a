"""Speed of the text scorers on one RL step's worth of posts (64), after warm-up.

Run: ``.venv/bin/python benchmarks/bench_scoring.py`` (about a minute: loads MiniLM, fits a stance
classifier on tests/data/scoring_stance_cats.csv).

Every repetition scores 64 *new* posts (seeded random combinations of sentences), as an RL step
does: textstat caches results per text, so re-scoring the same posts would time the cache.
Per-scorer rows embed their posts themselves (each scorer's own cost); the "all scorers" row runs
them in sequence on the same posts inside one ``reused_embeddings()`` block, as the reward does, so
the stance classifier and moderation reuse the topic scorer's embeddings. Figures are the median
and best of the repetitions. The LLM judge is not timed: its cost is the chat model's generation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from engagegen.scoring import (
    Embedder,
    Fluency,
    LanguageCheck,
    Moderation,
    StanceClassifier,
    TopicAlignment,
    VaderOpinion,
    read_labelled_csv,
    reused_embeddings,
)

BATCH = 64
REPEATS = 7
STANCE_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "scoring_stance_cats.csv"

OPENERS = ["My cat", "Our kitten", "The neighbour's cat", "Honestly, cats", "This little tabby", "My old tomcat",
           "The shelter cat we adopted", "Our two cats", "That grumpy cat", "Every cat I have met"]
MIDDLES = ["sleeps on my keyboard all afternoon", "knocked my coffee off the table again",
           "refuses to eat anything but salmon", "purrs like a tiny engine when I get home",
           "stares at the wall as if it sees ghosts", "ignores me until the food bowl is empty",
           "chased a laser pointer for twenty minutes", "climbed the curtains and got stuck",
           "is the reason I am late for work", "makes working from home much better"]
ENDINGS = ["and I love it.", "and honestly it drives me crazy.", "which is why cats are the best pets.",
           "so I bought a new scratching post.", "and the vet says that is normal.", "and I would not change a thing.",
           "#caturday", "😂", "and my dog is jealous.", "and I am not sure how I feel about that."]
EXTRA = ["Cats are wonderful.", "I really think everyone should adopt.", "Some people say cats are cold, but no.",
         "The new tax plan is a mess though.", "Anyway, back to work.", "", "", ""]


def posts(seed: int) -> list[str]:
    """64 fresh posts: sentence combinations plus a number so no two runs share a text."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(BATCH):
        body = f"{rng.choice(OPENERS)} {rng.choice(MIDDLES)} {rng.choice(ENDINGS)} {rng.choice(EXTRA)}".strip()
        out.append(f"{body} Day {seed * BATCH + i} of cat life.")
    return out


def timed(run: Callable[[list[str]], object], first_seed: int) -> list[float]:
    times = []
    for r in range(REPEATS):
        texts = posts(first_seed + r)  # new texts each run: nothing embedded before
        start = time.perf_counter()
        run(texts)
        times.append(1000 * (time.perf_counter() - start))
    return times


def main() -> None:
    console = Console()
    embedder = Embedder.shared()
    texts, labels = read_labelled_csv(STANCE_DATA)
    stance = StanceClassifier().fit(texts, labels)
    scorers = {
        "VaderOpinion": VaderOpinion(),
        "StanceClassifier (MiniLM + LR)": stance,
        "TopicAlignment (MiniLM)": TopicAlignment("cats"),
        "Fluency": Fluency(),
        "Moderation": Moderation(),
        "LanguageCheck": LanguageCheck(),
    }
    for scorer in scorers.values():  # warm-up: model loads, word lists, regex compilation
        scorer.score(posts(10_000))
        scorer.score(posts(10_001))
    table = Table(title=f"text scorers on {BATCH} new posts per run (ms; {REPEATS} runs, embedder {embedder.precision})")
    table.add_column("scorer")
    table.add_column("median ms", justify="right")
    table.add_column("best ms", justify="right")
    for seed, (name, scorer) in enumerate(scorers.items()):
        t = timed(scorer.score, 100 * (seed + 1))
        table.add_row(name, f"{statistics.median(t):.1f}", f"{min(t):.1f}")

    def all_scorers(batch: list[str]) -> None:
        with reused_embeddings():  # as in the reward: the batch embedded once for all scorers
            for scorer in scorers.values():
                scorer.score(batch)

    t = timed(all_scorers, 5_000)
    table.add_row("[bold]all scorers (shared embeddings)", f"[bold]{statistics.median(t):.1f}", f"[bold]{min(t):.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
