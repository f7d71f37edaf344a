"""Timings of the network layer on a large graph: generate, write/read an edge list, statistics, placement.

    .venv/bin/python benchmarks/network_bench.py --users 1000000 --avg-degree 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
from rich.console import Console
from rich.table import Table

from engagegen.network import betweenness, load_edgelist, network_stats, place_agent, planted_partition_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--avg-degree", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=64, help="sampled sources of the betweenness estimate")
    args = parser.parse_args()
    timings: list[tuple[str, float, str]] = []

    def timed(label: str, fn, describe=lambda r: ""):
        start = time.perf_counter()
        result = fn()
        timings.append((label, time.perf_counter() - start, describe(result)))
        return result

    net = timed("planted_partition_network", lambda: planted_partition_network(args.users, args.avg_degree, seed=1), repr)
    with tempfile.TemporaryDirectory() as folder:
        edges, opinions = Path(folder) / "edges.txt", Path(folder) / "opinions.csv"
        e = net.edges()
        pcsv.write_csv(pa.table({"source": e[:, 0], "target": e[:, 1]}), edges,
                       pcsv.WriteOptions(include_header=False, delimiter=" "))
        pcsv.write_csv(pa.table({"node": np.arange(net.n_users), "opinion": net.opinions}), opinions)
        timed("load_edgelist (ints, blanks)", lambda: load_edgelist(edges, opinions), repr)
    timed("network_stats", lambda: network_stats(net))
    timed("betweenness, 1 sampled source", lambda: betweenness(net, k=1, seed=0))
    timed(f"place_agent central (k={args.samples})", lambda: place_agent(net, "central", k=args.samples, exact_limit=0),
          lambda u: f"user {u}")

    table = Table(title=f"network layer, {args.users:,} users")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    for label, seconds, text in timings:
        table.add_row(label, f"{seconds:.2f}", text)
    Console().print(table)


if __name__ == "__main__":
    main()
