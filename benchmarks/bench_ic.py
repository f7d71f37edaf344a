"""Independent cascade: engagegen vs NDlib vs CyNetDiff on the same graph, probability and number of runs.

    .venv/bin/pip install ndlib cynetdiff six      # six: NDlib imports it without declaring it
    .venv/bin/python benchmarks/bench_ic.py --users 20000 --runs 200 --p 0.01 --p 0.05

The graph is a Barabasi-Albert graph (every edge both ways); the source is its best-connected user.
Every library runs ``--runs`` cascades; engagegen and CyNetDiff are timed as the best of
``--repeats`` passes (NDlib, being slow, once). Setup (graph conversion, numba compilation) is not
timed. All three report the mean number of engaged users (the source excluded) with a 95% interval,
so their agreement can be checked. CyNetDiff is single-threaded; engagegen is shown on one thread
and on every thread numba has.
"""

from __future__ import annotations

import argparse
import array
import time
from dataclasses import dataclass
from typing import Callable

import networkx as nx
import numba
import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from engagegen.engagement import IndependentCascade
from engagegen.network.graph import SocialNetwork


@dataclass
class Measurement:
    library: str
    seconds: float
    mean: float
    half_width: float  # of the 95% interval of the mean


def best_time(run: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def summary(library: str, seconds: float, engaged: np.ndarray) -> Measurement:
    half = 1.96 * engaged.std(ddof=1) / np.sqrt(len(engaged)) if len(engaged) > 1 else float("nan")
    return Measurement(library, seconds, float(engaged.mean()), float(half))


def run_engagegen(net: SocialNetwork, source: int, p: float, runs: int, seed: int, threads: int, repeats: int) -> Measurement:
    model = IndependentCascade(p=p, n_runs=runs, seed=seed)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        model.engagement(net, source, 0.5)  # compile (or load the cache) before timing
        seconds, _ = best_time(lambda: model.engagement(net, source, 0.5), repeats)
    finally:
        numba.set_num_threads(previous)
    cascade = model.simulate(net, source, 0.5)  # the same runs, with their spread
    half = float("nan") if cascade.ci is None else cascade.ci[1] - cascade.engaged
    return Measurement(f"engagegen ({threads} thread{'s' if threads > 1 else ''})", seconds, cascade.engaged, half)


def run_cynetdiff(net: SocialNetwork, source: int, p: float, runs: int, seed: int, repeats: int) -> Measurement:
    from cynetdiff.models import IndependentCascadeModel

    model = IndependentCascadeModel(
        array.array("I", net.indptr.astype(np.uint32)), array.array("I", net.indices.astype(np.uint32)),
        activation_prob=p, rng=seed,
    )
    model.set_seeds([source])

    def cascades() -> np.ndarray:
        # CyNetDiff's own C loop over runs gives only the mean; this Python loop gives the spread.
        out = np.empty(runs)
        for r in range(runs):
            model.reset_model()
            model.advance_until_completion()
            out[r] = model.get_num_activated_nodes() - 1
        return out

    seconds, _ = best_time(lambda: np.array(model.compute_marginal_gains([source], [], runs)), repeats)
    _, engaged = best_time(cascades, 1)
    return summary("CyNetDiff (C loop)", seconds, engaged)


def run_ndlib(net: SocialNetwork, source: int, p: float, runs: int, seed: int) -> Measurement:
    import ndlib.models.epidemics as ep
    from ndlib.models.ModelConfig import Configuration

    graph = nx.DiGraph(net.edges().tolist())
    graph.add_nodes_from(range(net.n_users))
    model = ep.IndependentCascadesModel(graph, seed=seed)
    config = Configuration()
    config.add_model_initial_configuration("Infected", [source])
    for edge in graph.edges():
        config.add_edge_configuration("threshold", edge, p)
    model.set_initial_status(config)
    engaged = np.empty(runs)
    start = time.perf_counter()
    for r in track(range(runs), description=f"NDlib, p={p}", transient=True):
        model.reset()
        model.iteration(node_status=False)  # iteration 0 only reports the seeds
        while True:
            counts = model.iteration(node_status=False)["node_count"]
            if counts[1] == 0:  # nobody left to spread
                break
        engaged[r] = counts[2] - 1
    return summary("NDlib", time.perf_counter() - start, engaged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--attach", type=int, default=5, help="Barabasi-Albert edges per new user")
    parser.add_argument("--p", type=float, action="append", help="activation probability (repeatable)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-ndlib", action="store_true")
    args = parser.parse_args()
    probabilities = args.p or [0.01, 0.05]

    console = Console(width=max(Console().width, 110))
    base = nx.barabasi_albert_graph(args.users, args.attach, seed=args.seed)
    edges = np.array(base.edges())
    net = SocialNetwork.from_edges(np.vstack([edges, edges[:, ::-1]]), np.full(args.users, 0.5))
    source = int(np.argmax(net.out_degree))
    console.print(f"{net}, source {source} (out-degree {net.out_degree[source]}), {args.runs} runs per library, "
                  f"numba threads {numba.get_num_threads()}")

    table = Table(title=f"Independent cascade, {args.runs} runs: runs per second")
    for column in ("p", "library", "runs/s", "engaged (mean ± 95%)", "engagegen speedup, 1 thread", "all threads"):
        table.add_column(column, justify="left" if column == "library" else "right")
    for p in probabilities:
        ours = [run_engagegen(net, source, p, args.runs, args.seed, threads, args.repeats)
                for threads in sorted({1, numba.config.NUMBA_NUM_THREADS})]
        others = [run_cynetdiff(net, source, p, args.runs, args.seed, args.repeats)]
        if not args.skip_ndlib:
            others.append(run_ndlib(net, source, p, args.runs, args.seed))
        for m in ours + others:
            speedups = ("", "") if m in ours else (f"{m.seconds / ours[0].seconds:,.1f}x", f"{m.seconds / ours[-1].seconds:,.1f}x")
            table.add_row(f"{p:g}", m.library, f"{args.runs / m.seconds:,.0f}", f"{m.mean:.1f} ± {m.half_width:.1f}", *speedups)
        table.add_section()
    console.print(table)


if __name__ == "__main__":
    main()
