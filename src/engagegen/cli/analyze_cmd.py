"""``engagegen analyze``: opinion, sentiment, topic, moderation and language of every post in a file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, friendly_errors


@app.command()
def analyze(
    posts: Path = typer.Argument(..., help="Posts: a .csv (with a header) or .jsonl file."),
    topic: str = typer.Option("cats", help="What the posts should be about (topic similarity)."),
    text_column: str = typer.Option("text", help="Column (CSV) or field (JSONL) holding the text."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for posts.csv and report.html.",
                                    show_default="POSTS_analysis next to the file"),
    stance: Path | None = typer.Option(None, help="A stance classifier folder (`engagegen scorer train`) for opinion values; default VADER."),
    topic_threshold: float = typer.Option(0.17, help="Cosine similarity from which a post counts as on topic."),
) -> None:
    """Analyse a file of posts: opinion, sentiment, topic, moderation flags, language (CSV + HTML).

    Writes one row per post (posts.csv) and a report with summary statistics and plots (report.html).
    """
    from engagegen.analysis import analyze_posts, write_analysis
    from engagegen.scoring import read_posts

    with friendly_errors():
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the status line says what is happening
        records = read_posts(posts, text_column)
        if not records:
            raise ValueError(f"{posts}: the file holds no posts")
        opinion = None
        if stance is not None:
            from engagegen.scoring import StanceClassifier

            opinion = StanceClassifier.load(stance)
        with console.status(f"analysing {len(records):,} posts"):
            result = analyze_posts(records, topic, opinion=opinion, topic_threshold=topic_threshold, source=str(posts))
        target = out if out is not None else posts.with_name(f"{posts.stem}_analysis")
        csv_path, html_path = write_analysis(result, target)
    s = result.summary()
    table = Table(title=f"{posts}: {s['posts']:,} posts", show_header=False, title_justify="left")
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right")

    def fmt(v: object) -> str:
        return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    for key in ("empty", "opinion_mean", "opinion_std", "share_favourable", "sentiment_mean", "topic_similarity_mean",
                "share_on_topic", "flagged", "non_english"):
        table.add_row(key.replace("_", " "), fmt(s[key]))
    flagged = {k: v for k, v in s["flags_by_category"].items() if v}
    table.add_row("flags by category", ", ".join(f"{k} {v}" for k, v in flagged.items()) or "none")
    console.print(table)
    console.print(f"wrote [bold]{csv_path}[/bold] and [bold]{html_path}[/bold]")
