"""The record of a grid: ``results.jsonl`` (one line per finished or failed piece of work) and the
results table built from it (``results.parquet`` and ``results.csv``).

A record is ``{"id", "name", "kind": "baselines" | "training", "status": "ok" | "error", "params",
"result" | "error", "key", "time"}``. The log is rewritten whole through a temporary file and a
rename for every new record, so a runner killed at any moment leaves it complete; the latest
record of each (id, kind) wins.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engagegen.config import to_dict
from engagegen.engagement import NearOptimalModel
from engagegen.files import atomic_path, atomic_write_text

__all__ = ["ResultsLog", "results_rows", "write_results_table", "TABLE_COLUMNS", "TARGET_FRACTION", "first_reaching", "target_columns", "describe_target"]

#: "Steps to reach the target": the first step whose mean engagement is this fraction of the optimum.
TARGET_FRACTION = 0.9

#: Run config fields every results table shows (grid keys are added after them).
CONFIG_COLUMNS = ("topic", "seed", "agent", "network.source", "network.opinions", "network.modularity",
                  "network.homophily", "engagement.model", "engagement.epsilon", "generation.model", "generation.mode",
                  "training.algorithm", "training.budget", "training.group_size", "training.prompts_per_step")

#: Result columns, in table order (a column appears when some configuration has it).
TABLE_COLUMNS = (
    "n_users", "agent_user", "optimum", "optimum_exact", "optimal_message", "optimal_intervals", "target_intervals", "target_width",
    "untuned_engaged", "untuned_readable_fraction", "untuned_fraction", "untuned_gate_share", "untuned_opinion", "untuned_on_target", "untuned_n",
    "best_of_n_engaged", "best_of_n_readable_fraction", "best_of_n_fraction", "best_of_n_opinion", "best_of_n_topk_engaged", "best_of_n_topk_readable_fraction", "best_of_n_topk_fraction", "best_of_n_n",
    "prompt_steered_engaged", "prompt_steered_readable_fraction", "prompt_steered_fraction", "prompt_steered_gate_share", "prompt_steered_opinion", "prompt_steered_n",
    "openai_label", "openai_engaged", "openai_fraction", "openai_gate_share", "openai_opinion", "openai_n", "openai_error",
    "random_oracle_engaged", "random_oracle_fraction",
    "trained_readable_fraction", "trained_readable_fraction_se",
    "trained_engaged", "trained_fraction", "trained_fraction_se", "trained_gate_share", "trained_opinion", "trained_distinct_share", "trained_on_target",
    "final_opinion_in_optimal", "final_opinion_distance",
    "steps_to_90", "samples_to_90", "steps_to_90_train", "samples_to_90_train",
    "trainer_untuned_readable_fraction", "trainer_best_of_n_readable_fraction", "trainer_best_of_n_n", "trained_temperature",
    "steps", "best_step", "stop_reason", "samples_seen", "wall_seconds", "baselines_seconds", "audience",
)


class ResultsLog:
    """The append-only record of a grid run, kept complete on disk at every moment."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line from an older, non-atomic writer cut short: the work is redone
                if isinstance(record, dict) and {"id", "kind", "status"} <= record.keys():
                    self.records.append(record)

    def append(self, record: dict[str, Any]) -> None:
        record = {**record, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.records.append(record)
        atomic_write_text(self.path, "".join(json.dumps(r, default=_json_default) + "\n" for r in self.records))

    def latest(self, kind: str) -> dict[str, dict[str, Any]]:
        """The newest record of each configuration id for ``kind``."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            if r["kind"] == kind:
                out[r["id"]] = r
        return out

    def finished(self, kind: str, key: str | None = None) -> set[str]:
        """Ids whose latest ``kind`` record succeeded (with the same ``key``, when given)."""
        return {cid for cid, r in self.latest(kind).items()
                if r["status"] == "ok" and (key is None or r.get("key") == key)}


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def first_reaching(steps: Sequence[int], fractions: Sequence[float], target: float = TARGET_FRACTION) -> int | None:
    """The first step whose fraction of the optimum reaches ``target`` (None: never)."""
    for step, value in zip(steps, fractions):
        if value is not None and value >= target - 1e-12:
            return int(step)
    return None


def target_columns(model: Any, network: Any, agent: int, opinions: dict[str, Any]) -> dict[str, Any]:
    """Where posts must land to engage ``TARGET_FRACTION`` of the optimum, and how many do.

    ``target_intervals`` the maximal s-intervals reaching it, ``target_width`` their total width,
    ``<policy>_on_target`` the share of the policy's posts (``opinions``: policy -> s values) inside
    them. Empty for engagement models that cannot say exactly (not a :class:`NearOptimalModel`).
    A policy whose posts scatter wider than the target cannot reach the fraction on average,
    however good its typical post is.
    """
    if not isinstance(model, NearOptimalModel):
        return {}
    intervals = model.near_optimal(network, agent, TARGET_FRACTION)
    out: dict[str, Any] = {"target_intervals": [[float(iv.lo), float(iv.hi)] for iv in intervals],
                           "target_width": float(sum(iv.width for iv in intervals))}
    for policy, values in opinions.items():
        s = np.asarray(values, dtype=float)
        if len(s):
            out[f"{policy}_on_target"] = float(np.mean([any(v in iv for iv in intervals) for v in s]))
    return out


def describe_target(target: dict[str, Any]) -> str:
    """:func:`target_columns` in a sentence ('' when there is no target set).

    >>> describe_target({"target_intervals": [[0.0, 0.21]], "target_width": 0.21, "trained_on_target": 0.98})
    'Engagement reaches 90% of the optimum for s in (0.000, 0.210) (width 0.210); 98% of trained posts land there.'
    """
    if "target_intervals" not in target:
        return ""
    where = ", ".join(f"({lo:.3f}, {hi:.3f})" for lo, hi in target["target_intervals"])
    shares = " and ".join(f"{100 * target[f'{p}_on_target']:.0f}% of {p} posts" for p in ("untuned", "trained")
                          if f"{p}_on_target" in target)
    return (f"Engagement reaches {TARGET_FRACTION:.0%} of the optimum for s in {where} (width {target['target_width']:.3f})"
            + (f"; {shares} land there." if shares else "."))


def _config_value(cfg_dict: dict[str, Any], path: str) -> Any:
    node: Any = cfg_dict
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def results_rows(configurations: Sequence[Any], log: ResultsLog) -> list[dict[str, Any]]:
    """One flat row per configuration: its config fields, status, baseline and training results."""
    baselines, training = log.latest("baselines"), log.latest("training")
    grid_keys = [k for c in configurations[:1] for k in c.params]
    rows = []
    for c in configurations:
        cfg = to_dict(c.config)
        row: dict[str, Any] = {"id": c.id, "name": c.name}
        for path in (*CONFIG_COLUMNS, *[k for k in grid_keys if k not in CONFIG_COLUMNS]):
            row[path] = c.params[path] if path in c.params else _config_value(cfg, path)
        b, t = baselines.get(c.id), training.get(c.id)
        row["baselines_status"] = b["status"] if b else None
        row["training_status"] = t["status"] if t else None
        errors = [f"{r['kind']}: {r['error']}" for r in (b, t) if r and r["status"] == "error"]
        row["error"] = "; ".join(errors) if errors else None
        for record in (b, t):
            if record and record["status"] == "ok":
                row.update({k: v for k, v in record["result"].items() if k in TABLE_COLUMNS})
        row["training.budget"] = c.config.training.steps  # the most steps its schedule may take
        rows.append(row)
    return rows


def _column_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return "float"
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "str"


def _normalise(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[Any]]]:
    """Columns with one type each (Parquet needs it): nested values as JSON, mixed columns as text."""
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    # Result columns in TABLE_COLUMNS order after the others (which keep their order of appearance).
    rank = {name: i for i, name in enumerate(TABLE_COLUMNS)}
    seen = {name: i for i, name in enumerate(names)}
    names.sort(key=lambda n: (n in rank, rank.get(n, seen[n])))
    columns: dict[str, list[Any]] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        values = [json.dumps(v) if isinstance(v, (list, dict)) else v for v in values]
        kind = _column_type(values)
        if kind == "str":
            values = [None if v is None else str(v) for v in values]
        elif kind == "float":
            values = [None if v is None else float(v) for v in values]
        columns[name] = values
    return names, columns


def write_results_table(rows: list[dict[str, Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """``results.parquet`` and ``results.csv`` in ``out_dir`` (written atomically)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names, columns = _normalise(rows)
    table = pa.table({n: columns[n] for n in names}) if rows else pa.table({"id": pa.array([], pa.string())})
    paths = []
    for name, write in (("results.parquet", lambda t, p: pq.write_table(t, p)),
                        ("results.csv", lambda t, p: pacsv.write_csv(t, p))):
        target = out_dir / name
        with atomic_path(target) as tmp:
            write(table, str(tmp))
        paths.append(target)
    return paths[0], paths[1]
