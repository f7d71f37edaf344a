"""The report of one training run: learning curves against the optimum, opinion against the optimal
band, reward components, the network with the users a trained post engaged, and example posts."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.errors import EngagegenError
from engagegen.experiments import describe_target, final_posts_target
from engagegen.files import atomic_write_text
from engagegen.html_page import figure_tag, page, table_tag
from engagegen.network import SocialNetwork, place_agent
from engagegen.training import load_run
from engagegen.training.build import build_engagement
from engagegen.training.checkpoint import MetricsLog

__all__ = ["run_report", "ReportError"]


class ReportError(EngagegenError, ValueError):
    """A run folder that lacks what a report needs."""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _engagement_figure(metrics: list[dict], evals: list[dict], summary: dict) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    rows = [m for m in metrics if "readable_fraction_mean" in m]
    steps = [m["step"] for m in rows]
    ax.plot(steps, [m["readable_fraction_mean"] for m in rows], label="readable (training posts)")
    ax.plot(steps, [m["engaged_fraction_mean"] for m in rows], alpha=0.4, label="raw (training posts)")
    if evals:
        ax.plot([e["step"] for e in evals], [e["readable_fraction"] for e in evals], "o-", label="readable (validation posts)")
        starts: dict[int, int] = {}
        for e in evals:
            starts.setdefault(e.get("stage", 1), e["step"])
        for stage, step in starts.items():
            if stage > 1:
                ax.axvline(step, color="grey", lw=0.6, ls=":")
    ax.axhline(1.0, color="k", ls="--", lw=1, label=f"exact optimum ({summary.get('optimum', 0):g} users)")
    for key, colour, label in (("untuned_readable_fraction", "tab:red", "untuned model"),
                               ("best_of_n_readable_fraction", "tab:green", "best-of-N")):
        if key in summary:
            ax.axhline(summary[key], color=colour, ls=":", lw=1.5, label=label)
    ax.set_xlabel("step (dotted: a new stage)")
    ax.set_ylabel("engagement / optimum")
    ax.set_ylim(-0.02, 1.05)
    ax.legend(fontsize=8, loc="best")
    return fig


def _opinion_figure(metrics: list[dict], summary: dict, target: dict) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for lo, hi in target.get("target_intervals", []):
        ax.axhspan(lo, hi, color="tab:green", alpha=0.08)
    for lo, hi in summary.get("optimal_intervals", []):
        ax.axhspan(lo, hi, color="tab:green", alpha=0.2)
    steps = [m["step"] for m in metrics if "opinion_mean" in m]
    ax.plot(steps, [m["opinion_mean"] for m in metrics if "opinion_mean" in m], color="tab:purple", label="mean opinion value s of posts")
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("s")
    ax.plot([], [], color="tab:green", alpha=0.4, lw=8, label="optimal interval(s)")
    if target.get("target_intervals"):
        ax.plot([], [], color="tab:green", alpha=0.15, lw=8, label="90% of the optimum")
    ax.legend(fontsize=8)
    return fig


def _components_figure(metrics: list[dict]) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    steps = [m["step"] for m in metrics]
    for key, label in (("reward_mean", "reward"), ("engaged_fraction_mean", "engaged / optimum"),
                       ("fluency_mean", "fluency"), ("topic_mean", "topic similarity"), ("gate_share", "share passing gates")):
        if any(key in m for m in metrics):
            ax.plot(steps, [m.get(key, np.nan) for m in metrics], label=label)
    ax.set_xlabel("step")
    ax.legend(fontsize=8, ncol=3)
    return fig


def _network_figure(run_dir: Path, message: float | None) -> Any:
    """The network coloured by opinion, the agent as a star, users a post with value ``message`` engages ringed."""
    import networkx as nx

    plt = _plt()
    cfg = load_run(run_dir)
    net = SocialNetwork.load(run_dir / "network.npz")
    agent = place_agent(net, cfg.agent)
    limit = 2000
    users = np.arange(net.n_users) if net.n_users <= limit else np.random.default_rng(cfg.seed).choice(net.n_users, limit, replace=False)
    keep = set(users.tolist()) | {agent}
    g = nx.Graph()
    g.add_nodes_from(keep)
    g.add_edges_from((u, v) for u, v in net.edges().tolist() if u in keep and v in keep)
    pos = nx.spring_layout(g, seed=cfg.seed)
    nodes = sorted(keep)
    fig, ax = plt.subplots(figsize=(7, 6))
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.15, width=0.5)
    sc = nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=[net.opinions[u] for u in nodes], cmap="coolwarm",
                                vmin=0, vmax=1, node_size=40, ax=ax)
    if message is not None:
        active = build_engagement(cfg.engagement, cfg.network.seed, net).simulate(net, agent, message).active
        ringed = [u for u in active.tolist() if u in keep]
        nx.draw_networkx_nodes(g, pos, nodelist=ringed, node_color="none", edgecolors="k", linewidths=1.2, node_size=70, ax=ax)
    nx.draw_networkx_nodes(g, pos, nodelist=[agent], node_color="gold", node_shape="*", node_size=400, edgecolors="k", ax=ax)
    fig.colorbar(sc, ax=ax, label="user opinion")
    ax.set_axis_off()
    return fig


def run_report(run_dir: str | Path, *, target: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` into a run folder and return its path. ``target``: the run's
    :func:`~engagegen.experiments.final_posts_target`, when the caller has it already."""
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        raise ReportError(f"{run_dir}: no summary.json; the run has not finished its evaluation")
    summary = json.loads(summary_path.read_text())
    metrics = MetricsLog(run_dir / "metrics.jsonl").read()
    evals = MetricsLog(run_dir / "eval.jsonl").read()
    samples = MetricsLog(run_dir / "samples.jsonl").read()
    trained = [s for s in samples if s["policy"] == "trained"]
    best_post = max(trained, key=lambda s: s["total"]) if trained else None
    if target is None:
        target = final_posts_target(run_dir, summary)
    best_of_n = f"best {summary.get('best_of_n_top', 'k')} of {summary.get('best_of_n_n', 'N')}"
    kpis = [
        ("exact optimum", f"{summary['optimum']:g}"),
        ("trained: readable engagement", f"{100 * summary['trained_readable_fraction']:.1f}% "
                                         f"± {100 * summary['trained_readable_fraction_se']:.1f}"),
        ("trained: raw engagement", f"{100 * summary['trained_fraction']:.1f}%"),
        (f"{best_of_n} untuned: readable", f"{100 * summary['best_of_n_readable_fraction']:.1f}%"),
        ("untuned: readable", f"{100 * summary['untuned_readable_fraction']:.1f}%"),
        ("trained posts passing every gate", f"{100 * summary['trained_gate_share']:.0f}%"),
        *([("distinct trained posts", f"{100 * summary['trained_distinct_share']:.0f}%")]
          if "trained_distinct_share" in summary else []),
        *([("trained posts reaching 90% of the optimum", f"{100 * target['trained_on_target']:.0f}%")]
          if "trained_on_target" in target else []),
        ("steps", str(summary["steps"])),
        ("wall time", f"{summary['wall_seconds'] / 60:.1f} min"),
    ]
    body = ["<div>" + "".join(f'<span class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></span>' for k, v in kpis) + "</div>"]
    body.append(f'<p class="muted">Optimal interval(s) of the opinion value s: '
                f'{html.escape(", ".join(f"({lo:.3f}, {hi:.3f})" for lo, hi in summary["optimal_intervals"]))}. '
                f'{html.escape(describe_target(target))} Seed {summary["seed"]}, agent user {summary.get("agent")}.</p>')
    if metrics:
        body.append("<h2>Engagement per step</h2>" + figure_tag(_engagement_figure(metrics, evals, summary),
                    "Engagement as a fraction of the exact optimum: readable (a post failing a gate engages no "
                    "one) and raw, for the posts sampled at each step and for the validation posts, against the "
                    "untuned model and best-of-N (final evaluation)."))
        body.append("<h2>Opinion value per step</h2>" + figure_tag(_opinion_figure(metrics, summary, target),
                    "Mean opinion value s of the sampled posts; the green band is where engagement is optimal, "
                    "the light one where it reaches 90% of the optimum."))
        body.append("<h2>Reward components</h2>" + figure_tag(_components_figure(metrics), "Per-step means."))
    if (run_dir / "network.npz").exists():
        caption = "The network coloured by opinion; the star is the agent"
        if best_post is not None:
            caption += f"; ringed: users engaged by the best trained post (s = {best_post['opinion']:.3f})"
        body.append("<h2>Network</h2>" + figure_tag(_network_figure(run_dir, best_post["opinion"] if best_post else None), caption))
    columns = ["policy", "text", "opinion", "engaged", "topic", "fluency", "perplexity", "passes_gates", "reason", "total"]
    for policy, title in (("untuned", "Untuned model"), ("best_of_n", "Best-of-N (untuned)"), ("trained", "Trained policy")):
        rows = [s for s in samples if s["policy"] == policy][:12]
        body.append(f"<h2>{title}: example posts</h2>" + table_tag(rows, columns))
    out = run_dir / "report.html"
    atomic_write_text(out, page(f"engagegen run: {run_dir.name}", "".join(body)))
    return out
