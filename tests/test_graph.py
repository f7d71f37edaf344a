import networkx as nx
import numpy as np
import pytest

from engagegen import SocialNetwork
from engagegen.network import NetworkError, NetworkWarning


def test_csr_layout_and_views():
    net = SocialNetwork.from_edges([(2, 0), (0, 1), (0, 2), (1, 2)], [0.1, 0.5, 0.9], communities=[0, 0, 1])
    assert net.indptr.tolist() == [0, 2, 3, 4]
    assert net.indices.tolist() == [1, 2, 2, 0]
    assert net.out_degree.tolist() == [2, 1, 1] and net.in_degree.tolist() == [1, 1, 2]
    assert net.edges().tolist() == [[0, 1], [0, 2], [1, 2], [2, 0]]
    assert sorted(net.reverse.edges().tolist()) == sorted([[v, u] for u, v in net.edges().tolist()])
    assert not net.is_symmetric
    with pytest.raises(ValueError):
        net.opinions[0] = 0.3  # immutable


def test_symmetric_detection():
    net = SocialNetwork.from_edges([(0, 1), (1, 0), (1, 2), (2, 1)], [0.1, 0.5, 0.9])
    assert net.is_symmetric


@pytest.mark.parametrize(
    "edges, opinions, message",
    [
        ([(0, 3)], [0.1, 0.2, 0.3], r"edges\[0\]: edge \(0, 3\) names a user outside 0..2"),
        ([(-1, 0)], [0.1, 0.2], r"outside 0..1"),
        ([(0, 1)], [0.1, 1.2], r"opinion of user 1 is 1.2"),
        ([(0, 1)], [0.1, float("nan")], r"opinion of user 1 is nan"),
        ([(0, 1)], [], r"empty"),
        ([(0, 1, 2)], [0.1, 0.2], r"\(m, 2\)"),
        ([(0.5, 1)], [0.1, 0.2], r"must be integers"),
    ],
)
def test_bad_input_is_named(edges, opinions, message):
    with pytest.raises(NetworkError, match=message):
        SocialNetwork.from_edges(edges, opinions)


def test_self_loops_and_duplicates_warn_with_original_position():
    with pytest.warns(NetworkWarning) as record:
        net = SocialNetwork.from_edges([(1, 1), (0, 1), (1, 2), (0, 1)], [0.1, 0.2, 0.3])
    messages = [str(w.message) for w in record]
    assert any("edges[0]: dropped 1 self-loop" in m for m in messages)
    assert any("edges[3]: dropped 1 duplicate edge" in m for m in messages)
    assert net.n_edges == 2


def test_line_numbers_in_messages():
    with pytest.raises(NetworkError, match=r"net.txt, line 7"):
        SocialNetwork.from_edges([(0, 1), (0, 9)], [0.1, 0.2], where="net.txt", line_numbers=np.array([3, 7]))


def test_networkx_round_trip_keeps_labels_and_attributes():
    g = nx.Graph()
    g.add_node("a", opinion=0.2, community=0)
    g.add_node("b", opinion=0.7, community=1)
    g.add_edge("a", "b")
    net = SocialNetwork.from_networkx(g)
    assert net.n_edges == 2 and net.node_ids.tolist() == ["a", "b"] and net.communities.tolist() == [0, 1]
    back = net.to_networkx()
    assert back.nodes[1]["opinion"] == 0.7 and set(back.edges) == {(0, 1), (1, 0)}
    g.nodes["b"].pop("opinion")
    with pytest.raises(NetworkError, match="node 'b' has no 'opinion'"):
        SocialNetwork.from_networkx(g)


def test_save_load_round_trip_without_pickle(tmp_path):
    net = SocialNetwork.from_edges([(0, 1), (1, 2)], [0.1, 0.5, 0.9], communities=[0, 1, 1], node_ids=np.array(["x", "y", "z"]))
    path = net.save(tmp_path / "net.npz")
    back = SocialNetwork.load(path)
    for name in ("indptr", "indices", "opinions", "communities", "node_ids"):
        assert np.array_equal(getattr(back, name), getattr(net, name))
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(NetworkError, match="no such network file"):
        SocialNetwork.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(NetworkError, match="not a network file"):
        SocialNetwork.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(NetworkError, match=r"missing array\(s\)"):
        SocialNetwork.load(tmp_path / "other.npz")


def test_check_user():
    net = SocialNetwork.from_edges([(0, 1)], [0.1, 0.2])
    assert net.check_user(np.int64(1)) == 1
    with pytest.raises(NetworkError, match="source 5 does not exist"):
        net.check_user(5, "source")
    with pytest.raises(NetworkError, match="must be an integer user id"):
        net.check_user("0", "source")
