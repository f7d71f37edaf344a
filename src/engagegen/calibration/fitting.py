"""Fitting engagement models to observed cascades, cross-validated over cascades.

:class:`Calibrator` fits every model by minimising its score (:mod:`~engagegen.calibration.likelihood`)
summed over the training cascades of each of ``folds`` folds, scores the held-out cascades at the
fold's fit, validates the forecasts against the baselines (:mod:`~engagegen.calibration.baselines`),
and fits once more on all cascades: the parameters to train against.

The search (:func:`~engagegen.calibration.search.lattice_search`) runs in two stages: a coarse
grid and compass search on at most ``coarse_cascades`` training cascades with ``coarse_runs``
Monte Carlo runs, then the compass search on at most ``fit_cascades`` training cascades with
``n_runs`` runs (a random subset: the cost of a score is runs times the cascades' sizes, and a
thousand cascades pin the built-in models' parameters down to the lattice step; every held-out
cascade is still scored and validated). With the network's own opinions every fold scores the same
cascades the same way, so both subsets are drawn once from all cascades, their scores computed
once per parameter point and shared by the folds (each sums its training cascades among them);
with opinions read off the training cascades each fold draws and scores its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from engagegen.calibration.baselines import BASELINES, ReachStats, baseline_accumulators
from engagegen.calibration.cascades import CascadeError, ObservedCascades
from engagegen.calibration.likelihood import Scorer
from engagegen.calibration.metrics import Accumulator, sparse_levels, top_set_jaccard
from engagegen.calibration.models import BuiltinModel, CustomModel, model_spec
from engagegen.calibration.opinions import CascadeOpinions, opinions_from_cascades
from engagegen.calibration.search import coarse_steps, lattice_search
from engagegen.network.graph import SocialNetwork

__all__ = ["Calibrator", "CalibrationResult", "ModelFit", "ForecastSummary"]

SCORES = ("log", "brier")


@dataclass
class ForecastSummary:
    """One forecaster's held-out validation: metrics, ROC curve, calibration bins, sizes."""

    name: str
    metrics: dict[str, float]
    roc: tuple[np.ndarray, np.ndarray]
    calibration: list[dict[str, float]]
    observed_sizes: np.ndarray
    predicted_sizes: np.ndarray

    @classmethod
    def of(cls, name: str, acc: Accumulator) -> "ForecastSummary":
        return cls(name, acc.metrics(), acc.roc(), acc.calibration(), np.array(acc.observed_sizes), np.array(acc.predicted_sizes))


@dataclass
class ModelFit:
    """A model's fit on all cascades (``values``), per fold, and its cross-validated scores.

    heldout_log_loss / heldout_brier: per cascade, each cascade scored at the fit of the fold it
    was held out of (with ``validation_runs`` runs). evaluations: parameter points scored per stage.
    """

    name: str
    title: str
    values: dict[str, float]
    fold_values: list[dict[str, float]]
    heldout_log_loss: float
    heldout_brier: float
    validation: ForecastSummary
    evaluations: dict[str, int]
    seconds: float
    spec: BuiltinModel | CustomModel = field(repr=False)

    def fold_spread(self) -> dict[str, float]:
        """Standard deviation of each parameter over the folds' fits."""
        return {k: float(np.std([v[k] for v in self.fold_values])) for k in self.values}


@dataclass
class CalibrationResult:
    """Fits, baselines and settings of one calibration; ``best`` has the lowest held-out score."""

    models: list[ModelFit]
    baselines: list[ForecastSummary]
    score: str
    settings: dict[str, Any]
    opinions: np.ndarray | None
    n_cascades: int
    n_users: int

    @property
    def best(self) -> ModelFit:
        key = "heldout_log_loss" if self.score == "log" else "heldout_brier"
        return min(self.models, key=lambda m: getattr(m, key))

    def table(self) -> list[dict[str, Any]]:
        """One row per model and baseline: held-out validation metrics side by side."""
        rows = []
        for m in self.models:
            rows.append({"forecaster": m.name, "kind": "model", "parameters": _fmt(m.values), **m.validation.metrics,
                         "heldout_log_loss_fit": m.heldout_log_loss, "heldout_brier_fit": m.heldout_brier})
        for b in self.baselines:
            rows.append({"forecaster": b.name, "kind": "baseline", "parameters": "", **b.metrics})
        return rows


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in values.items())


@dataclass
class _Context:
    """What one fold (or the final fit) scores with: its scorer, training and test cascades."""

    scorer: Scorer
    train: np.ndarray
    test: np.ndarray
    opinions: np.ndarray
    overrides: np.ndarray
    caches: dict[tuple, dict] = field(default_factory=dict)


class Calibrator:
    """Fit engagement models to observed cascades and validate them on held-out cascades.

    models: names (``bcm``, ``ic``, ``lt``) or :class:`~engagegen.calibration.models.CustomModel`.
    folds: cross-validation folds over cascades (>= 2). score: ``log`` (log-loss, default) or
    ``brier`` (both strictly proper; see :mod:`engagegen.calibration.likelihood`).
    n_runs / coarse_runs: Monte Carlo runs per cascade of the fine and coarse search stages;
    fit_cascades / coarse_cascades: the training cascades each stage uses at most. validation_runs: runs
    of the held-out forecasts. opinions: ``network`` (the network's opinions) or ``cascades``
    (read off the training cascades, :mod:`~engagegen.calibration.opinions`), with ``missing``
    (``neutral`` or ``mean``) for users who engaged with nothing and the prior. min_size: the
    smallest cascade the data can hold (1: posts nobody engaged with are not in it); forecasts
    are conditioned on it. seed: folds and Monte Carlo runs.
    """

    def __init__(self, models: Sequence[str | BuiltinModel | CustomModel] = ("bcm", "ic", "lt"), *, folds: int = 5,
                 score: Literal["log", "brier"] = "log", n_runs: int = 64, coarse_runs: int = 16, coarse_cascades: int = 300,
                 fit_cascades: int = 1000, validation_runs: int = 100, opinions: Literal["network", "cascades"] = "network",
                 missing: Literal["neutral", "mean"] = "mean", prior_mean: float = 0.5, prior_weight: float = 1.0, min_size: int = 1,
                 seed: int = 0, progress: bool = False) -> None:
        self.models = [model_spec(m) for m in models]
        names = [m.name for m in self.models]
        if not names or len(set(names)) != len(names):
            raise CascadeError(f"models must be distinct and at least one, got {names}")
        for name, value, low in (("folds", folds, 2), ("n_runs", n_runs, 2), ("coarse_runs", coarse_runs, 2),
                                 ("coarse_cascades", coarse_cascades, 1), ("fit_cascades", fit_cascades, 1),
                                 ("validation_runs", validation_runs, 2),
                                 ("min_size", min_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise CascadeError(f"{name} must be an integer >= {low}, got {value!r}")
        if score not in SCORES:
            raise CascadeError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
        if opinions not in ("network", "cascades"):
            raise CascadeError(f"opinions must be 'network' or 'cascades', got {opinions!r}")
        if missing not in ("neutral", "mean"):
            raise CascadeError(f"missing must be 'neutral' or 'mean' (users who engaged with nothing), got {missing!r}")
        self.folds, self.score, self.n_runs = folds, score, n_runs
        self.coarse_runs, self.coarse_cascades, self.validation_runs = coarse_runs, coarse_cascades, validation_runs
        self.fit_cascades = fit_cascades
        self.opinions, self.missing, self.prior_mean, self.prior_weight = opinions, missing, prior_mean, prior_weight
        self.min_size, self.seed, self.progress = min_size, seed, progress

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("folds", "score", "n_runs", "coarse_runs", "coarse_cascades", "fit_cascades", "validation_runs",
                                              "opinions", "missing", "prior_mean", "prior_weight", "min_size", "seed")}

    # ------------------------------------------------------------------ set-up
    def _check(self, network: SocialNetwork, cascades: ObservedCascades) -> None:
        if cascades.n_users != network.n_users:
            raise CascadeError(f"{cascades.path}: read over {cascades.n_users} users, the network has {network.n_users}")
        if np.isnan(cascades.messages).any():
            c = int(np.flatnonzero(np.isnan(cascades.messages))[0])
            raise CascadeError(f"{cascades.where(c)}: no opinion value; score the posts' texts first (ObservedCascades.with_messages)")
        small = np.flatnonzero(cascades.sizes < self.min_size)
        if len(small):
            raise CascadeError(f"{cascades.where(int(small[0]))}: {int(cascades.sizes[small[0]])} engaged users, fewer than "
                               f"min_size={self.min_size} ({len(small)} such cascades)")
        if len(cascades) < self.folds:
            raise CascadeError(f"{len(cascades)} cascades cannot be split into {self.folds} folds")

    def _context(self, network: SocialNetwork, cascades: ObservedCascades, train: np.ndarray, test: np.ndarray,
                 shared: Scorer | None) -> _Context:
        if self.opinions == "network":
            assert shared is not None
            return _Context(shared, train, test, network.opinions, shared.overrides)
        ops: CascadeOpinions = opinions_from_cascades(cascades, subset=train, prior_mean=self.prior_mean, prior_weight=self.prior_weight)
        x = ops.filled(self.missing)
        overrides = ops.leave_one_out(cascades, self.missing)
        return _Context(self._scorer(network, cascades, x, overrides), train, test, x, overrides)

    def _scorer(self, network: SocialNetwork, cascades: ObservedCascades, opinions: np.ndarray, overrides: np.ndarray | None) -> Scorer:
        # The background of every forecast: one user in n - 1 at random per cascade, a rate the
        # data do not set, so no fold sees another's base rate through it.
        return Scorer(network, cascades, opinions, overrides, base_rate=1.0 / max(network.n_users - 1, 1), min_size=self.min_size,
                      seed=self.seed)

    # ------------------------------------------------------------------ fitting
    def _objective(self, ctx: _Context, spec: BuiltinModel | CustomModel, pool: np.ndarray, runs: int, stage: str):
        """Sum of the score over ``ctx.train`` within ``pool``; per-cascade scores cached by point."""
        cache = ctx.caches.setdefault((spec.name, stage), {})
        position = {int(c): i for i, c in enumerate(pool.tolist())}
        rows = np.array([position[c] for c in np.intersect1d(ctx.train, pool).tolist()], dtype=np.int64)
        column = 0 if self.score == "brier" else 1

        def score(values: dict[str, float]) -> float:
            key = tuple(values.values())
            if key not in cache:
                cache[key] = np.stack(ctx.scorer.scores(spec, values, pool, runs)[:2])
            return float(cache[key][column, rows].sum())

        return score

    def _pool(self, ctx: _Context, n: int, size: int, salt: int) -> np.ndarray:
        """A random subset of ``size`` cascades: of all (shared by the folds) or of the fold's training ones."""
        candidates = np.arange(n) if self.opinions == "network" else ctx.train
        return np.sort(np.random.default_rng([self.seed, salt]).permutation(candidates)[:size])

    def _fit(self, ctx: _Context, spec: BuiltinModel | CustomModel, n: int) -> dict[str, float]:
        points = 9 if len(spec.parameters) <= 2 else 5
        steps = coarse_steps(spec.parameters, points)
        coarse_pool = self._pool(ctx, n, self.coarse_cascades, 1)
        coarse, _, _ = lattice_search(self._objective(ctx, spec, coarse_pool, self.coarse_runs, "coarse"), spec.parameters,
                                          points=points, min_step=max(1, min(steps) // 4))
        fine_pool = self._pool(ctx, n, self.fit_cascades, 2)
        best, _, _ = lattice_search(self._objective(ctx, spec, fine_pool, self.n_runs, "fine"), spec.parameters, start=coarse,
                                    steps=[max(1, s // 4) for s in steps])
        return best

    def _validate(self, ctx: _Context, spec: BuiltinModel | CustomModel, values: dict[str, float], acc: Accumulator,
                  cascades: ObservedCascades, n_users: int) -> None:
        for c, m in zip(ctx.test.tolist(), ctx.scorer.marginals(spec, values, ctx.test, self.validation_runs)):
            observed = cascades.engaged(c)
            acc.add_levels(*sparse_levels(m.users, m.q, m.q0, observed, n_users - 1))
            acc.add_cascade(observed_size=len(observed), predicted_size=m.size, jaccard=top_set_jaccard(m.users, m.q, m.size, observed))

    def fit(self, network: SocialNetwork, cascades: ObservedCascades) -> CalibrationResult:
        """Calibrate every model on ``cascades`` over ``network`` (see the class docstring)."""
        self._check(network, cascades)
        n = len(cascades)
        order = np.random.default_rng(self.seed).permutation(n)
        tests = [np.sort(part) for part in np.array_split(order, self.folds)]
        everything = np.arange(n)
        shared = self._scorer(network, cascades, network.opinions, None) if self.opinions == "network" else None
        contexts = [self._context(network, cascades, np.setdiff1d(everything, t), t, shared) for t in tests]
        final = self._context(network, cascades, everything, np.empty(0, np.int64), shared)
        if shared is not None:  # one scorer: the folds share its scores too
            for ctx in contexts:
                ctx.caches = final.caches

        reach = ReachStats(network, cascades)
        base = {name: Accumulator() for name in BASELINES}
        for ctx in contexts:
            for name, acc in baseline_accumulators(network, cascades, reach, ctx.train, ctx.test, ctx.opinions, ctx.overrides).items():
                _merge(base[name], acc)

        fits = []
        progress = _progress(self.progress)
        with progress:
            task = progress.add_task("calibrating", total=len(self.models) * (self.folds + 1))
            for spec in self.models:
                start = time.perf_counter()
                fold_values, heldout, acc = [], np.zeros((2, n)), Accumulator()
                for f, ctx in enumerate(contexts):
                    progress.update(task, description=f"{spec.name}: fold {f + 1} of {self.folds}")
                    values = self._fit(ctx, spec, n)
                    fold_values.append(values)
                    heldout[:, ctx.test] = np.stack(ctx.scorer.scores(spec, values, ctx.test, self.validation_runs)[:2])
                    self._validate(ctx, spec, values, acc, cascades, network.n_users)
                    progress.advance(task)
                progress.update(task, description=f"{spec.name}: all cascades")
                values = self._fit(final, spec, n)
                progress.advance(task)
                fits.append(ModelFit(spec.name, getattr(spec, "title", "") or spec.name, values, fold_values,
                                     float(heldout[1].mean()), float(heldout[0].mean()), ForecastSummary.of(spec.name, acc),
                                     _evaluations(spec.name, [final, *contexts]), time.perf_counter() - start, spec))
        opinions = final.opinions if self.opinions == "cascades" else None
        return CalibrationResult(fits, [ForecastSummary.of(name, acc) for name, acc in base.items()], self.score, self.settings(),
                                 opinions, n, network.n_users)


def _evaluations(name: str, contexts: list[_Context]) -> dict[str, int]:
    """Parameter points scored per search stage (each once, however many folds shared it)."""
    out: dict[str, int] = {}
    for caches in {id(c.caches): c.caches for c in contexts}.values():
        for (model, stage), cache in caches.items():
            if model == name:
                out[stage] = out.get(stage, 0) + len(cache)
    return out


def _merge(into: Accumulator, other: Accumulator) -> None:
    for name in ("q", "pos", "neg", "observed_sizes", "predicted_sizes", "jaccards"):
        getattr(into, name).extend(getattr(other, name))


def _progress(show: bool) -> Any:
    from rich.progress import Progress

    return Progress(transient=True, disable=not show)


