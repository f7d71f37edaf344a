"""Cascades simulated from a built-in model with known parameters: test data for the calibration.

Each post's author is a user drawn uniformly among those with out-edges; the post's opinion value
is the author's opinion plus Gaussian noise (``message_noise``, clipped to [0, 1]): people mostly
post what they think. Posts that fewer than ``min_size`` users engage with are not kept (as on a
platform's export of cascades) and another post is drawn in their place. One seed drives it all;
the runs use indices from 2**40 on, so they never share coins with the runs of a calibration.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engagegen.calibration import _kernels
from engagegen.calibration.cascades import CascadeError, ObservedCascades
from engagegen.calibration.models import BuiltinModel, model_spec
from engagegen.engagement import LinearThreshold
from engagegen.network.graph import SocialNetwork

__all__ = ["simulate_cascades"]

_RUN_OFFSET = 2**40


def simulate_cascades(network: SocialNetwork, model: str | BuiltinModel, values: Mapping[str, float], n_cascades: int, *,
                      seed: int = 0, message_noise: float = 0.1, min_size: int = 1, max_draws: int | None = None) -> ObservedCascades:
    """``n_cascades`` cascades of at least ``min_size`` engaged users under ``model`` with ``values``.

    >>> from engagegen.network import planted_partition_network
    >>> net = planted_partition_network(500, avg_degree=8, seed=1)
    >>> c = simulate_cascades(net, "ic", {"p": 0.3, "epsilon": 0.4}, 20, seed=2)
    >>> len(c), int(c.sizes.min()) >= 1
    (20, True)
    """
    spec = model_spec(model)
    if not isinstance(spec, BuiltinModel):
        raise CascadeError("simulate_cascades simulates the built-in models (bcm, ic, lt)")
    rng = np.random.default_rng(seed)
    authors = np.flatnonzero(network.out_degree > 0)
    if len(authors) == 0:
        raise CascadeError("no user has out-edges: nobody can start a cascade")
    weights = LinearThreshold().edge_weights(network) if spec.kind == _kernels.LT else np.zeros(1)
    ws, fs = _kernels.workspace(network.n_users)
    params, opinions = spec.kernel_params(values), network.opinions.copy()
    limit = max_draws if max_draws is not None else 1000 * n_cascades
    sources, messages, engaged = [], [], []
    tag, draws = 0, 0
    while len(engaged) < n_cascades:
        if draws >= limit:
            raise CascadeError(f"only {len(engaged)} of {draws} posts reached {min_size} engaged users; the model engages too few")
        source = int(rng.choice(authors))
        s = float(np.clip(network.opinions[source] + message_noise * rng.standard_normal(), 0.0, 1.0))
        users, tag = _kernels.one_run(spec.kind, params, network.indptr, network.indices, weights, opinions, source, s,
                                      np.uint64(seed), _RUN_OFFSET + draws, ws, fs, tag)
        draws += 1
        if len(users) >= min_size:
            sources.append(source)
            messages.append(s)
            engaged.append(users)
    sizes = [len(u) for u in engaged]
    total = int(sum(sizes))
    return ObservedCascades(
        post_ids=np.array([f"p{i}" for i in range(n_cascades)]), sources=np.array(sources, np.int64),
        messages=np.round(np.array(messages), 6), texts=(None,) * n_cascades,
        indptr=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), users=np.concatenate(engaged).astype(np.int64),
        times=np.full(total, np.nan), parents=np.full(total, -1, np.int64), post_times=np.full(n_cascades, np.nan),
        lines=np.arange(1, n_cascades + 1), n_users=network.n_users, path="<simulated>",
    )
