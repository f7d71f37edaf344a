import re
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import engagegen.cli.network_cmd  # noqa: F401  (registers `engagegen network`)
from engagegen.cli.app import app
from engagegen.network import NetworkError, NetworkWarning, SocialNetwork, load_edgelist, planted_partition_network


def write(path, text, mode="w"):
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def opinions_file(tmp_path):
    return write(tmp_path / "opinions.csv", "node,opinion\nalice,0.2\nbob,0.4\ncarol,0.9\ndave,0.5\n")


def test_string_ids_comments_blank_lines_and_isolated_users(tmp_path, opinions_file):
    edges = write(tmp_path / "e.txt", "# who reaches whom\nalice bob\n\nbob\t carol   # trailing comment\n  carol alice\n")
    net = load_edgelist(edges, opinions_file)
    assert net.node_ids.tolist() == ["alice", "bob", "carol", "dave"]  # sorted ids, dave isolated
    assert net.edges().tolist() == [[0, 1], [1, 2], [2, 0]]
    assert net.opinions.tolist() == [0.2, 0.4, 0.9, 0.5]


def test_follow_graphs_are_reversed(tmp_path, opinions_file):
    edges = write(tmp_path / "follows.csv", "follower,followee\nalice,bob\ncarol,bob\n")
    net = load_edgelist(edges, opinions_file, direction="follow")
    assert net.edges().tolist() == [[1, 0], [1, 2]]  # bob's posts reach alice and carol


def test_integer_ids_are_compared_as_integers_and_kept(tmp_path):
    edges = write(tmp_path / "e.csv", "10,30\n30, 20\n")
    opinions = write(tmp_path / "o.txt", "30 0.3\n010 0.1\n20 0.2\n99 1\n")  # no header, blanks
    net = load_edgelist(edges, opinions)
    assert net.node_ids.tolist() == [10, 20, 30, 99]
    assert net.edges().tolist() == [[0, 2], [2, 1]]
    assert net.opinions.tolist() == [0.1, 0.2, 0.3, 1.0]


def test_ids_zero_to_n_minus_one_need_no_node_ids(tmp_path):
    edges = write(tmp_path / "e.tsv", "source\ttarget\n0\t1\n2\t1\n", )
    net = load_edgelist(edges, write(tmp_path / "o.csv", "2,0.7\n0,0.1\n1,0.5\n"))
    assert net.node_ids is None and net.opinions.tolist() == [0.1, 0.5, 0.7]
    assert net.edges().tolist() == [[0, 1], [2, 1]]


def test_opinions_as_an_array(tmp_path):
    edges = write(tmp_path / "e.txt", "0 1\n1 2\n")
    net = load_edgelist(edges, [0.1, 0.2, 0.3, 0.4])
    assert net.n_users == 4 and net.edges().tolist() == [[0, 1], [1, 2]]


def test_windows_line_endings_quotes_and_explicit_options(tmp_path, opinions_file):
    edges = write(tmp_path / "e.csv", b'"alice";"bob"\r\n"bob";"carol"\r\n', mode="wb")
    net = load_edgelist(edges, opinions_file, delimiter=";", header=False)
    assert net.edges().tolist() == [[0, 1], [1, 2]]
    edges = write(tmp_path / "h.txt", "user_a user_b\nalice bob\n")
    assert load_edgelist(edges, opinions_file, header=True).n_edges == 1


def test_self_loops_and_duplicate_edges_warn_with_file_lines(tmp_path):
    edges = write(tmp_path / "e.txt", "0 1\n1 1\n0 1\n1 2\n")
    with pytest.warns(NetworkWarning) as record:
        net = load_edgelist(edges, [0.1, 0.2, 0.3])
    messages = [str(w.message) for w in record]
    assert any(f"{edges}, line 2: dropped 1 self-loop" in m for m in messages)
    assert any(f"{edges}, line 3: dropped 1 duplicate edge" in m for m in messages)
    assert net.n_edges == 2


def test_repair_warnings_show_the_file_ids(tmp_path, opinions_file):
    edges = write(tmp_path / "e.txt", "alice bob\ncarol carol\n")
    with pytest.warns(NetworkWarning, match=r"e.txt, line 2: dropped 1 self-loop\(s\), first \(carol, carol\)"):
        load_edgelist(edges, opinions_file)


OK_OPINIONS = "0,0.1\n1,0.2\n2,0.3\n"


@pytest.mark.parametrize(
    "edges, opinions, message",
    [
        ("0 1\n1 2\n0 1 2\n", OK_OPINIONS, r"e.txt, line 3: expected 2 fields \(source, target\), found 3"),
        ("0 1\n\n2\n", OK_OPINIONS, r"e.txt, line 3: expected 2 fields \(source, target\), found 1"),
        ("0,1\n1,\n", OK_OPINIONS, r"e.txt, line 2: empty target field"),
        ("# nothing\n\n", OK_OPINIONS, r"e.txt: the file is empty"),
        ("source target\n", OK_OPINIONS, r"e.txt: the file has a header and no data lines"),
        (b"0 1\n1 \xff\xfe\n", OK_OPINIONS, r"e.txt, line 2: not UTF-8 text"),
        ("0 1\n1 5\n", OK_OPINIONS, r"e.txt, line 2: user '5' has no opinion in .*o.csv"),
        ("0 1\n", "", r"o.csv: the file is empty"),
        ("0 1\n", "node,opinion\n0,0.1\n1,high\n", r"o.csv, line 3: opinion 'high' of user '1' is not a number"),
        ("0 1\n", "0,0.1\n1,1.5\n", r"o.csv, line 2: opinion of user '1' is 1.5; opinions must be finite numbers in \[0, 1\]"),
        ("0 1\n", "0,nan\n1,0.5\n", r"o.csv, line 1: opinion of user '0' is nan"),
        ("0 1\n", "0,-0.1\n1,0.5\n", r"o.csv, line 1: opinion of user '0' is -0.1"),
        ("0 1\n", "0,0.1\n1,0.5\n0,0.1\n", r"o.csv, line 3: user '0' already has an opinion on line 1"),
        ("0 1\n", "0,0.1\n1,0.5,7\n", r"o.csv, line 2: expected 2 fields \(node, opinion\), found 3"),
    ],
)
def test_bad_files_are_named_with_file_and_line(tmp_path, edges, opinions, message):
    e = write(tmp_path / "e.txt", edges, mode="wb" if isinstance(edges, bytes) else "w")
    o = write(tmp_path / "o.csv", opinions)
    with pytest.raises(NetworkError, match=message):
        load_edgelist(e, o)


@pytest.mark.parametrize(
    "edges, opinions, message",
    [
        ("0 1\n1 3\n", [0.1, 0.2, 0.3], r"e.txt, line 2: edge \(1, 3\) names a user outside 0..2"),
        ("0 1\n1 -1\n", [0.1, 0.2, 0.3], r"e.txt, line 2: edge \(1, -1\) names a user outside 0..2"),
        ("0 1\nb 2\n", [0.1, 0.2, 0.3], r"e.txt, line 2: user id 'b' is not an integer"),
        ("0 1\n", [0.1, float("nan")], r"opinions: opinion of user 1 is nan"),
        ("0 1\n", [], r"empty"),
    ],
)
def test_bad_input_with_opinions_as_an_array(tmp_path, edges, opinions, message):
    with pytest.raises(NetworkError, match=message):
        load_edgelist(write(tmp_path / "e.txt", edges), opinions)


def test_bad_arguments(tmp_path, opinions_file):
    edges = write(tmp_path / "e.txt", "alice bob\n")
    with pytest.raises(NetworkError, match=r"direction must be 'influence' .* or 'follow'"):
        load_edgelist(edges, opinions_file, direction="retweet")
    with pytest.raises(NetworkError, match=r"missing.txt: no such file"):
        load_edgelist(tmp_path / "missing.txt", opinions_file)
    with pytest.raises(NetworkError, match=r"delimiter must be one character"):
        load_edgelist(edges, opinions_file, delimiter="::")
    with pytest.raises(NetworkError, match=r"line 1: user 'alice' has no opinion .*pass header=True"):
        load_edgelist(edges, write(tmp_path / "o.csv", "0,0.5\n"))


def test_round_trip_of_a_generated_network(tmp_path):
    net = planted_partition_network(2000, avg_degree=6, symmetric=False, seed=4)
    ids = np.arange(net.n_users) * 7 + 3  # ids that are not 0..n-1
    e = net.edges()
    np.savetxt(tmp_path / "e.txt", ids[e], fmt="%d", delimiter="\t")
    np.savetxt(tmp_path / "o.csv", np.column_stack([ids, net.opinions]), fmt=["%d", "%.17g"], delimiter=",",
               header="node,opinion", comments="")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean file repairs nothing
        loaded = load_edgelist(tmp_path / "e.txt", tmp_path / "o.csv")
    assert np.array_equal(loaded.indptr, net.indptr) and np.array_equal(loaded.indices, net.indices)
    assert np.array_equal(loaded.opinions, net.opinions)
    assert np.array_equal(loaded.node_ids, ids)
    saved = SocialNetwork.load(loaded.save(tmp_path / "net.npz"))
    assert np.array_equal(saved.node_ids, ids) and np.array_equal(saved.indices, net.indices)


def test_cli_load_converts_and_reports(tmp_path, opinions_file):
    runner = CliRunner()
    edges = write(tmp_path / "f.csv", "follower,followee\nalice,bob\nalice,bob\n")
    out = tmp_path / "net.npz"
    result = runner.invoke(app, ["network", "load", str(edges), "--opinions", str(opinions_file), "--out", str(out),
                                 "--direction", "follow"])
    assert result.exit_code == 0, result.output
    assert "dropped 1 duplicate edge" in result.output and "users" in result.output
    assert SocialNetwork.load(out).edges().tolist() == [[1, 0]]

    shown = runner.invoke(app, ["network", "stats", str(out)])
    assert shown.exit_code == 0 and re.search(r"users\s*│\s*4", shown.output)

    bad = write(tmp_path / "bad.csv", "alice,bob\nbob\n")
    failed = runner.invoke(app, ["network", "load", str(bad), "--opinions", str(opinions_file), "--out", str(out),
                                 "--force"])
    assert failed.exit_code == 2 and "line 2: expected 2 fields" in failed.output
    wrong_suffix = runner.invoke(app, ["network", "load", str(edges), "--opinions", str(opinions_file), "--out", "x.bin"])
    assert wrong_suffix.exit_code == 2 and "must end in .npz" in wrong_suffix.output
