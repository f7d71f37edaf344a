"""``engagegen score``: the reward breakdown of posts, for one post or a whole file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, friendly_errors, load_network, parse_agent
from engagegen.files import atomic_write_text

_COLUMNS = ("opinion", "engaged", "engaged_fraction", "fluency", "topic", "flagged", "total")


@app.command()
def score(
    post: str | None = typer.Argument(None, help="A post to score (or use --input)."),
    network: Path = typer.Option(..., help="Network file (.npz)."),
    agent: str = typer.Option("central", help="Agent position or a user id."),
    topic: str = typer.Option("cats", help="What the posts should be about."),
    epsilon: float = typer.Option(0.2, help="Confidence bound of the bounded-confidence cascade."),
    preset: str = typer.Option("constrained", help="Reward preset: constrained or paper."),
    input: Path | None = typer.Option(None, "--input", help="CSV or JSONL of posts."),
    output: Path | None = typer.Option(None, help="Write the scored posts here (CSV)."),
    text_column: str = typer.Option("text", help="Column (CSV) or field (JSONL) holding the text."),
) -> None:
    """Score posts with the reward: opinion value, users engaged, fluency, topic, moderation, total."""
    from engagegen.engagement import BoundedConfidenceCascade
    from engagegen.network import place_agent
    from engagegen.reward import EngagementReward, RewardConfig
    from engagegen.scoring import VaderOpinion, read_posts

    if (post is None) == (input is None):
        raise typer.BadParameter("give either a POST argument or --input FILE")
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        records = read_posts(input, text_column) if input is not None else None
        texts = [r.text for r in records] if records is not None else [post]
        reward = EngagementReward(network=net, source=source, engagement=BoundedConfidenceCascade(epsilon=epsilon),
                                  opinion=VaderOpinion(), topic=topic, config=RewardConfig(preset=preset))
        out = reward.score(texts)
    if output is not None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["text", *_COLUMNS, "flags", "reason"])
        for i, text in enumerate(texts):
            writer.writerow([text, *(getattr(out, c)[i] for c in _COLUMNS), ";".join(out.flags[i]), out.reason[i]])
        atomic_write_text(output, buf.getvalue())
        console.print(f"{len(texts)} posts scored -> {output} (optimum {reward.optimum.value:g} users)")
        return
    table = Table(title=f"reward breakdown (optimum {reward.optimum.value:g} users from agent {source})")
    table.add_column("post", max_width=50)
    for c in _COLUMNS:
        table.add_column(c, justify="right")
    table.add_column("reason")
    for i, text in enumerate(texts[:50]):
        table.add_row(text, *(f"{getattr(out, c)[i]:.3g}" for c in _COLUMNS), out.reason[i])
    console.print(table)
