"""``engagegen analyze``: opinion, sentiment, topic, moderation and language of every post in a file.
``engagegen opinions``: each user's opinion from their posts, as the ``node,opinion`` file of a network."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from engagegen.analysis import OUTPUT_FILES, analyze_posts, post_authors, user_opinions, write_analysis, write_opinions
from engagegen.analysis.opinions import NodeOpinions
from engagegen.calibration import load_cascades, opinions_from_cascades
from engagegen.cli.app import app
from engagegen.cli.common import (
    DEFAULT_RUN,
    FORCE_HELP,
    console,
    examples,
    friendly_errors,
    opinion_scorer,
    output_file,
    output_folder,
    quiet_model_loading,
)
from engagegen.network import SocialNetwork, edgelist_nodes
from engagegen.scoring import read_posts


@app.command(epilog=examples("engagegen analyze posts.csv --topic cats --out posts_analysis"))
def analyze(
    posts: Path = typer.Argument(..., help="Posts: a .csv (with a header) or .jsonl file."),
    topic: str = typer.Option(DEFAULT_RUN.topic, help="What the posts should be about (topic similarity)."),
    text_column: str = typer.Option("text", help="Column (CSV) or field (JSONL) holding the text."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for posts.csv and report.html.",
                                    show_default="POSTS_analysis next to the file"),
    stance: Path | None = typer.Option(None, help="A stance classifier folder (`engagegen scorer train`) for opinion values; default VADER."),
    topic_threshold: float = typer.Option(0.17, help="Cosine similarity from which a post counts as on topic."),
    force: bool = typer.Option(False, "--force", help="Write into an --out folder that is not empty (replacing posts.csv and report.html)."),
) -> None:
    """Analyse a file of posts: opinion, sentiment, topic, moderation flags, language (CSV + HTML).

    Writes one row per post (posts.csv) and a report with summary statistics and plots (report.html).
    Opinion values are in [0, 1] (0 against the topic, 1 for it); sentiment is VADER's compound
    score in [-1, 1]; topic similarity is the cosine similarity of post and topic.
    """
    target = out if out is not None else posts.with_name(f"{posts.stem}_analysis")
    output_folder(target, force=force, files=OUTPUT_FILES, inputs=(posts, stance))
    with friendly_errors():
        quiet_model_loading()
        records = read_posts(posts, text_column)
        if not records:
            raise typer.BadParameter(f"{posts}: the file holds no posts", param_hint="POSTS")
        opinion = None if stance is None else opinion_scorer(stance)
        with console.status(f"analysing {len(records):,} posts"):
            result = analyze_posts(records, topic, opinion=opinion, topic_threshold=topic_threshold, source=str(posts))
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


class Missing(str, Enum):
    error = "error"
    neutral = "neutral"
    mean = "mean"


@app.command(epilog=examples("engagegen opinions posts.csv --graph follows.csv --out stance.csv",
                             "engagegen opinions cascades.jsonl --from-cascades --graph net.npz --out opinions.csv"))
def opinions(
    posts: Path = typer.Argument(..., help="Posts: a .csv (with a header) or .jsonl file, one post per row with its author."),
    out: Path = typer.Option(..., "--out", "-o", help="The node,opinion file to write (for `engagegen network load --opinions`)."),
    author_column: str = typer.Option("author", help="Column (CSV) or field (JSONL) holding the author's user id."),
    text_column: str = typer.Option("text", help="Column (CSV) or field (JSONL) holding the text."),
    stance: Path | None = typer.Option(None, help="A stance classifier folder (`engagegen scorer train`); default VADER. "
                                                  "Use the opinion scorer of your run config."),
    graph: Path | None = typer.Option(None, help="The edge list: write one opinion per user it names (authors outside "
                                                 "it are left out)."),
    missing: Missing = typer.Option(Missing.error, help="Graph users without posts: error (stop and name them), neutral "
                                                        "(0.5) or mean (mean opinion of the graph users with posts)."),
    min_posts: int = typer.Option(1, min=1, help="Scored posts a user needs for an opinion of their own."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    from_cascades: bool = typer.Option(False, "--from-cascades", help="POSTS is a cascade file (docs/calibration.md): each "
                                       "user's opinion is read off the posts they engaged with (needs --graph)."),
    prior_mean: float = typer.Option(0.5, help="With --from-cascades: the prior of a user's opinion, its mean ..."),
    prior_weight: float = typer.Option(1.0, help="... and its weight in posts (0: the plain mean)."),
) -> None:
    """Each user's opinion in [0, 1]: the mean opinion value of the posts they wrote.

    Scores every post (stance classifier or VADER), averages per author and writes a node,opinion
    file. With --graph, the file has exactly the edge list's users; users without posts stop the
    command unless --missing says how to fill them. With --from-cascades, the posts each user
    engaged with (retweeted, liked, replied to) instead: a smoothed mean, (prior_weight *
    prior_mean + sum of their values) / (prior_weight + their number).
    """
    if from_cascades:
        _opinions_from_cascades(posts, out, graph, missing, stance, prior_mean, prior_weight, force)
        return
    output_file(out, force=force, inputs=(posts, graph, stance))
    with friendly_errors():
        records = read_posts(posts, text_column)
        if not records:
            raise typer.BadParameter(f"{posts}: the file holds no posts", param_hint="POSTS")
        authors = post_authors(records, author_column, where=str(posts))
        texts = [r.text for r in records]
        nonempty = np.flatnonzero([bool(t.strip()) for t in texts])
        values = np.full(len(texts), np.nan)  # an empty post has no opinion (the scorer would say 0.5)
        nodes = None
        if graph is not None:  # bad graphs and users without posts fail before the (slow) scoring
            nodes = edgelist_nodes(graph)
            values[nonempty] = 0.5
            user_opinions(authors, values, min_posts=min_posts).for_nodes(nodes, missing=missing.value)
        if stance is not None:
            quiet_model_loading()
        scorer = opinion_scorer(stance)
        with console.status(f"scoring {len(nonempty):,} posts"):
            values[nonempty] = scorer.score([texts[i] for i in nonempty])
        users = user_opinions(authors, values, min_posts=min_posts)
        if nodes is not None:
            result = users.for_nodes(nodes, missing=missing.value)
            written, mean = result, float(result.opinion[~result.filled].mean())
        else:
            written, mean = users, float(users.opinion.mean()) if len(users.users) else float("nan")
        write_opinions(written, out)

    table = Table(title=f"{posts}: {len(records):,} posts", show_header=False, title_justify="left")
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right")
    table.add_row("opinion scorer", f"stance classifier {stance}" if stance is not None else "VADER sentiment")
    table.add_row("empty posts (no opinion)", str(users.unscored_posts))
    table.add_row("authors", f"{len(users.users) + len(users.dropped):,}")
    table.add_row(f"left out (< {min_posts} scored posts)", f"{len(users.dropped):,}")
    table.add_row("users with an opinion", f"{len(users.users):,}")
    if nodes is not None:
        table.add_row("graph users", f"{len(result.nodes):,}")
        fill = f" (set to {result.fill_value:.3f}, --missing {missing.value})" if result.n_filled else ""
        table.add_row("graph users without an opinion", f"{result.n_filled:,}{fill}")
        table.add_row("authors not in the graph (left out)", f"{len(result.not_in_graph):,}")
    table.add_row("mean opinion of the users with posts", f"{mean:.3f}")
    console.print(table)
    if nodes is not None and result.n_filled:
        shown = ", ".join(map(str, result.nodes[result.filled][:10].tolist()))
        console.print(f"filled: {shown}{', ...' if result.n_filled > 10 else ''}")
    if nodes is not None and len(result.not_in_graph):
        shown = ", ".join(result.not_in_graph[:10].tolist())
        console.print(f"not in the graph: {shown}{', ...' if len(result.not_in_graph) > 10 else ''}")
    console.print(f"wrote [bold]{out}[/bold] ({len(written.opinion):,} users)")


def _opinions_from_cascades(cascades: Path, out: Path, graph: Path | None, missing: Missing, stance: Path | None, prior_mean: float,
                            prior_weight: float, force: bool) -> None:
    """``engagegen opinions --from-cascades``: opinions read off engagements, one per graph user."""
    if graph is None:
        raise typer.BadParameter("--from-cascades needs --graph (the edge list or .npz network whose users the cascades name)")
    output_file(out, force=force, inputs=(cascades, graph, stance))
    with friendly_errors():
        if graph.suffix == ".npz":
            net = SocialNetwork.load(graph)
            nodes = net.node_ids if net.node_ids is not None else np.arange(net.n_users)
        else:
            nodes = edgelist_nodes(graph)
        observed = load_cascades(cascades, nodes)
        if np.isnan(observed.messages).any():
            with console.status(f"scoring {int(np.isnan(observed.messages).sum()):,} posts"):
                observed = observed.with_messages(opinion_scorer(stance).score)
        ops = opinions_from_cascades(observed, prior_mean=prior_mean, prior_weight=prior_weight)
        values = ops.filled(missing.value, names=nodes)
        lack = ~ops.has_opinion
        fill = ops.fill_value(missing.value) if lack.any() else None
        result = NodeOpinions(np.asarray(nodes), values, ops.counts.astype(np.int64), lack, missing.value, fill, np.empty(0, str))
        write_opinions(result, out)
    table = Table(title=f"{cascades}: {len(observed):,} cascades", show_header=False, title_justify="left")
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right")
    table.add_row("engagements", f"{len(observed.users):,}")
    table.add_row("graph users", f"{len(values):,}")
    table.add_row("users who engaged (opinion of their own)", f"{int((~lack).sum()):,}")
    fill_text = f" (set to {fill:.3f}, --missing {missing.value})" if fill is not None else ""
    table.add_row("users who engaged with nothing", f"{int(lack.sum()):,}{fill_text}")
    table.add_row("prior", f"{prior_weight:g} post(s) at {prior_mean:g}")
    table.add_row("mean opinion of the users who engaged", f"{float(values[~lack].mean()):.3f}" if (~lack).any() else "n/a")
    console.print(table)
    if lack.any():
        shown = ", ".join(map(str, np.asarray(nodes)[lack][:10].tolist()))
        console.print(f"filled: {shown}{', ...' if lack.sum() > 10 else ''}")
    console.print(f"wrote [bold]{out}[/bold] ({len(values):,} users)")
