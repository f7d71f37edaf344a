"""Calibration: parameter recovery on planted networks, and the time to calibrate three models at scale.

    .venv/bin/python benchmarks/bench_calibration.py                 # both parts
    .venv/bin/python benchmarks/bench_calibration.py --part recovery # the recovery table of docs/calibration.md
    .venv/bin/python benchmarks/bench_calibration.py --part speed    # 10,000 cascades, 100,000 users, 3 models, 5 folds

Recovery: for each built-in model, ``--cascades`` cascades are simulated with known parameters on a
planted-partition network of ``--users`` users (engagegen.calibration.simulate_cascades: authors
uniform among users with out-edges, posts at the author's opinion plus N(0, 0.1) noise, posts
nobody engaged with left out), and all three models are calibrated on them with 5-fold
cross-validation and the network's opinions. The table shows each fit, the held-out log-loss of
every model (nats per cascade) and whether the true model ranks best and its parameters land
within epsilon +- 0.02 and p +- 0.05.

Speed: the same on 10,000 cascades of the noisy bounded-confidence model over a 100,000-user
planted network, default calibration settings (opinions from the network: the cascades mode
repeats every search per fold). Times are wall-clock on whatever machine runs this; nothing asserts.
"""

from __future__ import annotations

import argparse
import time

import numba
from rich.console import Console
from rich.table import Table

from engagegen.calibration import Calibrator, simulate_cascades
from engagegen.network import planted_partition_network

TRUTH = {
    "bcm": {"epsilon": 0.2, "p": 0.2, "noise": 0.01},
    "ic": {"p": 0.2, "epsilon": 0.3},
    "lt": {"epsilon": 0.3},
}
TOLERANCE = {"epsilon": 0.02, "p": 0.05}


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in values.items())


def recovery(console: Console, users: int, cascades: int, folds: int) -> None:
    net = planted_partition_network(users, avg_degree=10, seed=1)
    table = Table(title=f"parameter recovery: {cascades:,} cascades per model, planted network of {users:,} users, "
                        f"{folds}-fold cross-validation")
    for column in ("true model", "true parameters", "fit: bcm", "fit: ic", "fit: lt", "held-out log-loss bcm / ic / lt",
                   "best", "within tolerance", "seconds"):
        table.add_column(column)
    for name, values in TRUTH.items():
        data = simulate_cascades(net, name, values, cascades, seed=5)
        start = time.perf_counter()
        result = Calibrator(("bcm", "ic", "lt"), folds=folds, opinions="network").fit(net, data)
        seconds = time.perf_counter() - start
        fits = {m.name: m for m in result.models}
        own = fits[name].values
        ok = all(abs(own[k] - v) <= TOLERANCE[k] for k, v in values.items() if k in TOLERANCE)
        table.add_row(name, _fmt(values), *(_fmt(fits[m].values) for m in ("bcm", "ic", "lt")),
                      " / ".join(f"{fits[m].heldout_log_loss:.2f}" for m in ("bcm", "ic", "lt")), result.best.name,
                      "yes" if ok and result.best.name == name else "NO", f"{seconds:.0f}")
        console.print(f"{name}: median cascade {float(sorted(data.sizes)[len(data) // 2]):g}, mean {data.sizes.mean():.1f} users")
    console.print(table)


def speed(console: Console, users: int, cascades: int, folds: int) -> None:
    start = time.perf_counter()
    net = planted_partition_network(users, avg_degree=10, seed=1)
    values = {"epsilon": 0.2, "p": 0.08, "noise": 0.005}
    data = simulate_cascades(net, "bcm", values, cascades, seed=5)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    result = Calibrator(("bcm", "ic", "lt"), folds=folds, opinions="network").fit(net, data)
    total = time.perf_counter() - start
    table = Table(title=f"calibration time: {cascades:,} cascades (median {float(sorted(data.sizes)[len(data) // 2]):g}, "
                        f"mean {data.sizes.mean():.1f} users) over {users:,} users, {net.n_edges:,} edges, {folds}-fold, "
                        f"{numba.get_num_threads()} threads")
    for column in ("model", "fit", "held-out log-loss", "ROC-AUC", "points scored", "seconds"):
        table.add_column(column)
    for m in result.models:
        table.add_row(m.name, _fmt(m.values), f"{m.heldout_log_loss:.2f}", f"{m.validation.metrics['roc_auc']:.3f}",
                      ", ".join(f"{k} {v}" for k, v in m.evaluations.items()), f"{m.seconds:.0f}")
    table.add_row("all three (with baselines)", "", "", "", "", f"{total:.0f}")
    console.print(table)
    console.print(f"truth: bcm {_fmt(values)}; network and cascades made in {setup:.0f} s (not counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("recovery", "speed", "all"), default="all")
    parser.add_argument("--users", type=int, default=3000, help="users of the recovery network")
    parser.add_argument("--cascades", type=int, default=1000, help="cascades per model for recovery")
    parser.add_argument("--speed-users", type=int, default=100_000)
    parser.add_argument("--speed-cascades", type=int, default=10_000)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    console = Console(width=200)
    if args.part in ("recovery", "all"):
        recovery(console, args.users, args.cascades, args.folds)
    if args.part in ("speed", "all"):
        speed(console, args.speed_users, args.speed_cascades, args.folds)


if __name__ == "__main__":
    main()
