"""The report of an experiment grid: the paper's benchmark figure (engagement per agent position and
policy, one panel per network condition, optimum marked), learning curves and opinion trajectories
per configuration, a sortable results table and example posts, in one self-contained HTML page.

Everything is read from the grid folder's ``grid.yaml`` and ``results.jsonl``, so a report can be
made while the grid is still running, and from results gathered off a Ray cluster.
"""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from pathlib import Path
from typing import Any, Sequence

from engagegen.experiments import GridError, ResultsLog, load_grid_folder, results_rows, write_results_table
from engagegen.experiments.config import value_label
from engagegen.files import atomic_write_bytes, atomic_write_text
from engagegen.html_page import page, table_tag
from engagegen.report.run_report import ReportError

__all__ = ["grid_report", "POLICY_LABELS"]

#: How each policy is labelled in the figures (the OpenAI row takes its configured label).
POLICY_LABELS = {"untuned": "untuned", "best_of_n": "best-of-N", "prompt_steered": "prompt-steered",
                 "openai": "OpenAI-compatible", "random_oracle": "random opinion", "trained": "trained (RL)"}
_COLORS = {"untuned": "#9e9e9e", "best_of_n": "#5b8fd6", "prompt_steered": "#e6a23c", "openai": "#8e6bbf",
           "random_oracle": "#c7b299", "trained": "#2e9d5b"}
_TABLE_COLUMNS = ("name", "optimum", "untuned_readable_fraction", "best_of_n_readable_fraction", "best_of_n_topk_readable_fraction",
                  "prompt_steered_readable_fraction", "openai_fraction", "random_oracle_fraction", "trained_readable_fraction",
                  "trained_readable_fraction_se", "trained_fraction", "trained_gate_share", "trained_distinct_share", "stop_reason", "steps_to_90", "samples_to_90", "trained_opinion",
                  "optimal_intervals", "final_opinion_in_optimal", "target_intervals", "target_width", "untuned_on_target",
                  "trained_on_target", "wall_seconds", "error")

_HEADERS = {"untuned_readable_fraction": "untuned", "best_of_n_readable_fraction": "best-of-N (best)",
            "best_of_n_topk_readable_fraction": "best-of-N (top k)", "prompt_steered_readable_fraction": "steered",
            "openai_fraction": "openai (raw)", "random_oracle_fraction": "random s (raw)",
            "trained_readable_fraction": "trained", "trained_readable_fraction_se": "its standard error",
            "trained_fraction": "trained, raw (gates ignored)", "trained_gate_share": "trained posts readable",
            "trained_distinct_share": "distinct trained posts",
            "stop_reason": "why training stopped",
            "steps_to_90": "steps to 90%", "samples_to_90": "samples to 90%", "trained_opinion": "final s",
            "optimal_intervals": "optimal s", "final_opinion_in_optimal": "final s optimal",
            "target_intervals": "s reaching 90%", "target_width": "its width", "untuned_on_target": "untuned posts there",
            "trained_on_target": "trained posts there", "wall_seconds": "train seconds"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(fig: Any, path: Path, caption: str, alt: str) -> str:
    """Save ``fig`` as ``path`` and return it as an embedded <figure> (rendered once)."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _title(text: str, width: int = 38) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _grid_layout(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return cols, math.ceil(n / cols)


def _policies(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [p for p in POLICY_LABELS if any(r.get(f"{p}_engaged") is not None for r in rows)]


def _benchmark_figure(grid: Any, rows: list[dict[str, Any]]) -> Any:
    """Bars per agent position and policy, one panel per network condition, the optimum as a black line."""
    plt = _plt()
    keys = list(grid.grid)
    position_key = "agent" if "agent" in keys else None
    condition_keys = [k for k in keys if k != position_key]
    by_id = {r["id"]: r for r in rows}
    panels: dict[tuple, list[Any]] = {}
    for c in grid.configurations:
        panels.setdefault(tuple(_as_key(c.params[k]) for k in condition_keys), []).append(c)
    # Conditions none of whose configurations has a result yet (or that all failed) get no panel.
    panels = {k: cs for k, cs in panels.items() if any(by_id.get(c.id, {}).get("optimum") is not None for c in cs)}
    policies = _policies(rows)
    labels = {**POLICY_LABELS, "openai": next((r["openai_label"] for r in rows if r.get("openai_label")), POLICY_LABELS["openai"])}
    cols, nrows = _grid_layout(len(panels), 4)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.8 * nrows), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(policies))
    top = max([r.get("optimum") or 0 for r in rows] + [1])
    # Stochastic models and feed rerankers find their optimum on a grid of message values: not exact.
    optimum_label = "exact optimum" if all(r.get("optimum_exact") is not False for r in rows) else "optimum (exact or grid)"
    for ax, (condition, configs) in zip(axes.flat, panels.items()):
        positions = [str(_cell(c.params[position_key])) if position_key else str(c.config.agent) for c in configs]
        for i, c in enumerate(configs):
            row = by_id.get(c.id, {})
            for j, policy in enumerate(policies):
                # best-of-N as the mean of its top k posts: k posts, like every other bar's mean
                value = row.get(f"{policy}_topk_engaged", row.get(f"{policy}_engaged"))
                if value is not None:
                    ax.bar(i - 0.4 + width * (j + 0.5), value, width, color=_COLORS[policy],
                           label=labels[policy] if i == 0 else None)
            if row.get("optimum") is not None:
                ax.hlines(row["optimum"], i - 0.45, i + 0.45, colors="k", linewidth=1.6,
                          label=optimum_label if i == 0 else None)
        ax.set_xticks(range(len(configs)), positions, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, top * 1.08)
        ax.tick_params(axis="y", labelsize=7)
        name = ", ".join(f"{k.rsplit('.', 1)[-1]}={_cell(configs[0].params[k])}" for k in condition_keys) or grid.name
        ax.set_title(_title(name, 46), fontsize=8)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("users engaged", fontsize=8)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=len(names), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.8 * nrows)))
    return fig


def _as_key(value: Any) -> Any:
    return str(value) if isinstance(value, (dict, list)) else value


def _cell(value: Any) -> Any:
    """A grid value for a table cell or title: numbers stay numbers, the rest as short text."""
    return value if isinstance(value, (int, float, bool)) or value is None else value_label(value)


def _curve_panels(configs: list[Any], training: dict[str, dict], baselines: dict[str, dict], kind: str) -> Any:
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    cols, nrows = _grid_layout(len(configs), 5)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.3 * nrows), squeeze=False)
    for ax, c in zip(axes.flat, configs):
        result = training[c.id]["result"]
        base = baselines.get(c.id, {}).get("result", {})
        curves = result.get("curves", {})
        steps = curves.get("step", [])
        if kind == "engagement":
            opt = result.get("optimum") or base.get("optimum") or 0
            ax.plot(steps, curves.get("engaged_mean", []), color=_COLORS["trained"], lw=1.2, label="training posts")
            if curves.get("eval_step"):
                held_out = curves.get("eval_readable_fraction") or curves["eval_engaged_fraction"]
                ax.plot(curves["eval_step"], [f * opt if f is not None else None for f in held_out],
                        "o", ms=3, color="k", label="held-out evaluation (readable posts)")
            ax.axhline(opt, color="k", ls="--", lw=1, label="exact optimum")
            untuned = base.get("untuned_engaged", result.get("trainer_untuned_engaged"))
            if untuned is not None:
                ax.axhline(untuned, color="tab:red", ls=":", lw=1.3, label="untuned model")
            ax.set_ylim(0, max(opt, 1) * 1.08)
        else:
            for lo, hi in result.get("target_intervals") or base.get("target_intervals") or []:
                ax.axhspan(lo, hi, color="tab:green", alpha=0.1, lw=0)
            for lo, hi in result.get("optimal_intervals") or base.get("optimal_intervals") or []:
                ax.axhspan(lo, hi, color="tab:green", alpha=0.25, lw=0)
            ax.plot(steps, curves.get("opinion_mean", []), color="tab:purple", lw=1.2, label="mean opinion value s")
            if base.get("untuned_opinion") is not None:
                ax.axhline(base["untuned_opinion"], color="tab:red", ls=":", lw=1.3, label="untuned model")
            ax.set_ylim(0, 1)
            ax.plot([], [], color="tab:green", alpha=0.4, lw=6, label="optimal interval(s)")
            if result.get("target_intervals") or base.get("target_intervals"):
                ax.plot([], [], color="tab:green", alpha=0.15, lw=6, label="90% of the optimum")
        stages = curves.get("eval_stage") or []
        for step, before, stage in zip(curves.get("eval_step", [])[1:], stages, stages[1:]):
            if stage != before:  # a later stage of the schedule began from the best adapter
                ax.axvline(step - 0.5, color="0.5", ls="-.", lw=0.8)
        ax.set_title(_title(c.name), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.flat[len(configs):]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=len(names), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.supxlabel("step", fontsize=8)
    fig.tight_layout(rect=(0, 0.01, 1, 1 - 0.35 / (2.3 * nrows)))
    return fig


def _cell_rows(grid: Any, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The HTML table: one column per grid key (short names, so each sorts on its own), then the results."""
    keys = list(grid.grid)
    short = {k: k.rsplit(".", 1)[-1] for k in keys}
    if len(set(short.values())) < len(keys):
        short = {k: k for k in keys}
    by_id = {c.id: c for c in grid.configurations}
    shown = []
    for r in rows:
        params = by_id[r["id"]].params if r["id"] in by_id else {}
        row: dict[str, Any] = {short[k]: _cell(params.get(k)) for k in keys} if keys else {"name": r["name"]}
        row.update({k: r.get(k) for k in _TABLE_COLUMNS if k != "name"})
        for key in ("optimal_intervals", "target_intervals"):
            if isinstance(r.get(key), list):
                row[key] = ", ".join(f"({lo:.3f}, {hi:.3f})" for lo, hi in r[key])
        shown.append(row)
    first = [short[k] for k in keys] if keys else ["name"]
    results = [k for k in _TABLE_COLUMNS if k != "name" and any(r.get(k) is not None for r in shown)]
    shown = [{**{c: r[c] for c in first}, **{_HEADERS.get(k, k): r[k] for k in results}} for r in shown]
    return shown, first + [_HEADERS.get(k, k) for k in results]


def grid_report(grid_dir: str | Path) -> Path:
    """Write ``report.html`` (and ``figures/*.png``, the results table) into a grid folder; return the page's path."""
    grid_dir = Path(grid_dir)
    try:
        grid = load_grid_folder(grid_dir)
    except GridError as exc:
        raise ReportError(str(exc)) from None
    log = ResultsLog(grid_dir / "results.jsonl")
    rows = results_rows(grid.configurations, log)
    write_results_table(rows, grid_dir)
    baselines = {k: v for k, v in log.latest("baselines").items() if v["status"] == "ok"}
    training = {k: v for k, v in log.latest("training").items() if v["status"] == "ok"}
    figures = grid_dir / "figures"

    trained = [r for r in rows if r.get("trained_readable_fraction") is not None]
    reached = sum(r["trained_readable_fraction"] >= 0.9 for r in trained)
    failed = [r for r in rows if r.get("error")]
    kpis = [("configurations", str(len(rows))), ("baselines scored", str(len(baselines))), ("trained", str(len(trained)))]
    if trained:
        kpis.append(("trained reached 90% of the optimum (readable posts)", f"{reached} of {len(trained)}"))
    kpis.append(("failed", str(len(failed))))
    body = ["<div>" + "".join(f'<span class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></span>' for k, v in kpis) + "</div>"]
    if grid.description:
        body.append(f"<p>{html.escape(grid.description)}</p>")
    body.append('<p class="muted">Engagement is the number of users a post engages in the simulated audience, scored by '
                "each configuration's own reward; fractions are of the exact optimum. Best-of-N ranks N untuned posts by "
                "reward, N the training sample budget: the best one, and the mean of the top k (k posts, as many as "
                "each other policy is scored on; the figure's bar); random opinion is the expected engagement of a post "
                "whose opinion value is drawn uniformly.</p>")
    if any(r.get("optimum") is not None for r in rows):
        body.append("<h2>Benchmark</h2>" + _figure(_benchmark_figure(grid, rows), figures / "benchmark.png",
                    "Mean users engaged per agent position and policy, one panel per network condition; "
                    "the black line is the exact optimum.", "benchmark figure"))
    curves = [c for c in grid.configurations if c.id in training and training[c.id]["result"].get("curves", {}).get("step")]
    if curves:
        body.append("<h2>Learning curves</h2>" + _figure(_curve_panels(curves, training, baselines, "engagement"),
                    figures / "learning_curves.png",
                    "Users engaged by the posts sampled at each training step, with the held-out evaluations, the exact "
                    "optimum (dashed) and the untuned model (dotted); a dash-dotted line marks where a later stage of "
                    "the training schedule began from the best adapter so far.", "learning curves"))
        body.append("<h2>Opinion value of the posts</h2>" + _figure(_curve_panels(curves, training, baselines, "opinion"),
                    figures / "opinions.png",
                    "Mean opinion value s of the posts per step against the optimal band (green): the policy moves to "
                    "where its audience engages.", "opinion trajectories"))
    else:
        body.append('<p class="muted">No training results yet: learning curves appear once configurations finish training.</p>')
    shown, columns = _cell_rows(grid, rows)
    body.append("<h2>Results</h2><p class=\"muted\">Engagement of each policy as a fraction of the exact optimum; "
                "s is the opinion value of the posts (final s: the trained policy's mean). Click a column header to "
                "sort. The full table is in results.parquet and results.csv beside this page.</p>"
                '<div style="overflow-x:auto">' + table_tag(shown, columns) + "</div>")
    if failed:
        body.append("<h2>Failed configurations</h2><ul>" + "".join(
            f"<li><b>{html.escape(r['name'])}</b>: {html.escape(str(r['error']))}</li>" for r in failed) + "</ul>")
    body.append("<h2>Example posts</h2>")
    for c in grid.configurations:
        examples = [e for rec in (baselines.get(c.id), training.get(c.id)) if rec for e in rec["result"].get("examples", [])]
        if examples:
            body.append(f"<details><summary>{html.escape(c.name)}</summary>"
                        + table_tag(examples, ["policy", "text", "opinion", "engaged", "total", "passes_gates"], sortable=False)
                        + "</details>")
    out = grid_dir / "report.html"
    atomic_write_text(out, page(f"engagegen grid: {grid.name}", "".join(body)))
    return out
