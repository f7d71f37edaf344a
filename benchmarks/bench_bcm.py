"""Speed of the bounded-confidence cascade engine (engagegen.engagement.BoundedConfidenceCascade).

Run: ``.venv/bin/python benchmarks/bench_bcm.py`` (about a minute; builds a 1M-user graph).
Graphs: random directed edges (or symmetrised), uniform opinions, seeded. Numba is warmed up
before any timing; each figure is the best of a few repetitions.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

from engagegen.engagement import BoundedConfidenceCascade
from engagegen.engagement.bounded_confidence import _reference_engaged
from engagegen.network.graph import SocialNetwork

EPSILON = 0.2
MODEL = BoundedConfidenceCascade(EPSILON)


def random_network(n_users: int, n_edges: int, *, symmetric: bool, seed: int) -> SocialNetwork:
    """Uniform random edges (each undirected edge stored both ways when ``symmetric``), uniform opinions."""
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, n_users, size=(n_edges // 2 if symmetric else n_edges, 2))
    if symmetric:
        edges = np.concatenate([edges, edges[:, ::-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self-loops and duplicates dropped
        return SocialNetwork.from_edges(edges, rng.random(n_users))


def best_time(run: Callable[[], object], repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def cascade_time(net: SocialNetwork, messages: np.ndarray) -> float:
    """Mean seconds of one ``simulate`` over the given messages."""
    return best_time(lambda: [MODEL.simulate(net, 0, s) for s in messages]) / len(messages)


def main() -> None:
    console = Console(width=150)
    table = Table(title=f"Bounded-confidence cascade engine (epsilon = {EPSILON}, uniform opinions, source 0)")
    for column in ("measure", "graph", "result", "target"):
        table.add_column(column)

    def row(measure: str, graph: SocialNetwork, result: str, target: str, met: bool) -> None:
        mark = "[green]met[/]" if met else "[red]missed[/]"
        table.add_row(measure, f"{graph.n_users:,} users / {graph.n_edges:,} edges", result, f"{target} ({mark})")

    with console.status("warming up numba"):
        small = random_network(1000, 10_000, symmetric=True, seed=0)
        MODEL.simulate(small, 0, 0.5)
        MODEL.engagement(small, 0, np.linspace(0, 1, 100))
        MODEL.optimum(small, 0, method="sweep")
        MODEL.optimum(small, 0, method="search")

    with console.status("single cascade, 1M users"):
        big = random_network(1_000_000, 10_000_000, symmetric=False, seed=1)
        seconds, scanned = [], []
        for s in (0.3, 0.5, 0.7):
            seconds.append(best_time(lambda s=s, net=big: MODEL.simulate(net, 0, s)))
            active = MODEL.simulate(big, 0, s).active
            scanned.append(big.out_degree[0] + big.out_degree[active].sum())  # edges the BFS reads
        rate = sum(scanned) / sum(seconds)
        row("single cascade (simulate), edges read / s", big, f"{rate / 1e6:.0f} M/s ({np.mean(seconds) * 1e3:.0f} ms)", ">= 50 M/s", rate >= 50e6)
        del big

    with console.status("against Python sets, 20k users"):
        mid = random_network(20_000, 200_000, symmetric=False, seed=2)
        s = MODEL.optimum(mid, 0).message  # a message the source's audience takes up
        assert MODEL.simulate(mid, 0, s).active.tolist() == sorted(_reference_engaged(mid, 0, s, EPSILON))
        python = best_time(lambda: _reference_engaged(mid, 0, s, EPSILON), repeat=2)
        numba = best_time(lambda: MODEL.simulate(mid, 0, s), repeat=20)
        engaged = MODEL.simulate(mid, 0, s).engaged
        result = f"{python / numba:.0f}x ({python * 1e3:.0f} ms vs {numba * 1e3:.2f} ms, {engaged:,} engaged)"
        row("speed-up over paper-style Python sets", mid, result, ">= 100x", python / numba >= 100)

    graphs = {
        "directed": random_network(100_000, 1_000_000, symmetric=False, seed=3),
        "symmetric": random_network(100_000, 1_000_000, symmetric=True, seed=4),
    }
    probe = np.linspace(0.05, 0.95, 19)
    with console.status("batched engagement, 100k users"):
        net = graphs["directed"]
        messages = np.random.default_rng(5).random(1024)
        loop = cascade_time(net, messages[:128])
        batch = best_time(lambda: MODEL.engagement(net, 0, messages)) / len(messages)
        row("batched engagement, 1024 messages: per-message speed-up", net, f"{loop / batch:.1f}x ({batch * 1e6:.0f} us vs {loop * 1e6:.0f} us)", ">= 5x", loop / batch >= 5)

    for kind, net in graphs.items():
        for method in (("sweep", "search") if kind == "symmetric" else ("search",)):
            with console.status(f"optimum, {kind}, {method}"):
                one = cascade_time(net, probe)
                seconds = best_time(lambda net=net, method=method: MODEL.optimum(net, 0, method=method))
                opt = MODEL.optimum(net, 0, method=method)
                cost = seconds / one
                row(
                    f"exact optimum, {kind}, {method} (value {opt.value:g}, {len(opt.intervals)} interval(s))",
                    net,
                    f"{seconds:.2f} s = {cost:.0f} cascades of {one * 1e3:.1f} ms",
                    "<= ~200 cascades",
                    cost <= 200,
                )
            with console.status(f"near-optimal set, {kind}, {method}"):
                seconds = best_time(lambda net=net, method=method: MODEL.near_optimal(net, 0, 0.9, method=method))
                near = MODEL.near_optimal(net, 0, 0.9, method=method)
                row(
                    f"90%-of-optimum set, {kind}, {method} ({len(near)} interval(s), width {sum(iv.width for iv in near):.3f})",
                    net,
                    f"{seconds:.2f} s = {seconds / one:.0f} cascades",
                    "<= ~500 cascades",
                    seconds / one <= 500,
                )
    console.print(table)


if __name__ == "__main__":
    main()
