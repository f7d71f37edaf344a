"""A user's own engagement model, defined outside engagegen, trains a policy: through the public
API (an object given to the trainer) and through a run config (an import path in YAML)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engagegen.config import ConfigError, from_dict
from engagegen.training import EngagementTrainer, RunConfig, load_run_config
from engagegen.training.build import build_audience

# One module's text, used twice: imported from a file on sys.path for the YAML route, and executed
# here for the object route, so both train against the same plain class.
USER_MODULE = textwrap.dedent('''
    import numpy as np
    from engagegen.engagement import Cascade, Interval, Optimum, check_messages
    

    class NegativeFans:
        """Users engage with posts more negative than their own opinion, up to ``reach`` users."""

        def __init__(self, reach=10):
            self.reach = reach

        def engagement(self, network, source, messages):
            s = check_messages(messages)
            below = (network.opinions[None, :] > s[:, None]).sum(axis=1)
            return np.minimum(below, self.reach).astype(float)

        def simulate(self, network, source, message):
            active = np.flatnonzero(network.opinions > message)[: self.reach]
            return Cascade(engaged=float(len(active)), active=active, message=float(message), source=source)

        def optimum(self, network, source):
            return Optimum(value=float(min(self.reach, (network.opinions > 0).sum())), message=0.0,
                           intervals=(Interval(0.0, 0.0, True, True),), exact=True, method="closed form")
''')


def user_namespace() -> dict:
    namespace: dict = {}
    exec(compile(USER_MODULE, "user_model.py", "exec"), namespace)  # noqa: S102  (the test's own code)
    return namespace


def small_run(model_dir: Path, **engagement: object) -> RunConfig:
    return from_dict(RunConfig, {
        "topic": "cats",
        "generation": {"model": str(model_dir), "max_new_tokens": 8},
        "scoring": {"fluency_model": None},
        "reward": {"cut_off": 1.0},  # the tiny model's gibberish never ends a sentence
        "engagement": engagement or {"model": "bcm"},
        "training": {"stages": [{"steps": 2, "learning_rate": 1e-3}], "group_size": 4, "checkpoint_every": 2},
        "evaluation": {"every": 2, "during_samples": 4, "samples": 4, "best_of_n_top": 4, "best_of_n_max": 8},
    })


def test_an_object_of_a_users_class_trains_a_policy(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = user_namespace()["NegativeFans"](reach=7)
    summary = EngagementTrainer(small_run(tiny_model_dir), tmp_path / "run", engagement=model).train(progress=False)
    assert summary["engagement_model"].endswith(":NegativeFans") and summary["optimum"] == 7.0
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    # every post's engagement is the user's model at the post's opinion value
    net = build_audience(small_run(tiny_model_dir)).network
    s = np.array([row["opinion"] for row in samples])
    assert [row["engaged"] for row in samples] == model.engagement(net, 0, s).tolist()
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_an_import_path_in_the_run_config_trains_a_policy(tiny_model_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "mypackage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "audience.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "run.yaml"
    config.write_text(textwrap.dedent(f"""
        topic: cats
        generation: {{model: {tiny_model_dir}, max_new_tokens: 8}}
        scoring: {{fluency_model: null}}
        reward: {{cut_off: 1.0}}
        engagement:
          model: "mypackage.audience:NegativeFans"
          options: {{reach: 5}}
        training:
          stages: [{{steps: 2, learning_rate: 0.001}}]
          group_size: 4
        evaluation: {{every: 2, during_samples: 4, samples: 4, best_of_n_top: 4, best_of_n_max: 8}}
    """))
    cfg = load_run_config(config)
    summary = EngagementTrainer(cfg, tmp_path / "run").train(progress=False)
    assert summary["engagement_model"] == "mypackage.audience:NegativeFans" and summary["optimum"] == 5.0
    assert load_run_config(tmp_path / "run" / "config.yaml").engagement.options == {"reach": 5}
    sys.modules.pop("mypackage.audience", None)


@pytest.mark.parametrize(("engagement", "message"), [
    ({"model": "no_such_package.mod:Model"}, "cannot import 'no_such_package.mod'"),
    ({"model": "json:NoSuchClass"}, "json has no 'NoSuchClass'"),
    ({"model": "json:JSONDecoder"}, r"not an engagement model \(it lacks simulate, engagement, optimum"),
    ({"model": "collections:OrderedDict", "options": {"reach": 1}}, None),  # builds, but is no model either
    ({"model": "fractions:Fraction", "options": {"nope": 1}}, "engagement.options do not fit its arguments"),
])
def test_a_bad_user_model_is_a_clear_error(tiny_model_dir: Path, engagement: dict, message: str | None) -> None:
    with pytest.raises(ConfigError, match=message or "not an engagement model"):
        build_audience(small_run(tiny_model_dir, **engagement))


def test_bad_model_names_and_options_name_the_key(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="engagement.model must be one of bcm.*or an import path"):
        small_run(tiny_model_dir, model="bcm2")
    with pytest.raises(ConfigError, match="engagement.options are the keyword arguments of a user's own model"):
        small_run(tiny_model_dir, model="ic", options={"p": 0.3})
    with pytest.raises(ConfigError, match="not an engagement model"):
        EngagementTrainer(small_run(tiny_model_dir), "unused", engagement=object())

