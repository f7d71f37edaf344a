"""Replies (audience, engagement, reward, CLI), chat, post analysis and the network report, end to end.

Generation runs on the tiny random Llama of conftest.py (gibberish text, real plumbing); scoring
uses the real offline scorers (VADER, MiniLM, moderation rules).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import engagegen.cli.analyze_cmd  # noqa: F401  (registers the commands)
import engagegen.cli.chat_cmd  # noqa: F401
import engagegen.cli.network_report_cmd  # noqa: F401
import engagegen.cli.reply_cmd  # noqa: F401
from engagegen.analysis import analyze_posts, network_report, polarization_index
from engagegen.cli.app import app
from engagegen.engagement import BoundedConfidenceCascade
from engagegen.interaction import ChatSession, ReplyEngagement, ReplyReward, ReplyTarget, reply_audience
from engagegen.network import SocialNetwork, opinion_assortativity, paper_network, place_agent
from engagegen.reward import EngagementReward, RewardError
from engagegen.reward.lookup import EngagementLookup
from engagegen.scoring import VaderOpinion

runner = CliRunner()


def flat(text: str) -> str:
    """Command output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def net_file(tmp_path_factory: pytest.TempPathFactory):
    net = paper_network("uniform")
    path = tmp_path_factory.mktemp("net") / "net.npz"
    net.save(path)
    return net, path


# ------------------------------------------------------------------------------------------ replies


def test_reply_audience_and_engagement():
    #        author 0 reaches 1, 2, 3; user 4 joined the thread; 5 is the replier; 6 is outside
    net = SocialNetwork.from_edges([(0, 1), (0, 2), (0, 3), (0, 5), (4, 0), (6, 1)], [0.5, 0.1, 0.8, 0.85, 0.3, 0.9, 0.5])
    assert reply_audience(net, 0, [4], exclude=5).tolist() == [0, 1, 2, 3, 4]
    model = ReplyEngagement(author=0, thread=[4])
    assert model.engagement(net, 5, [0.8, 0.45, 0.0]).tolist() == [2, 2, 1]  # {2, 3}; {0, 4}; {1}
    assert model.simulate(net, 5, 0.8).active.tolist() == [2, 3]
    opt = model.optimum(net, 5)
    grid = np.linspace(0, 1, 20001)
    assert opt.value == model.engagement(net, 5, grid).max() == 3 and opt.exact  # 0.5, 0.8, 0.85 near 0.65
    lookup = EngagementLookup(net, 5, model)
    assert np.array_equal(lookup(grid[::7]), model.engagement(net, 5, grid[::7]).astype(float))
    with pytest.raises(Exception, match="author 9 does not exist"):
        model_bad = ReplyEngagement(author=9)
        model_bad.engagement(net, 5, [0.5])


def test_reply_reward_relevance_copies_and_routing(net_file):
    net, _ = net_file
    agent = place_agent(net, "central")
    hub, leaf = int(np.argmax(net.out_degree * (np.arange(net.n_users) != agent))), int(np.argmin(net.out_degree))
    post = "My cat knocked a glass off the table this morning."
    other = "The city council voted to raise parking fees downtown."
    reward = ReplyReward(net, agent, [ReplyTarget(post, hub), ReplyTarget(other, leaf)], VaderOpinion())
    replies = ["Cats love knocking things off tables, my cat does it too!",
               "Parking fees are a matter for the council.",
               post,
               "I will kill you"]
    out = reward.score(replies)
    assert out.topic[0] > out.topic[1]  # relevance to the post
    assert out.total[0] > out.total[1]
    assert out.total[2] == 0 and out.reason[2] == "copies the post"
    assert out.total[3] == 0 and out.flags[3] == ["threat"]
    # The TRL call routes each prompt to its post: the two posts have audiences of different sizes.
    prompts = [f"Reply to this social media post: {post}", f"Reply to this social media post: {other}"]
    reward(prompts=prompts, completions=["Cats are great", "Cats are great"])
    hub_readers = len(reply_audience(net, hub, exclude=agent))
    leaf_readers = len(reply_audience(net, leaf, exclude=agent))
    assert reward.rewards[0].optimum.value <= hub_readers and reward.rewards[1].optimum.value <= leaf_readers
    assert reward.last.engaged[0] <= hub_readers and reward.last.engaged[1] <= leaf_readers
    with pytest.raises(RewardError, match="names none of the 2 posts"):
        reward(prompts=["Reply to: something else"], completions=["ok"])
    with pytest.raises(RewardError, match="author of post 0"):
        ReplyReward(net, agent, [ReplyTarget(post, 10_000)], VaderOpinion())


def test_reply_reward_from_a_posts_file_routes_trainer_prompts(net_file, smollm2_tokenizer, tmp_path):
    from engagegen.generation import build_prompts

    net, _ = net_file
    agent = place_agent(net, "central")
    path = tmp_path / "posts.csv"
    path.write_text("text,author,thread\nMy cat sleeps all day.,3,5;7\nDogs bark at night.,11,\n")
    reward = ReplyReward.from_posts_file(net, agent, path, VaderOpinion(), thread_column="thread")
    assert [t.author for t in reward.targets] == [3, 11] and reward.targets[0].thread == (5, 7)
    prompts = build_prompts("reply", "pets", posts_file=path, tokenizer=smollm2_tokenizer)  # as the trainer builds them
    out = reward.score(["Cats do sleep a lot.", "Dogs do bark."], prompts)
    readers = [len(reply_audience(net, t.author, t.thread, exclude=agent)) for t in reward.targets]
    assert out.engaged[0] <= readers[0] and out.engaged[1] <= readers[1]
    assert reward.optimum.value == pytest.approx(np.mean([r.optimum.value for r in reward.rewards]))
    path.write_text("text,author\nMy cat sleeps all day.,500\n")
    with pytest.raises(RewardError, match="line 2: unknown author '500'"):
        ReplyReward.from_posts_file(net, agent, path, VaderOpinion())


def test_reply_cli_end_to_end(net_file, tiny_model_dir, tmp_path):
    net, path = net_file
    out = tmp_path / "replies.csv"
    args = ["reply", "--post", "My cat sleeps all day.", "--author", "3", "--network", str(path), "--model",
            str(tiny_model_dir), "-n", "3", "--max-new-tokens", "8", "--seed", "0", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3
    readers = reply_audience(net, 3, exclude=place_agent(net, "central"))
    assert all(0 <= float(r["engaged"]) <= len(readers) for r in rows)
    assert [float(r["reward"]) for r in rows] == sorted((float(r["reward"]) for r in rows), reverse=True)
    bad = runner.invoke(app, args[:3] + ["--author", "999"] + args[5:] + ["--force"])
    assert bad.exit_code == 2 and "author 999 does not exist" in flat(bad.output)


def run_config_file(tmp_path, net_path):
    """A run config of another audience than the commands' defaults (network file, agent, epsilon, topic)."""
    config = tmp_path / "run.yaml"
    config.write_text(f"topic: dogs\nagent: degree-high\nengagement: {{epsilon: 0.3}}\n"
                      f"network: {{source: file, path: {net_path}}}\nscoring: {{fluency_model: null}}\n")
    return config


def test_reply_with_a_run_config_scores_as_training_in_reply_mode(net_file, tiny_model_dir, tmp_path):
    from dataclasses import replace

    from engagegen.training import load_run_config
    from engagegen.training.build import build_audience

    net, path = net_file
    config, out = run_config_file(tmp_path, path), tmp_path / "replies.csv"
    post = "My dog sleeps all day."
    result = runner.invoke(app, ["reply", "--post", post, "--author", "3", "--thread", "5, 7", "--config", str(config),
                                 "--model", str(tiny_model_dir), "-n", "3", "--max-new-tokens", "8", "--seed", "0",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    # the reward training builds from the config in reply mode, for a posts file holding this post
    posts = tmp_path / "posts.csv"
    posts.write_text(f"text,author,thread\n{post},3,5;7\n")
    cfg = load_run_config(config)
    expected = build_audience(replace(cfg, generation=replace(cfg.generation, mode="reply", reply_posts=str(posts)))).reward
    assert expected.targets[0].thread == (5, 7) and expected.agent == place_agent(net, "degree-high")
    scored = expected.score([r["reply"] for r in rows])
    assert [float(r["reward"]) for r in rows] == scored.total.tolist()
    assert [float(r["engaged"]) for r in rows] == scored.engaged.tolist()
    readers = len(reply_audience(net, 3, (5, 7), exclude=expected.agent))
    assert f"replies to user 3: {readers} reader(s)" in flat(result.output)
    assert f"(agent {expected.agent})" in flat(result.output)


def test_reply_with_an_adapter_samples_as_its_run_did(net_file, tmp_path, monkeypatch):
    import engagegen.cli.reply_cmd as reply_cmd

    calls = []

    class RecordingModel:  # a fake adapter cannot load: record how the model is built and asked
        def __init__(self, model, adapter=None, chat=True, allow_download=False):
            calls.append({"model": model, "adapter": adapter})

        def generate(self, prompts, n=1, **options):
            calls.append(options)
            return [["Dogs do sleep a lot."] * n]

    monkeypatch.setattr(reply_cmd, "LocalModel", RecordingModel)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "generation.json").write_text(json.dumps({"model": "base", "mode": "reply", "prompt": "", "topic": "pets",
                                                         "max_new_tokens": 24, "temperature": 0.6, "top_p": 0.95}))
    _, path = net_file
    result = runner.invoke(app, ["reply", "--post", "My dog sleeps all day.", "--author", "3", "--network", str(path),
                                 "--adapter", str(adapter), "-n", "2", "--temperature", "0.4"])
    assert result.exit_code == 0, result.output
    assert calls == [{"model": "base", "adapter": adapter},
                     {"max_new_tokens": 24, "temperature": 0.4, "top_p": 0.95, "seed": None}]


# ------------------------------------------------------------------------------------------ chat


def test_chat_session_keeps_the_conversation(net_file, tiny_model_dir):
    from engagegen.generation import LocalModel

    net, _ = net_file
    agent = place_agent(net, "central")
    reward = EngagementReward(net, agent, BoundedConfidenceCascade(0.2), VaderOpinion(), topic="cats")
    session = ChatSession(LocalModel(str(tiny_model_dir)), reward, max_new_tokens=6, seed=0)
    first = session.ask("Tell me about cats.")
    assert "Tell me about cats." in session._prompt("And dogs?") and first.text in session._prompt("And dogs?")
    second = session.ask("And dogs?")
    assert len(session.turns) == 2 and second.breakdown.engaged[0] == reward.lookup([second.breakdown.opinion[0]])[0]
    session.reset()
    assert "Tell me about cats." not in session._prompt("Hi")


def test_chat_cli_reads_piped_input(net_file, tiny_model_dir):
    _, path = net_file
    args = ["chat", "--network", str(path), "--model", str(tiny_model_dir), "--max-new-tokens", "6", "--seed", "1"]
    result = runner.invoke(app, args, input="hello there\n/reset\ntell me about cats\n/quit\nnever read\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("engages") == 2 and "conversation forgotten" in result.output
    assert result.output.count("opinion") >= 2 and "flags:" in result.output
    ended = runner.invoke(app, args, input="hi\n")  # end of input ends the session
    assert ended.exit_code == 0 and ended.output.count("engages") == 1


def test_chat_with_a_run_config_scores_with_that_runs_reward(net_file, tiny_model_dir, tmp_path, monkeypatch):
    from dataclasses import replace

    import engagegen.cli.chat_cmd as chat_cmd
    from engagegen.training import load_run_config
    from engagegen.training.build import build_audience

    sessions = []

    class RecordedSession(ChatSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            sessions.append(self)

    monkeypatch.setattr(chat_cmd, "ChatSession", RecordedSession)
    _, path = net_file
    config = run_config_file(tmp_path, path)
    args = ["chat", "--config", str(config), "--model", str(tiny_model_dir), "--max-new-tokens", "6", "--seed", "1"]
    result = runner.invoke(app, args, input="hi\n")
    assert result.exit_code == 0, result.output
    cfg = load_run_config(config)
    expected = build_audience(cfg).reward
    posts = ["Dogs are loyal and kind.", "I can't stand dogs barking all night."]
    got, want = sessions[0].reward.score(posts), expected.score(posts)
    assert got.total.tolist() == want.total.tolist() and got.engaged.tolist() == want.engaged.tolist()
    assert f"agent at user {expected.source} · optimum {expected.optimum.value:g} users" in flat(result.output)
    assert "topic 'dogs'" in flat(result.output)
    # an option given on the command line changes the config's setting
    result = runner.invoke(app, [*args, "--epsilon", "0.05", "--topic", "cats"], input="hi\n")
    assert result.exit_code == 0, result.output
    narrow = build_audience(replace(cfg, topic="cats", engagement=replace(cfg.engagement, epsilon=0.05))).reward
    assert sessions[1].reward.score(posts).total.tolist() == narrow.score(posts).total.tolist()
    assert f"optimum {narrow.optimum.value:g} users" in flat(result.output) and "topic 'cats'" in flat(result.output)


# ------------------------------------------------------------------------------------------ analysis


POSTS = [
    ("Cats are wonderful and I love my kitten!", "u1"),
    ("I hate cats, they are terrible pets.", "u2"),
    ("I will find you and hurt you", "u3"),
    ("Mi gato duerme todo el día y es muy feliz.", "u4"),
    ("", "u5"),
    ("Interest rates rose again this quarter.", "u6"),
]


def test_analyze_posts_scores_every_post():
    result = analyze_posts([t for t, _ in POSTS], topic="cats")
    rows = result.rows
    assert rows[0]["opinion"] > 0.6 > 0.4 > rows[1]["opinion"]
    assert rows[0]["sentiment"] > 0 > rows[1]["sentiment"]
    assert rows[0]["topic_similarity"] > 0.2 > rows[5]["topic_similarity"]
    assert rows[2]["flags"] == "threat" and rows[3]["language"] == "es"
    assert rows[4]["note"] == "empty post" and np.isnan(rows[4]["opinion"])
    s = result.summary()
    assert s["posts"] == 6 and s["empty"] == 1 and s["flags_by_category"]["threat"] == 1 and s["non_english"] == 1


def test_analyze_cli_writes_csv_and_html(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps({"body": t, "user": u}) + "\n" for t, u in POSTS))
    result = runner.invoke(app, ["analyze", str(path), "--text-column", "body", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "out" / "posts.csv").open()))
    assert [r["text"] for r in rows] == [t for t, _ in POSTS] and rows[2]["flags"] == "threat"
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("data:image/png;base64") == 2 and "Moderation flags by category" in page
    missing = runner.invoke(app, ["analyze", str(path)])  # no "text" field in the JSONL
    assert missing.exit_code == 2 and "line 1: no field 'text'" in flat(missing.output)


def test_network_report(net_file, tmp_path):
    net, path = net_file
    rep = network_report(net)
    assert rep.echo_chamber == pytest.approx(opinion_assortativity(net))
    assert rep.polarization == pytest.approx(polarization_index(net.opinions)) and polarization_index([0, 1]) == 1.0
    assert sum(c["users"] for c in rep.communities) == net.n_users
    central = next(r for r in rep.positions if r["position"] == "central")
    assert central["user"] == place_agent(net, "central") and central["out_degree"] == net.out_degree[central["user"]]
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["network", "report", str(path), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert "polarization index" in result.output and out.read_text().count("data:image/png") == 1
    bad = runner.invoke(app, ["network", "report", str(tmp_path / "none.npz")])
    assert bad.exit_code == 2 and "no such network file" in flat(bad.output)
