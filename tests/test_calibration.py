"""The noisy bounded-confidence model, the calibration's Monte Carlo scores, parameter recovery on small
planted networks, and the calibrate command from files to a run config that training accepts."""

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from engagegen.calibration import BUILTIN_MODELS, Calibrator, CustomModel, simulate_cascades, write_cascades
from engagegen.calibration.likelihood import Scorer
from engagegen.cli import app
from engagegen.engagement import BoundedConfidenceCascade, IndependentCascade, NoisyBoundedConfidence
from engagegen.network import SocialNetwork, planted_partition_network

EDGES = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 1), (2, 5), (5, 4), (6, 0), (1, 2), (4, 5)]
OPINIONS = [0.5, 0.3, 0.45, 0.6, 0.7, 0.2, 0.9]


@pytest.fixture(scope="module")
def tiny():
    return SocialNetwork.from_edges(EDGES, OPINIONS)


def exact_site(network, source, s, eps, p, noise):
    """Per-user engagement probability of the noisy bounded-confidence cascade, by enumerating who is willing."""
    x = network.opinions
    chance = [0.0 if v == source else (p if x[v] - eps < s < x[v] + eps else noise) for v in range(network.n_users)]
    out = np.zeros(network.n_users)
    for willing in itertools.product([False, True], repeat=network.n_users):
        weight = np.prod([c if w else 1 - c for c, w in zip(chance, willing)])
        if weight == 0:
            continue
        seen, queue = {source}, [source]
        while queue:
            u = queue.pop()
            for v in network.out_neighbors(u).tolist():
                if v not in seen and willing[v]:
                    seen.add(v)
                    queue.append(v)
        for v in seen - {source}:
            out[v] += weight
    return out


def test_noisy_bcm_is_the_paper_model_at_p_1_and_no_noise(tiny):
    model = NoisyBoundedConfidence(epsilon=0.2, p=1.0, noise=0.0, n_runs=5)
    s = np.linspace(0, 1, 41)
    assert model.engagement(tiny, 0, s).tolist() == BoundedConfidenceCascade(epsilon=0.2).engagement(tiny, 0, s).tolist()


def test_noisy_bcm_matches_enumeration_and_its_optimum_is_a_step_optimum(tiny):
    model = NoisyBoundedConfidence(epsilon=0.2, p=0.6, noise=0.1, n_runs=40000, seed=3)
    exact = exact_site(tiny, 0, 0.4, 0.2, 0.6, 0.1)
    got = model.simulate(tiny, 0, 0.4).extra["activation_probability"]
    assert np.abs(got - exact).max() < 0.01
    opt = model.optimum(tiny, 0)
    grid = np.linspace(0, 1, 201)
    assert opt.value >= model.engagement(tiny, 0, grid).max() - 1e-9
    assert opt.exact


@pytest.mark.parametrize("name", ["bcm", "ic", "lt"])
def test_hazard_marginals_are_the_conditional_engagement_probabilities(tiny, name):
    """Given at least one engaged user, the hazard estimate (min_size 1) and plain counting of the
    runs that engaged someone (min_size 2 path on the same runs, relabelled) agree with the model's
    own simulation."""
    values = {"bcm": {"epsilon": 0.3, "p": 0.5, "noise": 0.05}, "ic": {"p": 0.5, "epsilon": 0.5}, "lt": {"epsilon": 0.4}}[name]
    spec = BUILTIN_MODELS[name]
    from engagegen.calibration.cascades import ObservedCascades

    c = ObservedCascades(np.array(["a"]), np.array([0]), np.array([0.45]), (None,), np.array([0, 1]), np.array([1]),
                         np.array([np.nan]), np.array([-1]), np.array([np.nan]), np.array([1]), tiny.n_users)
    scorer = Scorer(tiny, c, tiny.opinions, base_rate=0.1)
    m = scorer.marginals(spec, values, [0], 20000)[0]
    q = np.zeros(tiny.n_users)
    q[m.users] = (m.q - scorer.floor) / 0.99
    runs = spec.build(values, n_runs=20000, seed=0).simulate(tiny, 0, 0.45)
    freq = runs.extra["activation_probability"]
    # P(non-empty) from the same model: the share of runs engaging someone.
    per_run = spec.build(values, n_runs=20000, seed=0)._counts(tiny, 0, np.array([0.45]), False)[0][0]
    nonempty = float((per_run > 0).mean())
    assert np.abs(q - freq / nonempty).max() < 0.02


def test_brier_estimate_does_not_depend_on_the_number_of_runs():
    net = planted_partition_network(400, avg_degree=6, seed=2)
    c = simulate_cascades(net, "ic", {"p": 0.3, "epsilon": 0.4}, 60, seed=1)
    scorer = Scorer(net, c, net.opinions, base_rate=1 / 399)
    spec = BUILTIN_MODELS["ic"]
    few = np.mean([scorer.scores(spec, {"p": 0.3, "epsilon": 0.4}, np.arange(60), 8)[0].mean() for _ in range(1)])
    many = scorer.scores(spec, {"p": 0.3, "epsilon": 0.4}, np.arange(60), 2000)[0].mean()
    assert few == pytest.approx(many, rel=0.05)


def test_a_model_that_engages_nobody_is_scored_worse_than_the_truth():
    net = planted_partition_network(500, avg_degree=8, seed=2)
    c = simulate_cascades(net, "bcm", {"epsilon": 0.2, "p": 0.3, "noise": 0.01}, 80, seed=1)
    scorer = Scorer(net, c, net.opinions, base_rate=1 / 499)
    spec = BUILTIN_MODELS["bcm"]
    idx = np.arange(80)
    truth = scorer.scores(spec, {"epsilon": 0.2, "p": 0.3, "noise": 0.01}, idx, 64)
    nobody = scorer.scores(spec, {"epsilon": 0.01, "p": 0.01, "noise": 0.0}, idx, 64)
    assert truth[1].sum() < nobody[1].sum() and truth[0].sum() < nobody[0].sum()


@pytest.fixture(scope="module")
def planted():
    return planted_partition_network(1500, avg_degree=8, seed=7)


@pytest.mark.parametrize(("true", "values"), [("bcm", {"epsilon": 0.2, "p": 0.25, "noise": 0.01}), ("ic", {"p": 0.25, "epsilon": 0.3}),
                                              ("lt", {"epsilon": 0.3})])
def test_recovers_parameters_and_ranks_the_true_model_best(planted, true, values):
    cascades = simulate_cascades(planted, true, values, 300, seed=11)
    result = Calibrator(("bcm", "ic", "lt"), folds=2, n_runs=48, coarse_cascades=150, fit_cascades=300, validation_runs=32,
                        opinions="network").fit(planted, cascades)
    fit = next(m for m in result.models if m.name == true)
    assert result.best.name == true
    assert abs(fit.values["epsilon"] - values["epsilon"]) <= 0.03
    if "p" in values:
        assert abs(fit.values["p"] - values["p"]) <= 0.06
    metrics_of = {f.name: f.metrics for f in [m.validation for m in result.models] + result.baselines}
    assert metrics_of[true]["roc_auc"] > max(metrics_of[b]["roc_auc"] for b in ("reachable", "opinion", "popularity", "base rate"))


def test_a_custom_model_is_fitted_through_the_protocol(planted):
    cascades = simulate_cascades(planted, "ic", {"p": 0.25, "epsilon": 0.3}, 60, seed=3)
    custom = CustomModel("ic-fixed-eps", lambda p: IndependentCascade(p=p, epsilon=0.3, n_runs=64, seed=0), {"p": (0.05, 0.5, 0.05)})
    result = Calibrator([custom, "lt"], folds=2, coarse_cascades=30, fit_cascades=60, validation_runs=16).fit(planted, cascades)
    fit = result.models[0]
    assert abs(fit.values["p"] - 0.25) <= 0.1
    assert result.best.name == "ic-fixed-eps"


def test_opinions_from_cascades_calibrate_without_reading_held_out_cascades(planted):
    cascades = simulate_cascades(planted, "bcm", {"epsilon": 0.25, "p": 0.25, "noise": 0.01}, 120, seed=5)
    result = Calibrator(("bcm",), folds=2, n_runs=32, coarse_cascades=60, fit_cascades=120, validation_runs=16,
                        opinions="cascades").fit(planted, cascades)
    assert result.opinions is not None and result.opinions.shape == (planted.n_users,)
    assert 0.1 <= result.models[0].values["epsilon"] <= 0.5


def test_calibrate_command_writes_a_run_config_training_accepts(tmp_path, planted):
    from engagegen.training import load_run_config
    from engagegen.training.build import build_audience

    planted.save(tmp_path / "net.npz")
    cascades = simulate_cascades(planted, "bcm", {"epsilon": 0.2, "p": 0.25, "noise": 0.01}, 60, seed=2)
    write_cascades(cascades, tmp_path / "c.jsonl", planted)
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["calibrate", str(tmp_path / "net.npz"), str(tmp_path / "c.jsonl"), "--out", str(out), "--models", "bcm,lt",
            "--folds", "2", "--fit-cascades", "60", "--runs", "16", "--validation-runs", "16", "--opinions", "cascades", "--missing", "neutral"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("results.csv", "fits.json", "report.html", "config.yaml", "config-bcm.yaml", "config-lt.yaml", "network.npz"):
        assert (out / name).exists(), name
    assert "ROC curve" in (out / "report.html").read_text()
    fits = json.loads((out / "fits.json").read_text())
    assert fits["best"] in ("bcm", "lt") and fits["settings"]["opinions"] == "cascades"
    cfg = load_run_config(out / "config-bcm.yaml")
    assert cfg.engagement.model == "bcm-noisy" and cfg.network.path == str((out / "network.npz").resolve())
    audience = build_audience(cfg)
    assert isinstance(audience.engagement, NoisyBoundedConfidence)
    assert audience.engagement.epsilon == fits["models"][0]["values"]["epsilon"]
    assert audience.reward.optimum.value > 0

    again = runner.invoke(app, args)
    assert again.exit_code != 0 and "pass --force" in again.output
    inside = runner.invoke(app, ["calibrate", str(out / "network.npz"), str(tmp_path / "c.jsonl"), "--out", str(out), "--force"])
    assert inside.exit_code != 0 and "is also an input of this command" in inside.output


def test_opinions_command_from_cascades(tmp_path, planted):
    planted.save(tmp_path / "net.npz")
    cascades = simulate_cascades(planted, "bcm", {"epsilon": 0.2, "p": 0.25, "noise": 0.01}, 50, seed=2)
    write_cascades(cascades, tmp_path / "c.jsonl", planted)
    runner = CliRunner()
    base = ["opinions", str(tmp_path / "c.jsonl"), "--from-cascades", "--graph", str(tmp_path / "net.npz"), "--out", str(tmp_path / "o.csv")]
    failed = runner.invoke(app, base)
    assert failed.exit_code == 2 and "engaged with no post" in failed.output
    done = runner.invoke(app, base + ["--missing", "mean"])
    assert done.exit_code == 0, done.output
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "node,opinion" and len(lines) == planted.n_users + 1
