"""``engagegen scorer train``: cross-validated metrics as a table, a saved scorer that loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import engagegen.cli.scorer_cmd  # noqa: F401  (registers the command group)
from engagegen.cli.app import app
from engagegen.scoring import StanceClassifier

pytestmark = pytest.mark.slow
DATA = Path(__file__).parent / "data" / "scoring_stance_cats.csv"


def run(*args: str):
    return CliRunner().invoke(app, ["scorer", "train", *map(str, args)])


def flat(output: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(output.split())


def test_train_prints_metrics_and_saves_a_loadable_scorer(tmp_path):
    out = tmp_path / "scorer"
    result = run(DATA, "--out", out)
    assert result.exit_code == 0, result.output
    for word in ("accuracy", "ROC-AUC", "macro-F1", "5-fold cross-validation on 50 posts"):
        assert word in result.output
    clf = StanceClassifier.load(out)
    s = clf.score(["Cats are the sweetest pets.", "Cats are awful and selfish."])
    assert s[0] > 0.5 > s[1]
    again = run(DATA, "--out", out)
    assert again.exit_code == 2 and "--force" in flat(again.output)
    assert run(DATA, "--out", out, "--force", "--method", "isotonic").exit_code == 0


def test_columns_and_label_map(tmp_path):
    rows = DATA.read_text(encoding="utf-8").splitlines()
    custom = tmp_path / "custom.csv"
    custom.write_text("\n".join(["post,side"] + [r.rsplit(",", 1)[0] + "," + ("pro" if r.endswith("1") else "anti")
                                                 for r in rows[1:]]) + "\n", encoding="utf-8")
    result = run(custom, "--out", tmp_path / "m", "--text-column", "post", "--label-column", "side",
                 "--label-map", "pro=1", "--label-map", "anti=0", "--folds", "3")
    assert result.exit_code == 0, result.output
    assert "3-fold" in result.output
    loaded = StanceClassifier.load(tmp_path / "m")
    reference = StanceClassifier(folds=3).fit(*zip(*[(r.rsplit(",", 1)[0], int(r[-1])) for r in rows[1:]]))
    np.testing.assert_allclose(loaded.score(["Cats!"]), reference.score(["Cats!"]))


def test_bad_input_is_one_clear_error(tmp_path):
    shutil.copy(DATA, tmp_path / "d.csv")
    result = run(tmp_path / "d.csv", "--out", tmp_path / "m", "--label-column", "side")
    assert result.exit_code == 2
    assert "d.csv, line 1: no column 'side'" in flat(result.output) and "Traceback" not in result.output
    result = run(tmp_path / "d.csv", "--out", tmp_path / "m", "--label-map", "pro")
    assert result.exit_code == 2 and "LABEL=0 or LABEL=1" in flat(result.output)
    result = run(tmp_path / "missing.csv", "--out", tmp_path / "m")
    assert result.exit_code == 2 and "no such file" in flat(result.output)


def test_score_with_a_run_config_gives_that_runs_reward(tmp_path: Path) -> None:
    import csv

    from engagegen.training import load_run_config
    from engagegen.training.build import build_audience

    config = tmp_path / "run.yaml"
    config.write_text("topic: dogs\nagent: degree-high\nengagement: {epsilon: 0.3}\n"
                      "network: {opinions: uniform}\nscoring: {fluency_model: null}\n")
    posts = ["Dogs are loyal and kind.", "I can't stand dogs barking all night.", "Dogs. Dogs everywhere."]
    (tmp_path / "posts.csv").write_text("text\n" + "\n".join(posts) + "\n")
    result = CliRunner().invoke(app, ["score", str(tmp_path / "posts.csv"), "--config", str(config),
                                      "--out", str(tmp_path / "scored.csv")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "scored.csv").open()))
    expected = build_audience(load_run_config(config)).reward.score(posts)
    assert [float(r["total"]) for r in rows] == pytest.approx(expected.total.tolist())
    assert [float(r["engaged"]) for r in rows] == expected.engaged.tolist()
    # an option given on the command line changes the config's setting
    from dataclasses import replace

    cfg = load_run_config(config)
    narrow = build_audience(replace(cfg, engagement=replace(cfg.engagement, epsilon=0.05))).reward.optimum.value
    assert narrow != build_audience(cfg).reward.optimum.value  # another audience than the config's
    result = CliRunner().invoke(app, ["score", "--post", posts[0], "--config", str(config), "--epsilon", "0.05"])
    assert result.exit_code == 0, result.output
    assert f"optimum {narrow:g} users" in " ".join(result.output.split())
