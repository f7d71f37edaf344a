"""The engagement models a calibration fits: their parameters, ranges, and how to build each one.

Built-in: ``bcm`` (:class:`~engagegen.engagement.NoisyBoundedConfidence`: epsilon, p, noise),
``ic`` (:class:`~engagegen.engagement.IndependentCascade`: p, epsilon) and ``lt``
(:class:`~engagegen.engagement.LinearThreshold`: epsilon), simulated by the batched kernels. Any
other model is a :class:`CustomModel`: a function from parameter values to an object meeting
:class:`~engagegen.engagement.EngagementModel`, with the range of every parameter declared.

>>> spec = CustomModel("gated-ic", lambda p: IndependentCascade(p=p, epsilon=0.3, n_runs=50), {"p": (0.0, 1.0)})
>>> spec.parameters[0].grid_size, spec.build({"p": 0.25}).p
(201, 0.25)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engagegen.calibration import _kernels
from engagegen.engagement import EngagementError, EngagementModel, IndependentCascade, LinearThreshold, NoisyBoundedConfidence

__all__ = ["Parameter", "BuiltinModel", "CustomModel", "BUILTIN_MODELS", "model_spec"]


@dataclass(frozen=True)
class Parameter:
    """A parameter searched on the lattice ``lo, lo + step, ..., hi``: ``step`` is the precision of the fit."""

    name: str
    lo: float
    hi: float
    step: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise EngagementError(f"parameter {self.name}: the range must be finite numbers lo < hi, got ({self.lo}, {self.hi})")
        if not (self.step > 0 and self.step <= self.hi - self.lo):
            raise EngagementError(f"parameter {self.name}: step must be in (0, hi - lo], got {self.step}")

    @property
    def grid_size(self) -> int:
        return int(math.floor((self.hi - self.lo) / self.step + 1e-9)) + 1

    def value(self, index: int) -> float:
        return round(min(self.lo + index * self.step, self.hi), 12)


@dataclass(frozen=True)
class BuiltinModel:
    """A built-in model: simulated by the calibration kernels (``kind``) and nameable in a run config."""

    name: str
    title: str
    parameters: tuple[Parameter, ...]
    kind: int

    def build(self, values: Mapping[str, float], n_runs: int = 256, seed: int = 0) -> EngagementModel:
        if self.kind == _kernels.BCM_NOISY:
            return NoisyBoundedConfidence(epsilon=values["epsilon"], p=values["p"], noise=values["noise"], n_runs=n_runs, seed=seed)
        if self.kind == _kernels.IC:
            return IndependentCascade(p=values["p"], epsilon=values["epsilon"], n_runs=n_runs, seed=seed)
        return LinearThreshold(epsilon=values["epsilon"], n_runs=n_runs, seed=seed)

    def kernel_params(self, values: Mapping[str, float]) -> np.ndarray:
        """The ``params`` array of the kernels (their order, padded to three)."""
        order = {_kernels.BCM_NOISY: ("epsilon", "p", "noise"), _kernels.IC: ("p", "epsilon"), _kernels.LT: ("epsilon",)}[self.kind]
        out = np.zeros(3)
        out[: len(order)] = [values[k] for k in order]
        return out

    def engagement_config(self, values: Mapping[str, float], n_runs: int = 256) -> dict[str, Any]:
        """The ``engagement`` section of a run config naming this model with these values."""
        model = {_kernels.BCM_NOISY: "bcm-noisy", _kernels.IC: "ic", _kernels.LT: "lt"}[self.kind]
        return {"model": model, **{k: float(v) for k, v in values.items()}, "n_runs": int(n_runs)}


@dataclass(frozen=True)
class CustomModel:
    """A user's model: ``factory(**values)`` returns an :class:`~engagegen.engagement.EngagementModel`.

    parameters: name -> ``(lo, hi)`` or ``(lo, hi, step)`` (step default: 1/200 of the range).
    Its marginals per user are read off ``simulate``: ``extra["activation_probability"]`` for Monte
    Carlo models, the ``active`` users otherwise.
    """

    name: str
    factory: Callable[..., Any]
    ranges: Mapping[str, tuple[float, ...]]
    title: str = ""

    def __post_init__(self) -> None:
        if not self.ranges:
            raise EngagementError(f"model {self.name!r}: declare at least one parameter with its range")
        for key, r in self.ranges.items():
            if len(r) not in (2, 3):
                raise EngagementError(f"model {self.name!r}: parameter {key!r} needs (lo, hi) or (lo, hi, step), got {r!r}")
        self.parameters  # validates the ranges

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return tuple(Parameter(k, float(r[0]), float(r[1]), float(r[2]) if len(r) == 3 else (float(r[1]) - float(r[0])) / 200)
                     for k, r in self.ranges.items())

    def build(self, values: Mapping[str, float], n_runs: int = 256, seed: int = 0) -> Any:
        model = self.factory(**values)
        if not isinstance(model, EngagementModel):
            raise EngagementError(f"model {self.name!r}: the factory returned {type(model).__name__}, which lacks simulate, "
                                  "engagement or optimum (the EngagementModel protocol)")
        return model


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "bcm": BuiltinModel("bcm", "bounded confidence with per-hop p and noise", (
        Parameter("epsilon", 0.01, 1.0, 0.01), Parameter("p", 0.01, 1.0, 0.01), Parameter("noise", 0.0, 0.1, 0.002)),
        _kernels.BCM_NOISY),
    "ic": BuiltinModel("ic", "independent cascade, opinion-gated", (
        Parameter("p", 0.01, 1.0, 0.01), Parameter("epsilon", 0.01, 2.0, 0.01)), _kernels.IC),
    "lt": BuiltinModel("lt", "linear threshold, opinion-gated", (Parameter("epsilon", 0.01, 1.0, 0.01),), _kernels.LT),
}


def model_spec(model: str | BuiltinModel | CustomModel) -> BuiltinModel | CustomModel:
    """A model by name (``bcm``, ``ic``, ``lt``) or as given."""
    if isinstance(model, (BuiltinModel, CustomModel)):
        return model
    if model not in BUILTIN_MODELS:
        raise EngagementError(f"unknown model {model!r}: the built-in models are {', '.join(BUILTIN_MODELS)} (or pass a CustomModel)")
    return BUILTIN_MODELS[model]
