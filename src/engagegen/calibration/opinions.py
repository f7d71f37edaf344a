"""Each user's opinion read off the posts they engaged with: a smoothed mean with a documented prior.

A user who engaged with posts of opinion values s_1..s_k gets

    x = (prior_weight * prior_mean + s_1 + ... + s_k) / (prior_weight + k)

the posterior mean of a normal model with the prior worth ``prior_weight`` posts at
``prior_mean`` (default: one post at the neutral 0.5, so one engagement with s = 0.9 reads as 0.7,
ten as 0.86). Users who engaged with nothing get the ``missing`` policy of ``engagegen opinions``:
``error`` (name them), ``neutral`` (0.5) or ``mean`` (the mean opinion of the users who have one).

Calibration reads opinions from the training cascades only, and a training cascade is simulated
with its own engagements taken out of its users' opinions (:meth:`CascadeOpinions.leave_one_out`),
so no cascade is predicted from opinions that saw it.

>>> import numpy as np
>>> from engagegen.calibration.cascades import ObservedCascades
>>> c = ObservedCascades(np.array(["a", "b"]), np.array([0, 0]), np.array([0.9, 0.7]), (None, None),
...                      np.array([0, 2, 3]), np.array([1, 2, 1]), np.full(3, np.nan), np.full(3, -1),
...                      np.full(2, np.nan), np.array([1, 2]), 4)
>>> ops = opinions_from_cascades(c)
>>> ops.counts.tolist(), ops.opinion.round(3).tolist()
([0.0, 2.0, 1.0, 0.0], [nan, 0.7, 0.7, nan])
>>> ops.filled("neutral").round(3).tolist()
[0.5, 0.7, 0.7, 0.5]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from engagegen.calibration.cascades import CascadeError, ObservedCascades

__all__ = ["CascadeOpinions", "opinions_from_cascades", "MISSING_POLICIES", "PRIOR_MEAN", "PRIOR_WEIGHT"]

MISSING_POLICIES = ("error", "neutral", "mean")
PRIOR_MEAN = 0.5
PRIOR_WEIGHT = 1.0
NEUTRAL = 0.5
_SHOWN = 10


@dataclass(frozen=True)
class CascadeOpinions:
    """Sums and counts of the opinion values each user engaged with, and the smoothed opinions.

    sums/counts: per user (0..n-1) over the cascades used; used: which cascades (a mask).
    """

    sums: np.ndarray
    counts: np.ndarray
    prior_mean: float
    prior_weight: float
    used: np.ndarray

    @property
    def has_opinion(self) -> np.ndarray:
        return self.counts > 0

    @property
    def opinion(self) -> np.ndarray:
        """The smoothed mean of every user who engaged with something, NaN for the others."""
        with np.errstate(invalid="ignore"):
            value = (self.prior_weight * self.prior_mean + self.sums) / (self.prior_weight + self.counts)
        return np.where(self.has_opinion, value, np.nan)

    def fill_value(self, missing: str) -> float:
        """What a user without engagements gets under ``missing`` (``neutral`` or ``mean``)."""
        if missing == "neutral":
            return NEUTRAL
        if missing == "mean":
            if not self.has_opinion.any():
                raise CascadeError("no user engaged with any post: there is no mean opinion to fill in")
            return float(np.mean(self.opinion[self.has_opinion]))
        raise CascadeError(f"missing must be 'neutral' or 'mean' to fill in opinions, got {missing!r}")

    def filled(self, missing: Literal["error", "neutral", "mean"] = "error", names: np.ndarray | None = None) -> np.ndarray:
        """One opinion per user; users who engaged with nothing get the ``missing`` policy. With
        ``error`` they stop it, named (by ``names``, the network's user ids, when given)."""
        if missing not in MISSING_POLICIES:
            raise CascadeError(f"missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
        lack = np.flatnonzero(~self.has_opinion)
        if missing == "error" and len(lack):
            shown = ", ".join(str(names[u] if names is not None else u) for u in lack[:_SHOWN].tolist())
            raise CascadeError(
                f"{len(lack)} of {len(self.counts)} users engaged with no post, so they have no opinion: {shown}"
                f"{', ...' if len(lack) > _SHOWN else ''}. Choose a fill policy (missing=, --missing): 'neutral' "
                "(opinion 0.5) or 'mean' (the mean opinion of the users who have one)"
            )
        out = self.opinion
        if len(lack):
            out[lack] = self.fill_value(missing)
        return out

    def leave_one_out(self, cascades: ObservedCascades, missing: str) -> np.ndarray:
        """For every engaged entry of ``cascades`` (aligned with ``cascades.users``): the user's
        opinion without that cascade's engagement, for the cascades these opinions were read from;
        NaN (keep the shared opinion) for the others. A user left with no engagement gets the
        ``missing`` fill value."""
        of = cascades.cascade_of
        inside = self.used[of]
        users = cascades.users
        s = cascades.messages[of]
        rest = self.counts[users] - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):  # rest == 0 without a prior: filled below
            value = (self.prior_weight * self.prior_mean + self.sums[users] - s) / (self.prior_weight + rest)
        fill = self.fill_value(missing) if (inside & (rest <= 0)).any() else math.nan
        value = np.where(rest > 0, value, fill)
        return np.where(inside, value, np.nan)


def opinions_from_cascades(cascades: ObservedCascades, *, subset: np.ndarray | None = None, prior_mean: float = PRIOR_MEAN,
                           prior_weight: float = PRIOR_WEIGHT) -> CascadeOpinions:
    """Each user's smoothed mean opinion over the posts they engaged with, from the cascades at
    ``subset`` (indices; default all: pass only the training cascades when validating)."""
    if not (isinstance(prior_mean, (int, float)) and 0.0 <= prior_mean <= 1.0):
        raise CascadeError(f"prior_mean must be an opinion in [0, 1], got {prior_mean!r}")
    if not (isinstance(prior_weight, (int, float)) and math.isfinite(prior_weight) and prior_weight >= 0):
        raise CascadeError(f"prior_weight must be a number >= 0 (posts' worth of prior), got {prior_weight!r}")
    if np.isnan(cascades.messages).any():
        raise CascadeError(f"{cascades.path}: some posts have no opinion value yet; score their texts first (with_messages)")
    used = np.zeros(len(cascades), dtype=bool)
    used[np.arange(len(cascades)) if subset is None else np.asarray(subset, dtype=np.int64)] = True
    keep = used[cascades.cascade_of]
    users = cascades.users[keep]
    values = cascades.messages[cascades.cascade_of][keep]
    n = cascades.n_users
    sums = np.bincount(users, weights=values, minlength=n).astype(np.float64)
    counts = np.bincount(users, minlength=n).astype(np.float64)
    return CascadeOpinions(sums, counts, float(prior_mean), float(prior_weight), used)
