"""``engagegen reply``: write candidate replies to a post and score each for the post's audience."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import typer
from rich.panel import Panel
from rich.text import Text

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
from engagegen.cli.run_settings import FROM_CONFIG_NETWORK, from_adapter, from_config, run_config, sampling_settings
from engagegen.files import atomic_write_text
from engagegen.generation import LocalModel, build_prompts
from engagegen.interaction import ReplyReward, reply_audience
from engagegen.network import NetworkError, SocialNetwork
from engagegen.training import RunConfig
from engagegen.training.build import Audience, build_audience, build_network


def resolve_user(net: SocialNetwork, value: str, what: str) -> int:
    """A user named on the command line: a label from the network's node ids, or a user id."""
    text = value.strip()
    if net.node_ids is not None:
        labels = [str(v) for v in net.node_ids.tolist()]
        if text in labels:
            return labels.index(text)
        raise NetworkError(f"unknown {what} {text!r}: no user with that label in the network")
    if not text.lstrip("-").isdigit():
        raise NetworkError(f"{what} must be a user id (0..{net.n_users - 1}), got {text!r}")
    return net.check_user(int(text), what)


def reply_audience_of(cfg: RunConfig, post: str, author: str, thread: list[str]) -> Audience:
    """The run's audience with the reply reward for one post, built as training builds it in reply
    mode (from a posts file: here one post, written to a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="engagegen-reply-") as folder:
        posts = Path(folder) / "post.jsonl"
        posts.write_text(json.dumps({"text": post, "author": author.strip(), "thread": ";".join(thread)}) + "\n",
                         encoding="utf-8")
        return build_audience(replace(cfg, generation=replace(cfg.generation, mode="reply", reply_posts=str(posts))))


@app.command(epilog=examples(
    "engagegen reply --post \"My cat sleeps all day.\" --author 3 --network net.npz -n 4 --out replies.csv",
    "engagegen reply --post \"My cat sleeps all day.\" --author 3 --config runs/demo/config.yaml --adapter runs/demo/adapter"))
def reply(
    post: str = typer.Option(..., "--post", help="The post to reply to."),
    author: str = typer.Option(..., "--author", help="Who wrote the post: a user id (or label, for loaded networks)."),
    config: Path | None = typer.Option(None, help="A run config (e.g. RUN/config.yaml): score replies with that run's "
                                       "audience and reward settings, as training in reply mode does. The options below change it."),
    network: Path | None = typer.Option(None, help="Network file (.npz).", show_default=FROM_CONFIG_NETWORK),
    agent: str | None = typer.Option(None, help="Where the replying agent sits: a position or a user id.",
                                     show_default=from_config(DEFAULT_RUN.agent)),
    thread: str = typer.Option("", help="Other participants of the thread, comma separated user ids."),
    n: int = typer.Option(4, "-n", "--n", help="Candidate replies to write."),
    model: str | None = typer.Option(None, help="smollm2-135m (embedded), a model folder, a .gguf file or a HF id.",
                                     show_default=from_adapter(DEFAULT_RUN.generation.model, config=True)),
    adapter: Path | None = typer.Option(None, help="LoRA adapter folder, e.g. RUN_DIR/adapter; the sampling options "
                                        "default to the settings its run validated it at."),
    max_new_tokens: int | None = typer.Option(None, help="Length limit of each reply, in tokens.",
                                              show_default=from_adapter(DEFAULT_RUN.generation.max_new_tokens, config=True)),
    temperature: float | None = typer.Option(None, help="Sampling temperature; 0 = greedy.",
                                             show_default=from_adapter(DEFAULT_RUN.generation.temperature, config=True)),
    top_p: float | None = typer.Option(None, help="Nucleus sampling.",
                                       show_default=from_adapter(DEFAULT_RUN.generation.top_p, config=True)),
    seed: int | None = typer.Option(None, help="Seed for repeatable sampling."),
    epsilon: float | None = typer.Option(None, help="Confidence bound: a reader engages within epsilon of the reply's opinion.",
                                         show_default=from_config(DEFAULT_RUN.engagement.epsilon)),
    relevance_weight: float = typer.Option(0.25, min=0.0, max=1.0, help="Weight of relevance to the post in the reply reward."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the scored replies here (CSV)."),
    allow_download: bool = typer.Option(False, "--allow-download", help="Let a Hugging Face --model be downloaded."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Write N replies to a post by AUTHOR and score each for the author's audience and the thread.

    A reply's reward: (1 - relevance weight) x engagement reward + relevance weight x relevance,
    where the engagement reward is the readers a reply engages as a fraction of the most any reply
    could engage (gated like a post's: relevant to the post, fluent, not flagged) and relevance is
    the cosine similarity of reply and post (0..1); a flagged, empty or copied reply gets 0.
    Without --config the fluency score leaves out perplexity.
    """
    if n < 1:
        raise typer.BadParameter("-n must be at least 1")
    if not post.strip():
        raise typer.BadParameter("--post is empty: give the text of the post to reply to")
    if out is not None:
        output_file(out, force=force, inputs=(network, config), suffixes=(".csv",))
    with friendly_errors():
        base = run_config(config, network=network, agent=agent, epsilon=epsilon)
        sampling = sampling_settings(base, adapter, model=model, max_new_tokens=max_new_tokens, temperature=temperature,
                                     top_p=top_p)
        participants = [v.strip() for v in thread.split(",") if v.strip()]
        # Checked here for the command line's wording (--author, --thread) before any model loads.
        net = build_network(base.network)
        author_id = resolve_user(net, author, "author")
        thread_ids = tuple(resolve_user(net, v, "thread participant") for v in participants)
        quiet_model_loading()
        with console.status("building the audience and the reward"):
            audience = reply_audience_of(base, post, author, participants)
        reward: ReplyReward = audience.reward
        reward.relevance_weight = relevance_weight  # not a run config setting; training replies use 0.25
        net, source = audience.network, audience.agent
        readers = reply_audience(net, author_id, thread_ids, exclude=source)
        if len(readers) == 0:
            err_console.print(f"[yellow]warning:[/yellow] user {author_id} has no audience: nobody would read a reply")
        with console.status(f"loading {sampling.model}" + (f" with adapter {adapter}" if adapter else "")):
            generator = LocalModel(sampling.model, adapter=adapter, chat=True, allow_download=allow_download)
        prompts = build_prompts("reply", post, post=post)
        with console.status(f"writing {n} repl{'y' if n == 1 else 'ies'}"):
            texts = generator.generate(prompts, n=n, max_new_tokens=sampling.max_new_tokens,
                                       temperature=sampling.temperature, top_p=sampling.top_p, seed=seed)[0]
        with console.status("scoring"):
            scored = reward.score(texts)
    optimum = reward.rewards[0].optimum.value
    order = sorted(range(len(texts)), key=lambda i: -scored.total[i])
    console.print(f"replies to user {author_id}: {len(readers)} reader(s), at most {optimum:g} can engage (agent {source})",
                  highlight=False)
    for rank, i in enumerate(order, 1):
        flags = ", ".join(scored.flags[i]) or "none"
        reason = f" · {scored.reason[i]}" if scored.reason[i] else ""
        line = (f"opinion {scored.opinion[i]:.2f} · engages {scored.engaged[i]:g} of {optimum:g} · relevance {scored.topic[i]:.2f}"
                f" · flags: {flags}{reason}")
        console.print(Panel(Text(texts[i] or "(empty)"), title=f"#{rank} · reward {scored.total[i]:.3f}", title_align="left",
                            expand=False))
        console.print(Text(line, style="dim"))
    if out is not None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["reply", "opinion", "engaged", "optimum", "relevance", "flags", "reward", "reason"])
        for i in order:
            writer.writerow([texts[i], scored.opinion[i], scored.engaged[i], optimum, scored.topic[i], ";".join(scored.flags[i]),
                             scored.total[i], scored.reason[i]])
        atomic_write_text(out, buf.getvalue())
        console.print(f"wrote [bold]{out}[/bold]")
