"""Per-user opinions from posts: aggregation, graph matching, fill policies, the node,opinion file
(read back by load_edgelist), and ``engagegen opinions`` end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import engagegen.cli.analyze_cmd  # noqa: F401  (registers the commands)
from engagegen.analysis import (
    AnalysisError,
    NodeOpinions,
    UserOpinions,
    post_authors,
    user_opinions,
    write_opinions,
)
from engagegen.cli.app import app
from engagegen.network import edgelist_nodes, load_edgelist
from engagegen.scoring import (
    StanceClassifier,
    VaderOpinion,
    read_labelled_csv,
    read_posts,
)

STANCE_DATA = Path(__file__).parent / "data" / "scoring_stance_cats.csv"


def flat(output: str) -> str:
    """The output with rich's line wrapping and table borders undone."""
    return " ".join(output.translate(str.maketrans("│┌┐└┘─┬┴", "        ")).split())


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def by_node(net) -> dict[str, float]:
    ids = net.node_ids if net.node_ids is not None else np.arange(net.n_users)
    return {str(i): float(x) for i, x in zip(ids.tolist(), net.opinions.tolist())}


# ---------------------------------------------------------------- aggregation
def test_means_counts_and_std_equal_a_direct_computation():
    rng = np.random.default_rng(7)
    authors = rng.choice(["ann", "bob", " cy ", "dee", "eve", "7", "07"], size=400)
    values = rng.random(400)
    values[rng.random(400) < 0.1] = np.nan  # empty posts: no opinion
    result = user_opinions(authors.tolist(), values)

    groups: dict[str, list[float]] = {}
    for a, v in zip(authors.tolist(), values.tolist()):
        if not np.isnan(v):
            groups.setdefault(a.strip(), []).append(v)
    assert result.users.tolist() == sorted(groups)  # "cy" trimmed; "7" and "07" stay two authors
    for user, mean, n, std in zip(result.users, result.opinion, result.n_posts, result.std):
        assert n == len(groups[user])
        assert mean == pytest.approx(np.mean(groups[user]), abs=1e-12)
        assert std == pytest.approx(np.std(groups[user]), abs=1e-12)
    assert result.posts == 400 and result.unscored_posts == int(np.isnan(values).sum())
    assert len(result.dropped) == 0 and result.min_posts == 1


def test_integer_authors_and_a_single_post():
    result = user_opinions(np.array([3, 1, 3]), [0.25, 1.0, 0.75])
    assert result.users.tolist() == ["1", "3"]
    np.testing.assert_allclose(result.opinion, [1.0, 0.5])
    np.testing.assert_allclose(result.std, [0.0, 0.25])


def test_min_posts_leaves_out_and_lists_the_thin_authors():
    authors = ["a", "a", "a", "b", "b", "c", "d", "d"]
    values = [0.1, 0.2, 0.3, 0.9, np.nan, 0.5, np.nan, np.nan]  # b has one scored post, d none
    result = user_opinions(authors, values, min_posts=2)
    assert result.users.tolist() == ["a"] and result.n_posts.tolist() == [3]
    assert result.dropped.tolist() == ["b", "c", "d"]
    assert user_opinions(authors, values).dropped.tolist() == ["d"]  # no scored post at all


@pytest.mark.parametrize(("authors", "values", "match"), [
    (["a", "b"], [0.5], "one author per post"),
    (["a", ""], [0.5, 0.5], "post 1 has an empty author"),
    (["a", None], [0.5, 0.5], "post 1 has no author"),
    ("ab", [0.5, 0.5], "not a single string"),
    (["a", "b"], [0.5, 1.5], "post 1: opinion value 1.5 is not in"),
    ([], [], "no posts"),
])
def test_bad_arguments_are_named(authors, values, match):
    with pytest.raises(AnalysisError, match=match):
        user_opinions(authors, values)
    with pytest.raises(AnalysisError, match="min_posts"):
        user_opinions(["a"], [0.5], min_posts=0)


# ---------------------------------------------------------------- graph users and fill policies
@pytest.fixture
def posts_of_three() -> UserOpinions:
    # graph users 1..5; author 9 is not one; 4 has a single post (dropped at min_posts=2); 2 and 5 none
    return user_opinions(["1", "1", "3", "3", "4", "9", "9"], [0.2, 0.2, 0.8, 0.6, 0.1, 0.5, 0.5], min_posts=2)


def test_missing_names_the_graph_users_without_an_opinion(posts_of_three):
    assert posts_of_three.missing([5, 4, 3, 2, 1, 1]).tolist() == [2, 4, 5]
    assert posts_of_three.missing(["1", "3"]).tolist() == []  # integer strings compare as numbers too


def test_error_policy_says_how_many_why_and_which(posts_of_three):
    with pytest.raises(AnalysisError) as err:
        posts_of_three.for_nodes([1, 2, 3, 4, 5])
    message = str(err.value)
    assert "3 of 5 graph users have no opinion" in message
    assert "2 without posts, 1 with fewer than 2 scored posts" in message
    assert "2, 4, 5" in message and "neutral" in message and "mean" in message
    many = user_opinions(["0"], [0.5]).for_nodes
    with pytest.raises(AnalysisError, match=r"9 of 10 .*: 1, 2, 3, 4, 5, \.\.\."):
        many(range(10))


def test_neutral_and_mean_fill_and_authors_outside_the_graph(posts_of_three):
    neutral = posts_of_three.for_nodes(np.arange(1, 6), missing="neutral")
    assert isinstance(neutral, NodeOpinions)
    assert neutral.nodes.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(neutral.opinion, [0.2, 0.5, 0.7, 0.5, 0.5])
    assert neutral.filled.tolist() == [False, True, False, True, True] and neutral.n_filled == 3
    assert neutral.n_posts.tolist() == [2, 0, 2, 0, 0]
    assert neutral.not_in_graph.tolist() == ["9"] and neutral.fill_value == 0.5
    mean = posts_of_three.for_nodes(np.arange(1, 6), missing="mean")
    # the mean over graph users with an opinion (1 and 3), not over all authors (9 is outside)
    assert mean.fill_value == pytest.approx(0.45) and mean.opinion[[1, 3, 4]] == pytest.approx([0.45] * 3)
    with pytest.raises(AnalysisError, match="missing must be one of"):
        posts_of_three.for_nodes([1], missing="zero")
    for policy in ("error", "mean"):
        with pytest.raises(AnalysisError, match="none of the 2 graph users has an opinion.*authors '1', '3', '9'"):
            posts_of_three.for_nodes(["x", "y"], missing=policy)


def test_integer_ids_match_as_numbers_and_clashes_are_errors():
    ops = user_opinions(["007", "x", "12"], [0.9, 0.1, 0.4])
    res = ops.for_nodes([7, 12])
    np.testing.assert_allclose(res.opinion, [0.9, 0.4])
    assert res.not_in_graph.tolist() == ["x"]
    strings = ops.for_nodes(["x", "12", "a"], missing="neutral")  # not all integers: exact strings
    assert strings.nodes.tolist() == ["12", "a", "x"] and strings.filled.tolist() == [False, True, False]
    with pytest.raises(AnalysisError, match="'07' and '7' are the same graph user 7"):
        user_opinions(["7", "07"], [0.1, 0.2]).for_nodes([7])


# ---------------------------------------------------------------- files
def test_edgelist_nodes_reads_ids_as_load_edgelist_does(tmp_path):
    ints = tmp_path / "ints.txt"
    ints.write_text("# a comment\nfollower followee\n3 10\n10 2   # trailing comment\n\n2 3\n")
    assert edgelist_nodes(ints).tolist() == [2, 3, 10]
    names = tmp_path / "names.csv"
    names.write_text('source,target\nann,"smith, bob"\n"smith, bob",cy\n')
    assert edgelist_nodes(names).tolist() == ["ann", "cy", "smith, bob"]


@pytest.mark.parametrize("direction", ["follow", "influence"])
def test_written_file_loads_back_with_load_edgelist(tmp_path, direction):
    edges = tmp_path / "edges.csv"
    edges.write_text('source,target\nann,"smith, bob"\n"smith, bob",cy\ncy,dee\n')
    ops = user_opinions(["ann", "smith, bob", "cy", "ann", "zed"], [0.25, 0.6, 1.0, 0.5, 0.3])
    res = ops.for_nodes(edgelist_nodes(edges), missing="mean")
    path = write_opinions(res, tmp_path / "out" / "opinions.csv")
    assert path.read_text().splitlines()[0] == "node,opinion"
    net = load_edgelist(edges, path, direction=direction)
    mean = np.mean([0.375, 0.6, 1.0])
    assert by_node(net) == pytest.approx({"ann": 0.375, "cy": 1.0, "dee": mean, "smith, bob": 0.6}, abs=1e-6)
    assert net.n_edges == 3 and res.not_in_graph.tolist() == ["zed"]


def test_integer_graph_round_trip_and_the_authors_only_file(tmp_path):
    edges = write_csv(tmp_path / "edges.csv", ("source", "target"), [(0, 1), (1, 2), (2, 0), (2, 10)])
    ops = user_opinions(["0", "01", "1", "10", "alice"], [0.123456789, 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(AnalysisError, match="'01' and '1' are the same graph user 1"):
        ops.for_nodes(edgelist_nodes(edges))
    ops = user_opinions(["0", "1", "2", "010"], [0.123456789, 0.2, 0.3, 0.4])
    write_opinions(ops.for_nodes(edgelist_nodes(edges)), tmp_path / "o.csv", decimals=4)
    net = load_edgelist(edges, tmp_path / "o.csv")
    assert net.node_ids.tolist() == [0, 1, 2, 10]
    np.testing.assert_allclose(net.opinions, [0.1235, 0.2, 0.3, 0.4])
    # without a graph: every author; load_edgelist matches "010" to user 10 and keeps "3" isolated
    write_opinions(user_opinions(["0", "1", "2", "010", "3"], [0.1, 0.2, 0.3, 0.4, 0.5]), tmp_path / "all.csv")
    net = load_edgelist(edges, tmp_path / "all.csv")
    assert net.n_users == 5 and by_node(net)["10"] == pytest.approx(0.4)


def test_ids_that_would_not_load_back_are_refused(tmp_path):
    with pytest.raises(AnalysisError, match="'#ann' contains '#'"):
        write_opinions(user_opinions(["#ann"], [0.5]), tmp_path / "o.csv")
    with pytest.raises(AnalysisError, match="UserOpinions or NodeOpinions"):
        write_opinions({"a": 0.5}, tmp_path / "o.csv")  # type: ignore[arg-type]
    assert not (tmp_path / "o.csv").exists()


def test_post_authors_errors_name_file_line_and_column(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [{"text": "a", "user": "u1"}, {"text": "b", "user": " "},
                                                        {"text": "c"}]) + "\n")
    records = read_posts(jsonl)
    assert post_authors(records[:1], "user").tolist() == ["u1"]
    with pytest.raises(AnalysisError, match=r"p.jsonl, line 2: empty author \(column 'user'\)"):
        post_authors(records, "user", where=str(jsonl))
    with pytest.raises(AnalysisError, match=r"p.jsonl, line 3: missing author"):
        post_authors([records[0], records[2]], "user", where=str(jsonl))
    with pytest.raises(AnalysisError, match=r"p.jsonl: no column 'author' .*--author-column"):
        post_authors(records, "author", where=str(jsonl))


# ---------------------------------------------------------------- CLI
POSTS = [("1", "I love my cat so much, she is wonderful!"), ("1", "Cats are great."), ("2", "I hate cats, awful creatures."),
         ("3", ""), ("3", "What a lovely happy day with my kitten."), ("9", "Cats are fine I guess.")]


@pytest.fixture
def posts_and_graph(tmp_path) -> tuple[Path, Path]:
    posts = write_csv(tmp_path / "posts.csv", ("user", "text"), POSTS)
    graph = write_csv(tmp_path / "edges.csv", ("source", "target"), [(1, 2), (2, 3), (3, 4), (4, 1)])
    return posts, graph


def run(*args: object):
    return CliRunner().invoke(app, ["opinions", *map(str, args)], env={"COLUMNS": "250"})


def test_cli_vader_with_graph_fill_and_report(posts_and_graph, tmp_path):
    posts, graph = posts_and_graph
    out = tmp_path / "opinions.csv"
    refused = run(posts, "--author-column", "user", "--graph", graph, "--out", out)
    assert refused.exit_code == 2 and not out.exists()
    assert "1 of 4 graph users have no opinion (1 without posts): 4" in flat(refused.output)
    result = run(posts, "--author-column", "user", "--graph", graph, "--missing", "mean", "--out", out)
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    for phrase in ("empty posts (no opinion) 1", "graph users 4", "authors not in the graph (left out) 1",
                   "--missing mean", "filled: 4", "not in the graph: 9", "wrote"):
        assert phrase in text
    vader = VaderOpinion().score([t for _, t in POSTS if t])
    expected = {"1": vader[:2].mean(), "2": vader[2], "3": vader[3]}
    expected["4"] = np.mean(list(expected.values()))
    assert by_node(load_edgelist(graph, out)) == pytest.approx(expected, abs=1e-6)


def test_cli_without_graph_writes_every_author(posts_and_graph, tmp_path):
    posts, _ = posts_and_graph
    result = run(posts, "--author-column", "user", "--min-posts", "2", "--out", tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    assert "left out (< 2 scored posts) 3" in flat(result.output)  # 2 and 9 with one post, 3 one scored
    assert [r["node"] for r in csv.DictReader((tmp_path / "o.csv").open())] == ["1"]


def test_cli_missing_author_column_names_the_column_and_the_file(posts_and_graph, tmp_path):
    posts, graph = posts_and_graph
    result = run(posts, "--graph", graph, "--out", tmp_path / "o.csv")
    assert result.exit_code == 2
    assert f"{posts}: no column 'author'" in flat(result.output) and "columns: user, text" in flat(result.output)
    bad_graph = run(posts, "--author-column", "user", "--graph", tmp_path / "nope.csv", "--out", tmp_path / "o.csv")
    assert bad_graph.exit_code == 2 and "no such file" in flat(bad_graph.output)


@pytest.mark.slow
def test_cli_with_a_trained_stance_classifier(posts_and_graph, tmp_path):
    posts, graph = posts_and_graph
    clf = StanceClassifier().fit(*read_labelled_csv(STANCE_DATA))
    clf.save(tmp_path / "stance")
    out = tmp_path / "opinions.csv"
    result = run(posts, "--author-column", "user", "--stance", tmp_path / "stance", "--graph", graph,
                 "--missing", "neutral", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"stance classifier {tmp_path / 'stance'}" in flat(result.output)
    s = clf.score([t for _, t in POSTS if t])
    got = by_node(load_edgelist(graph, out, direction="follow"))
    assert got == pytest.approx({"1": s[:2].mean(), "2": s[2], "3": s[3], "4": 0.5}, abs=1e-6)
    assert got["1"] > 0.5 > got["2"]  # the classifier's stance, not VADER's sentiment
