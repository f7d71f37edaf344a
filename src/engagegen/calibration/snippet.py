"""The fitted model as a run config: the ``network`` and ``engagement`` sections ``engagegen train`` reads.

>>> from engagegen.calibration.models import BUILTIN_MODELS
>>> run_config(BUILTIN_MODELS["ic"], {"p": 0.2, "epsilon": 0.3}, "/data/net.npz")["engagement"]
{'model': 'ic', 'p': 0.2, 'epsilon': 0.3, 'n_runs': 256}
"""

from __future__ import annotations

from typing import Any

from engagegen.calibration.cascades import CascadeError
from engagegen.calibration.models import BuiltinModel, CustomModel

__all__ = ["run_config"]


def run_config(spec: BuiltinModel | CustomModel, values: dict[str, float], network_path: str, *, n_runs: int = 256) -> dict[str, Any]:
    """A run config (as a mapping) training against ``spec`` with ``values`` on the network saved at
    ``network_path`` (an engagegen ``.npz``); every other setting keeps its default. Only built-in
    models can be named in a run config."""
    if not isinstance(spec, BuiltinModel):
        raise CascadeError(f"model {spec.name!r} is not a built-in model: a run config cannot name it (build it in Python)")
    return {"network": {"source": "file", "path": str(network_path)}, "engagement": spec.engagement_config(values, n_runs)}
