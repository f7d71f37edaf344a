"""Friedkin-Johnsen opinion dynamics with the agent as a stubborn user, as in the authors' code.

Every user w has an inner opinion s_w and expresses z_w, the average of s_w and of what the users
who reach w express: with W row-stochastic over in-neighbours (``W[w, u] = 1 / in_degree(w)`` for
each edge ``u -> w``), z = (s + W z) / 2, so at equilibrium z = (2I - W)^-1 s. The agent is stubborn:
its row of W is zeroed (nobody influences it) and its inner opinion is the message value. Following
the authors (and Cinus et al. 2023, "Rebalancing social feed to minimize polarization and
disagreement"), inner opinions are standardised over all users (mean 0, population std 1, as
scikit-learn's StandardScaler does) before solving, and the network's state is summarised by

* polarization  P = sum_w z_w^2
* disagreement  D = 1/2 z^T (D_in + I - 2W) z, D_in the diagonal of W's column sums
  (this is 1/2 sum_{w,u} W[w, u] (z_w - z_u)^2 whenever every row of W sums to 1).

The authors trained the agent to minimise P + D (their reward was -(P + D - min)^2). An
engagement model must be maximised and non-negative, so here **engagement is the reduction of
P + D that the message achieves compared with the worst message in [0, 1]**:
``engaged(s) = max_s' (P + D)(s') - (P + D)(s)``. It ranks messages exactly as the authors'
reward does, is 0 for the worst message, and its optimum is the authors' optimum.

Edge direction: an edge ``u -> w`` means u reaches w, so u influences w. The authors' code
row-normalised ``nx.adjacency_matrix`` (u influenced by whom u points to); on their synthetic graphs
(every edge both ways) the two agree. As in their formulation, a user nobody reaches (and the
agent) keeps half its inner opinion (z_w = s_w / 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from engagegen.engagement import _stochastic_kernels as K
from engagegen.engagement.base import Cascade, EngagementError, Interval, Optimum, check_messages, check_source
from engagegen.network.graph import SocialNetwork

__all__ = ["FriedkinJohnsen"]

# StandardScaler treats a standard deviation below this as zero and then only centres the data.
_ZERO_SCALE = 10 * np.finfo(np.float64).eps
_MAX_SWEEPS = 200


def _solve(W: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """z with (2I - W) z = rhs, for each column of rhs.

    Jacobi sweeps z <- (rhs + W z) / 2: W's rows sum to at most 1, so every sweep shrinks the error
    (max norm) at least by half, and about 55 sweeps reach double precision. Memory stays O(edges),
    where a sparse LU factorisation of a hub-heavy social graph can fill in badly.
    """
    z = 0.5 * rhs
    for _ in range(_MAX_SWEEPS):
        nxt = 0.5 * (rhs + W @ z)
        change = np.abs(nxt - z).max(initial=0.0)
        z = nxt
        if change <= 4 * np.finfo(np.float64).eps * max(np.abs(z).max(initial=0.0), np.finfo(np.float64).tiny):
            return z
    raise EngagementError(f"FriedkinJohnsen: the equilibrium did not converge in {_MAX_SWEEPS} sweeps (non-finite opinions?)")


@dataclass(frozen=True)
class _Line:
    """P + D along the inner opinions v(t) = d + t b (t = s - mu), where s is the message value.

    q(t) = P + D of the unscaled v(t), a quadratic; r(t) = variance of v(t) (1 when not
    standardising), a quadratic with its minimum at t = 0 (d is orthogonal to b). Then
    (P + D)(s) = q(t) / r(t) because P + D is a quadratic form in the opinions.
    """

    mu: float
    q: tuple[float, float, float]  # q(t) = q0 + q1 t + q2 t^2
    r: tuple[float, float]  # r(t) = r0 + r2 t^2
    d: np.ndarray
    b: np.ndarray
    zd: np.ndarray  # equilibrium for d
    zb: np.ndarray  # equilibrium for b
    W: sp.csr_matrix
    d_in: np.ndarray

    def ratio(self, t: np.ndarray) -> np.ndarray:
        q0, q1, q2 = self.q
        r0, r2 = self.r
        r = r0 + r2 * t * t
        return (q0 + t * (q1 + q2 * t)) / np.where(np.sqrt(r) < _ZERO_SCALE, 1.0, r)

    def scale(self, t: float) -> float:
        sd = float(np.sqrt(self.r[0] + self.r[1] * t * t))
        return 1.0 if sd < _ZERO_SCALE else sd


class FriedkinJohnsen:
    """The agent's post as a stubborn user's inner opinion; engagement = how much it lowers
    polarization + disagreement at the Friedkin-Johnsen equilibrium (see the module docstring).

    ``standardize`` (default True, as the authors) standardises inner opinions before solving. The
    equilibrium for any message combines two sparse solutions cached per (network, source),
    so ``engagement`` costs O(1) per message after the first call, and ``optimum`` is exact: P + D is
    a quadratic in s (a ratio of two quadratics when standardising), minimised in closed form.

    ``simulate`` reports ``extra`` = polarization, disagreement, their sum and the worst sum over
    [0, 1]; ``opinions_after`` the expressed opinions z at equilibrium (standardised scale when
    ``standardize``); ``active`` the users the agent influences (those it reaches).

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 0), (1, 2), (2, 1)], [0.5, 0.1, 0.9])
    >>> fj = FriedkinJohnsen()
    >>> best = fj.optimum(net, 0)
    >>> best.exact, bool(fj.engagement(net, 0, best.message)[0] >= fj.engagement(net, 0, [0.0, 1.0]).max())
    (True, True)
    """

    def __init__(self, standardize: bool = True) -> None:
        if not isinstance(standardize, (bool, np.bool_)):
            raise EngagementError(f"FriedkinJohnsen: standardize must be True or False, got {standardize!r}")
        self.standardize = bool(standardize)
        self._cache: tuple[SocialNetwork, int, _Line, tuple[float, float, np.ndarray]] | None = None

    def __repr__(self) -> str:
        return f"FriedkinJohnsen(standardize={self.standardize})"

    # ------------------------------------------------------------------ the equilibrium along s
    def _prepare(self, network: SocialNetwork, source: int) -> tuple[_Line, tuple[float, float, np.ndarray]]:
        if self._cache is not None and self._cache[0] is network and self._cache[1] == source:
            return self._cache[2], self._cache[3]
        n = network.n_users
        rev = network.reverse  # row w lists the users who reach w
        in_degree = np.diff(rev.indptr)
        data = np.repeat(1.0 / np.maximum(in_degree, 1), in_degree)
        data[rev.indptr[source] : rev.indptr[source + 1]] = 0.0  # the agent is stubborn
        W = sp.csr_matrix((data, rev.indices.copy(), rev.indptr.copy()), shape=(n, n))  # the network's arrays are read-only
        W.eliminate_zeros()
        d_in = np.bincount(W.indices, weights=W.data, minlength=n)

        base = network.opinions.copy()
        base[source] = 0.0
        direction = np.zeros(n)
        direction[source] = 1.0
        if self.standardize:
            base -= base.mean()
            direction -= 1.0 / n
            # Shift to the message value where the centred opinions are smallest: d is then
            # orthogonal to b, which keeps q and r free of cancellation near zero variance.
            spread = float(direction @ direction)  # 0 only for a network of one user
            mu = -float(base @ direction) / spread if spread > 0 else 0.0
        else:
            mu = 0.0
        d = base + mu * direction
        zd, zb = _solve(W, np.column_stack([d, direction])).T

        def form(x: np.ndarray, zx: np.ndarray, y: np.ndarray, zy: np.ndarray) -> float:
            # P + D as a symmetric bilinear form: z.s + 1/2 z (D_in - I) z, with z = (2I - W)^-1 s.
            return 0.5 * float(x @ zy + y @ zx) + 0.5 * float(zx @ ((d_in - 1.0) * zy))

        q = (form(d, zd, d, zd), 2.0 * form(d, zd, direction, zb), form(direction, zb, direction, zb))
        r = (float(d @ d) / n, float(direction @ direction) / n) if self.standardize else (1.0, 0.0)
        line = _Line(mu=mu, q=q, r=r, d=d, b=direction, zd=zd, zb=zb, W=W, d_in=d_in)
        extremes = self._extremes(line)
        self._cache = (network, source, line, extremes)
        return line, extremes

    @staticmethod
    def _extremes(line: _Line) -> tuple[float, float, np.ndarray]:
        """Worst and best P + D over s in [0, 1], and every s reaching the best (closed form).

        With f = q / r, f' = 0 iff q' r - q r' = 0, a quadratic in t (the cubic terms cancel).
        """
        q0, q1, q2 = line.q
        r0, r2 = line.r
        lo, hi = -line.mu, 1.0 - line.mu
        candidates = [lo, hi]
        for root in np.roots([-q1 * r2, 2.0 * (q2 * r0 - q0 * r2), q1 * r0]):
            if abs(root.imag) <= 1e-12 * max(1.0, abs(root.real)) and lo < root.real < hi:
                candidates.append(float(root.real))
        if lo <= 0.0 <= hi:
            candidates.append(0.0)  # the least-variance message (zero variance when all users agree)
        t = np.array(candidates)
        f = line.ratio(t)
        worst, best = float(f.max()), float(f.min())
        tolerance = 1e-12 * max(1.0, abs(worst), abs(best))
        if worst - best <= tolerance:
            return worst, worst, np.empty(0)
        return worst, best, np.unique(np.clip(t[f <= best + tolerance] + line.mu, 0.0, 1.0))

    def _polarization_plus_disagreement(self, network: SocialNetwork, source: int, s: np.ndarray) -> np.ndarray:
        line, _ = self._prepare(network, source)
        return line.ratio(s - line.mu)

    # ------------------------------------------------------------------ the protocol
    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade:
        source = check_source(network, source)
        s = check_messages(message)
        if len(s) != 1:
            raise EngagementError(f"simulate takes one message value, got {len(s)}; use engagement() for a batch")
        line, (worst, _, _) = self._prepare(network, source)
        t = float(s[0]) - line.mu
        z = (line.zd + t * line.zb) / line.scale(t)
        polarization = float(z @ z)
        disagreement = 0.5 * float(z @ ((line.d_in + 1.0) * z)) - float(z @ (line.W @ z))
        total = float(line.ratio(np.array([t]))[0])
        reach = K.reachable_mask(network.indptr, network.indices, source)
        reach[source] = False
        return Cascade(
            engaged=worst - total, active=np.flatnonzero(reach), message=float(s[0]), source=source, opinions_after=z,
            extra={"polarization": polarization, "disagreement": disagreement,
                   "polarization_plus_disagreement": total, "worst_polarization_plus_disagreement": worst},
        )

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray:
        source = check_source(network, source)
        s = check_messages(messages)
        _, (worst, _, _) = self._prepare(network, source)
        return worst - self._polarization_plus_disagreement(network, source, s)

    def optimum(self, network: SocialNetwork, source: int) -> Optimum:
        source = check_source(network, source)
        _, (worst, best, argmin) = self._prepare(network, source)
        what = "ratio of two quadratics (standardised opinions)" if self.standardize else "quadratic"
        if len(argmin) == 0:
            return K.constant_optimum(0.0, f"closed form: polarization + disagreement does not depend on s ({what} in s)")
        return Optimum(
            value=worst - best, message=float(argmin[0]), intervals=tuple(Interval(float(m), float(m), True, True) for m in argmin),
            exact=True, method=f"closed form: P + D is a {what} in s, minimised on [0, 1]",
        )
