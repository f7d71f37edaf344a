"""``engagegen score``: the reward breakdown of posts, for one post or a whole file.

A file is scored in chunks (every scorer sees a whole chunk at once) and each chunk is written as
soon as it is scored, with a progress bar; the output keeps every input column.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import (
    DEFAULT_RUN,
    FORCE_HELP,
    console,
    err_console,
    examples,
    friendly_errors,
    output_file,
    quiet_model_loading,
)
from engagegen.cli.run_settings import FROM_CONFIG_NETWORK, from_config, run_config
from engagegen.files import atomic_open
from engagegen.scoring import read_posts
from engagegen.training.build import build_audience

SCORE_COLUMNS = ("opinion", "engaged", "engaged_fraction", "fluency", "topic", "flagged", "total", "flags", "reason")
_NUMERIC = SCORE_COLUMNS[:7]
CHUNK = 512


def _score_rows(reward: Any, texts: Sequence[str]) -> list[dict[str, Any]]:
    out = reward.score(texts)
    rows = []
    for i in range(len(texts)):
        row: dict[str, Any] = {c: getattr(out, c)[i].item() for c in _NUMERIC}
        row["flags"], row["reason"] = ";".join(out.flags[i]), out.reason[i]
        rows.append(row)
    return rows


class _RowWriter:
    """CSV or JSONL rows: the input's fields, then the scores."""

    def __init__(self, fh: IO[str], fmt: str, input_columns: list[str]) -> None:
        self.fh, self.fmt = fh, fmt
        self.columns = [c for c in input_columns if c not in SCORE_COLUMNS] + list(SCORE_COLUMNS)
        if fmt == "csv":
            self.writer = csv.DictWriter(fh, fieldnames=self.columns, lineterminator="\n")
            self.writer.writeheader()

    def write(self, fields: dict[str, Any], scores: dict[str, Any]) -> None:
        row = {**fields, **scores}
        if self.fmt == "csv":
            self.writer.writerow({c: row.get(c, "") for c in self.columns})
        else:
            self.fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def _progress() -> Progress:
    return Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("posts"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


@app.command(epilog=examples('engagegen score --post "Cats are the worst." --network net.npz',
                             "engagegen score posts.csv --network net.npz --out scored.csv",
                             "engagegen score posts.csv --config runs/demo/config.yaml --out scored.csv"))
def score(
    posts: Path | None = typer.Argument(None, help="CSV, TSV or JSONL of posts (UTF-8); or give one post with --post."),
    post: str | None = typer.Option(None, "--post", help="One post to score, instead of a file."),
    config: Path | None = typer.Option(None, help="A run config (e.g. RUN/config.yaml): score with that run's audience "
                                       "and reward, exactly as training does (perplexity included when it sets "
                                       "scoring.fluency_model). The options below change it."),
    network: Path | None = typer.Option(None, help="Network file (.npz): the audience the posts are scored for.",
                                        show_default=FROM_CONFIG_NETWORK),
    agent: str | None = typer.Option(None, help="Agent position or a user id.", show_default=from_config(DEFAULT_RUN.agent)),
    topic: str | None = typer.Option(None, help="What the posts should be about.", show_default=from_config(DEFAULT_RUN.topic)),
    epsilon: float | None = typer.Option(None, help="Confidence bound of the engagement model.",
                                         show_default=from_config(DEFAULT_RUN.engagement.epsilon)),
    preset: str | None = typer.Option(None, help="Reward preset: constrained or paper.",
                                      show_default=from_config(DEFAULT_RUN.reward.preset)),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the scored posts here (.csv or .jsonl), with every input column."),
    text_column: str = typer.Option("text", help="Column (CSV) or field (JSONL) holding the text."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Score posts with the reward: opinion value, users engaged, fluency, topic, moderation, total.

    opinion: the post's opinion value s in [0, 1] (VADER: 0 negative, 1 positive); engaged: users of
    the cascade from the agent; engaged_fraction: engaged / the optimum (the most any post engages);
    fluency and topic in [0, 1]; total: the reward (engagement gated by topic, fluency, moderation).
    Without --config the fluency score leaves out perplexity under a language model (fast on
    large files); --config scores as that run's reward does.
    """
    # Before torch loads its OpenMP runtime: threads that wait for each other asleep, not spinning. On 2
    # cores shared with a training, spinning threads made the embedder 6x slower (benchmarks/bench_score_file.py);
    # a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if (post is None) == (posts is None):
        raise typer.BadParameter("give either a POSTS file or --post TEXT")
    if out is not None:
        output_file(out, force=force, inputs=(posts, network, config), suffixes=(".csv", ".jsonl"))
    with friendly_errors():
        quiet_model_loading()
        audience = build_audience(run_config(config, network=network, agent=agent, topic=topic, epsilon=epsilon, preset=preset))
        reward, source = audience.reward, audience.agent
        if posts is not None:
            records = read_posts(posts, text_column)
            if not records:
                raise typer.BadParameter(f"{posts}: the file holds no posts", param_hint="POSTS")
            texts = [r.text for r in records]
            fields = [r.fields for r in records]
        else:
            texts, fields = [post], [{"text": post}]
        if out is None:
            rows = []
            with _progress() as bar:
                task = bar.add_task("score", total=len(texts))
                for start in range(0, len(texts), CHUNK):
                    rows.extend(_score_rows(reward, texts[start : start + CHUNK]))
                    bar.advance(task, len(rows) - start)
        else:
            columns = list(dict.fromkeys(k for f in fields for k in f))
            replaced = [c for c in columns if c in SCORE_COLUMNS]
            if replaced:
                err_console.print(f"[yellow]note:[/yellow] the input's column(s) {', '.join(replaced)} are replaced by "
                                  "the new scores in the output", highlight=False)
            with atomic_open(out) as fh, _progress() as bar:
                writer = _RowWriter(fh, out.suffix.lower().lstrip("."), columns)
                task = bar.add_task("score", total=len(texts))
                for start in range(0, len(texts), CHUNK):
                    for f, s in zip(fields[start : start + CHUNK], _score_rows(reward, texts[start : start + CHUNK])):
                        writer.write(f, s)
                    bar.advance(task, min(CHUNK, len(texts) - start))
            console.print(f"{len(texts):,} posts scored -> {out} (optimum {reward.optimum.value:g} users)")
            return
    table = Table(title=f"reward breakdown (optimum {reward.optimum.value:g} users from agent {source})")
    table.add_column("post", max_width=50)
    for c in _NUMERIC:
        table.add_column(c, justify="right")
    table.add_column("reason")
    for text, row in list(zip(texts, rows))[:50]:
        table.add_row(text, *(f"{row[c]:.3g}" for c in _NUMERIC), row["reason"])
    console.print(table)
    if len(texts) > 50:
        console.print(f"first 50 of {len(texts):,} posts; write them all with --out FILE")
