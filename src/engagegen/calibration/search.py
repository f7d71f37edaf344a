"""Minimising a score over a box of parameters on a lattice: a coarse grid, then a compass search.

Every parameter lives on its lattice ``lo, lo + step, ..., hi``. Without a starting point the
search scores a coarse product grid (``points`` values per parameter, evenly spread over its
range) and starts from the best. Then, compass search: try one step up and one step down along
each parameter, move whenever the score drops, and halve a step only after a round that moved
nothing, until every step is ``min_step`` lattice units. Keeping the steps while moves succeed
lets the search travel along curved valleys (the independent cascade's p and epsilon trade off).
Scores are cached by lattice point. Monte Carlo scores with common random numbers are
deterministic functions of the parameters, so the search is reproducible.

>>> from engagegen.calibration.models import Parameter
>>> best, score, _ = lattice_search(lambda v: (v["a"] - 0.3) ** 2 + (v["b"] - 0.7) ** 2,
...                                 (Parameter("a", 0.0, 1.0, 0.01), Parameter("b", 0.0, 1.0, 0.01)))
>>> best
{'a': 0.3, 'b': 0.7}
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from engagegen.calibration.models import Parameter

__all__ = ["lattice_search", "coarse_steps"]

Point = tuple[int, ...]


def coarse_steps(parameters: Sequence[Parameter], points: int) -> list[int]:
    """The spacing, in lattice units, of a grid of ``points`` values per parameter."""
    return [max(1, (p.grid_size - 1) // (points - 1)) for p in parameters]


def lattice_search(score: Callable[[dict[str, float]], float], parameters: Sequence[Parameter], *, points: int = 5,
                   start: dict[str, float] | None = None, steps: Sequence[int] | None = None, min_step: int = 1,
                   cache: dict[Point, float] | None = None) -> tuple[dict[str, float], float, dict[Point, float]]:
    """The lattice point of lowest ``score`` found, its score, and every point scored.

    start: where the compass search begins (default: the best point of the coarse grid);
    steps: its first step per parameter in lattice units (default: the coarse grid's spacing).
    """
    sizes = [p.grid_size for p in parameters]
    seen: dict[Point, float] = {} if cache is None else cache

    def values(point: Point) -> dict[str, float]:
        return {p.name: p.value(i) for p, i in zip(parameters, point)}

    def at(point: Point) -> float:
        if point not in seen:
            seen[point] = float(score(values(point)))
        return seen[point]

    if start is None:
        axes = [np.unique(np.round(np.linspace(0, n - 1, points)).astype(int)).tolist() for n in sizes]
        current = list(min(itertools.product(*axes), key=lambda point: at(tuple(point))))
    else:
        current = [int(np.clip(round((start[p.name] - p.lo) / p.step), 0, n - 1)) for p, n in zip(parameters, sizes)]
    widths = list(steps) if steps is not None else coarse_steps(parameters, points)
    widths = [max(min_step, w) for w in widths]
    best = at(tuple(current))
    while True:
        moved = False
        for i, n in enumerate(sizes):
            for j in (current[i] - widths[i], current[i] + widths[i]):
                if not 0 <= j < n:
                    continue
                trial = list(current)
                trial[i] = j
                value = at(tuple(trial))
                if value < best:
                    best, current, moved = value, trial, True
                    break
        if not moved:
            if all(w <= min_step for w in widths):
                return values(tuple(current)), best, seen
            widths = [max(min_step, w // 2) for w in widths]
