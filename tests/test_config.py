from dataclasses import dataclass, field
from typing import Literal

import pytest

from engagegen.config import ConfigError, dump_yaml, from_dict, load_yaml, to_dict


@dataclass
class Inner:
    epsilon: float = 0.2
    kind: Literal["bcm", "ic"] = "bcm"

    def __post_init__(self):
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon}")


@dataclass
class Outer:
    engagement: Inner = field(default_factory=Inner)
    steps: int = 10
    agent: str | int = "central"
    seeds: list[int] = field(default_factory=lambda: [1])


def test_nested_values_and_round_trip(tmp_path):
    cfg = from_dict(Outer, {"engagement": {"epsilon": 0.3, "kind": "ic"}, "steps": 5, "agent": 7})
    assert cfg.engagement.epsilon == 0.3 and cfg.engagement.kind == "ic" and cfg.agent == 7
    dump_yaml(cfg, tmp_path / "c.yaml")
    assert from_dict(Outer, load_yaml(tmp_path / "c.yaml")) == cfg
    assert to_dict(cfg)["engagement"] == {"epsilon": 0.3, "kind": "ic"}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"engagement": {"epsilonn": 0.3}}, "engagement.epsilonn: unknown key"),
        ({"steps": "ten"}, "steps: must be an integer"),
        ({"steps": True}, "steps: must be an integer"),
        ({"engagement": {"kind": "lt"}}, "engagement.kind: must be one of 'bcm', 'ic'"),
        ({"engagement": {"epsilon": -1}}, "engagement: epsilon must be > 0"),
        ({"seeds": [1, "x"]}, r"seeds\[1\]: must be an integer"),
        ({"agent": 1.5}, "agent: must be a string or must be an integer, got 1.5"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_yaml_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 3\nengagement: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml, line \d+: not valid YAML"):
        load_yaml(bad)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_yaml(tmp_path / "list.yaml")
