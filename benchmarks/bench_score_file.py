"""``engagegen score POSTS`` on a file of 10,000 posts, end to end, as a user runs it.

Run: ``.venv/bin/python benchmarks/bench_score_file.py [N [ROUNDS]]`` (a few minutes). Writes N posts (default
10,000; seeded sentence combinations, each one distinct, with an author column) to a temporary CSV and
runs the command in fresh processes (model loading included), alternately as shipped and with
``OMP_WAIT_POLICY=ACTIVE`` (the OpenMP default before the command chose sleeping waits), so the ratio
holds even on a machine busy with other jobs. Then, in this process, it splits the scoring time
of the same posts by scorer (the part a faster scorer can win).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the command does, before torch loads

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import BATCH, posts  # noqa: E402

from engagegen.network import paper_network, place_agent  # noqa: E402

ROUNDS = 2  # runs of each kind (second argument)
CHUNK = 512  # the command's chunk


def command_seconds(folder: Path, n: int, wait_policy: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if wait_policy is not None:
        env["OMP_WAIT_POLICY"] = wait_policy
    out = folder / "scored.csv"
    command = [sys.executable, "-m", "engagegen", "score", str(folder / "posts.csv"), "--out", str(out),
               "--network", str(folder / "net.npz"), "--force"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    seconds = time.perf_counter() - start
    with out.open(newline="", encoding="utf-8") as fh:
        rows = sum(1 for _ in csv.DictReader(fh))
    assert rows == n, f"{rows} rows written for {n} posts"
    return seconds


def split_by_scorer(texts: list[str]) -> dict[str, float]:
    """Seconds of each scorer of the reward on ``texts`` in the command's chunks (fresh embeddings)."""
    import numpy as np

    from engagegen.engagement import BoundedConfidenceCascade
    from engagegen.reward import EngagementReward
    from engagegen.scoring import VaderOpinion, reused_embeddings

    net = paper_network()
    reward = EngagementReward(network=net, source=place_agent(net, "central"),
                              engagement=BoundedConfidenceCascade(epsilon=0.2), opinion=VaderOpinion(), topic="cats")
    reward.score(texts[:8])  # models load here, not in the table
    parts = {
        "opinion (VADER) and engagement": lambda c: reward.lookup(np.clip(np.asarray(reward.opinion.score(c)), 0, 1)),
        "fluency": reward.fluency.details,
        "topic (MiniLM embeddings)": reward.topic_scorer.score,
        "moderation (rules; semantic layer on the topic's embeddings)": reward.moderation.flags,
        "language": reward.language.out_of_language,
    }
    seconds = dict.fromkeys(parts, 0.0)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        with reused_embeddings():  # as the reward's scorers share one chunk's embeddings
            for name, scorer in parts.items():
                begin = time.perf_counter()
                scorer(chunk)
                seconds[name] += time.perf_counter() - begin
    return seconds


def main(n: int = 10_000, rounds: int = ROUNDS) -> None:
    console = Console()
    texts = [t for seed in range(-(-n // BATCH)) for t in posts(20_000 + seed)][:n]
    table = Table(title=f"engagegen score POSTS: {n:,} posts, {rounds} runs each, alternating")
    for column in ("OpenMP waits", "seconds (each run)", "posts / s (best)"):
        table.add_column(column, justify="right" if column != "OpenMP waits" else "left")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with (folder / "posts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["author", "text"])
            writer.writerows((i % 97, t) for i, t in enumerate(texts))
        paper_network().save(folder / "net.npz")
        runs: dict[str, list[float]] = {"sleeping (as shipped)": [], "spinning (OMP_WAIT_POLICY=ACTIVE, before)": []}
        for _ in range(rounds):
            runs["sleeping (as shipped)"].append(command_seconds(folder, n, None))
            runs["spinning (OMP_WAIT_POLICY=ACTIVE, before)"].append(command_seconds(folder, n, "ACTIVE"))
    for name, seconds in runs.items():
        table.add_row(name, ", ".join(f"{s:.1f}" for s in seconds), f"{n / min(seconds):.0f}")
    console.print(table)
    best = {name: min(seconds) for name, seconds in runs.items()}
    console.print(f"as shipped / before: {best['spinning (OMP_WAIT_POLICY=ACTIVE, before)'] / best['sleeping (as shipped)']:.2f}x "
                  f"faster; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    seconds = split_by_scorer(texts)
    split = Table(title=f"scoring time by scorer, {n:,} posts in chunks of {CHUNK} (this process, models loaded)")
    split.add_column("scorer")
    split.add_column("seconds", justify="right")
    split.add_column("share", justify="right")
    total = sum(seconds.values())
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        split.add_row(name, f"{s:.1f}", f"{s / total:.0%}")
    console.print(split)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
