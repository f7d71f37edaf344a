"""``engagegen score POSTS`` on a file of 10,000 posts, end to end, as a user runs it.

Run: ``.venv/bin/python benchmarks/bench_score_file.py [N]`` (about a minute). Writes N posts (default
10,000; seeded sentence combinations, each one distinct, with an author column) to a temporary CSV,
runs the command in a fresh process (model loading included) and prints the wall time, the posts per
second, and the same for the embedder alone in float32 and bfloat16 (the topic scorer and the
semantic moderation layer share one embedding per post, which is most of the cost).
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import BATCH, posts  # noqa: E402

from engagegen.network import paper_network  # noqa: E402


def main(n: int) -> None:
    console = Console()
    texts = [t for seed in range(-(-n // BATCH)) for t in posts(20_000 + seed)][:n]
    table = Table(title=f"engagegen score POSTS: {n:,} posts on this machine")
    table.add_column("what")
    table.add_column("seconds", justify="right")
    table.add_column("posts / s", justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with (folder / "posts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["author", "text"])
            writer.writerows((i % 97, t) for i, t in enumerate(texts))
        paper_network().save(folder / "net.npz")
        command = [sys.executable, "-m", "engagegen.cli", "score", str(folder / "posts.csv"),
                   "--out", str(folder / "scored.csv"), "--network", str(folder / "net.npz")]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        with (folder / "scored.csv").open(newline="", encoding="utf-8") as fh:
            rows = sum(1 for _ in csv.DictReader(fh))
        assert rows == n, f"{rows} rows written for {n} posts"
        table.add_row("[bold]the command (process start, model loads, all scorers, CSV out)", f"[bold]{wall:.1f}",
                      f"[bold]{n / wall:.0f}")
        console.print(f"the command: {wall:.1f} s for {n:,} posts ({n / wall:.0f} posts/s)")  # before the slower rows

    from engagegen.scoring import Embedder

    for precision in ("float32", "bfloat16"):
        embedder = Embedder(precision=precision, cache_size=0)
        embedder.encode(texts[:32])
        start = time.perf_counter()
        embedder.encode(texts)
        seconds = time.perf_counter() - start
        table.add_row(f"MiniLM embeddings alone, {precision}", f"{seconds:.1f}", f"{n / seconds:.0f}")
    console.print(table)
    console.print(f"embedder precision chosen by 'auto' here: {Embedder.shared().precision}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
