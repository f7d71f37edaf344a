"""Cascade files: every bad input stops with the file and line, nothing is left out without a warning,
and opinions read off engagements are the documented smoothed mean."""

import json
import warnings

import numpy as np
import pytest

from engagegen.calibration import CascadeError, CascadeWarning, load_cascades, opinions_from_cascades, write_cascades
from engagegen.network import SocialNetwork

GOOD = {"post": "a", "author": "ann", "opinion": 0.4, "engaged": ["bob", "cat"]}


@pytest.fixture
def net():
    return SocialNetwork.from_edges([(0, 1), (1, 2), (0, 3)], [0.5, 0.4, 0.3, 0.9], node_ids=["ann", "bob", "cat", "dan"])


def write_jsonl(tmp_path, rows, name="c.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_and_csv_read_the_same(tmp_path, net):
    rows = [GOOD, {"post": "b", "author": "bob", "opinion": 0.9, "engaged": ["cat"], "times": [3.5], "parents": ["bob"]}]
    j = load_cascades(write_jsonl(tmp_path, rows), net)
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("post,author,opinion,user,user_time,parent\na,ann,0.4,bob,,\na,ann,0.4,cat,,\nb,bob,0.9,cat,3.5,bob\n")
    c = load_cascades(csv_path, net)
    for got in (j, c):
        assert got.post_ids.tolist() == ["a", "b"]
        assert got.sources.tolist() == [0, 1]
        assert got.messages.tolist() == [0.4, 0.9]
        assert got.users.tolist() == [1, 2, 2] and got.indptr.tolist() == [0, 2, 3]
        assert got.parents.tolist() == [-1, -1, 1] and got.times[2] == 3.5


def test_write_then_load_round_trips(tmp_path, net):
    first = load_cascades(write_jsonl(tmp_path, [GOOD]), net)
    again = load_cascades(write_cascades(first, tmp_path / "again.jsonl", net), net)
    assert again.users.tolist() == first.users.tolist() and again.messages.tolist() == first.messages.tolist()


@pytest.mark.parametrize(("row", "message"), [
    ("{not json", "line 2: not valid JSON"),
    ("[1, 2]", "line 2: a cascade must be a JSON object"),
    ({**GOOD, "post": "b", "engagd": []}, "line 2: unknown key 'engagd'"),
    ({"post": "b", "author": "ann", "opinion": 0.1}, "line 2: missing key 'engaged'"),
    ({**GOOD}, "line 2: duplicate post id 'a' (first on line 1)"),
    ({**GOOD, "post": "b", "engaged": []}, "line 2: post 'b': empty cascade"),
    ({**GOOD, "post": "b", "engaged": ["bob", "bob"]}, "line 2: post 'b': user 'bob' is listed twice"),
    ({**GOOD, "post": "b", "engaged": ["ann"]}, "line 2: post 'b': the author 'ann' is also listed as engaged"),
    ({**GOOD, "post": "b", "opinion": 1.5}, "line 2: opinion 1.5 is not a number in [0, 1]"),
    ({**GOOD, "post": "b", "opinion": "high"}, "line 2: opinion 'high' is not a number"),
    ({**GOOD, "post": "b", "opinion": None}, "line 2: post 'b' has neither an opinion value nor a text"),
    ({**GOOD, "post": "b", "engaged": ["bob", "zed"]}, "line 2: post 'b': user 'zed' is not a user of the network"),
    ({**GOOD, "post": "b", "author": "zed"}, "line 2: author 'zed' of post 'b' is not a user of the network"),
    ({**GOOD, "post": "b", "engaged": ["bob", [1]]}, "line 2: post 'b': [1] is not a user id"),
    ({**GOOD, "post": "b", "parents": ["ann"]}, "line 2: 'parents' must be a list with one entry per engaged user"),
    ({**GOOD, "post": "b", "parents": ["dan", "ann"]}, "line 2: post 'b': parent 'dan' of user 'bob' is neither the author"),
    ({**GOOD, "post": "b", "times": ["soon", 1]}, "line 2: engagement time 'soon' is not a finite number"),
])
def test_bad_jsonl_lines_name_file_and_line(tmp_path, net, row, message):
    path = write_jsonl(tmp_path, [GOOD, row])
    with pytest.raises(CascadeError, match=str(path).replace(".", r"\.") + ", " + _escape(message)):
        load_cascades(path, net)


def _escape(text):
    import re

    return re.escape(text)


@pytest.mark.parametrize(("text", "message"), [
    ("post,author,opinion\n", "line 1: missing column 'user'"),
    ("post,author,user\n", "line 1: missing column 'opinion'"),
    ("post,author,user,opinion,score\n", "line 1: unknown column 'score'"),
    ("post,author,opinion,user\na,ann,0.4,bob\na,bob,0.4,cat\n", "line 3: post 'a' has author 'bob' here but 'ann' on line 2"),
    ("post,author,opinion,user\na,ann,0.4,bob,extra\n", "line 2: 5 fields, the header has 4"),
    ("post,author,opinion,user\na,ann,0.4,\n", "line 2: post 'a': empty cascade"),
])
def test_bad_csv_files_name_file_and_line(tmp_path, net, text, message):
    path = tmp_path / "c.csv"
    path.write_text(text)
    with pytest.raises(CascadeError, match=_escape(message)):
        load_cascades(path, net)


def test_other_suffixes_and_missing_files_are_refused(tmp_path, net):
    with pytest.raises(CascadeError, match="no such file"):
        load_cascades(tmp_path / "none.jsonl", net)
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(CascadeError, match=r"\.jsonl .* or \.csv"):
        load_cascades(tmp_path / "c.txt", net)


def test_dropping_unknown_users_names_every_user_and_cascade(tmp_path, net):
    rows = [GOOD, {**GOOD, "post": "b", "engaged": ["bob", "zed"]}, {**GOOD, "post": "c", "engaged": ["yan"]},
            {**GOOD, "post": "d", "author": "xi"}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = load_cascades(write_jsonl(tmp_path, rows), net, unknown="drop")
    text = " | ".join(str(w.message) for w in caught if issubclass(w.category, CascadeWarning))
    assert got.post_ids.tolist() == ["a", "b"]
    assert got.engaged(1).tolist() == [1]
    for name in ("zed (line 2, post b)", "yan (line 3, post c)", "c (line 3: every engaged user is unknown)",
                 "d (line 4: author 'xi' not in the network)"):
        assert name in text


def test_integer_ids_compare_as_numbers(tmp_path):
    net = SocialNetwork.from_edges([(0, 1), (1, 2)], [0.1, 0.2, 0.3])
    got = load_cascades(write_jsonl(tmp_path, [{"post": 1, "author": "0", "opinion": 0.2, "engaged": [1, "002"]}]), net)
    assert got.users.tolist() == [1, 2] and got.post_ids.tolist() == ["1"]


def test_texts_are_scored_and_kept_values_stay(tmp_path, net):
    rows = [{"post": "a", "author": "ann", "text": "great", "engaged": ["bob"]}, {**GOOD, "post": "b", "text": "bad"}]
    got = load_cascades(write_jsonl(tmp_path, rows), net)
    assert np.isnan(got.messages[0])
    scored = got.with_messages(lambda texts: [0.8] * len(texts))
    assert scored.messages.tolist() == [0.8, 0.4]


def test_opinions_are_the_smoothed_mean_and_leave_one_out(tmp_path, net):
    rows = [GOOD, {**GOOD, "post": "b", "opinion": 1.0, "engaged": ["bob"]}]
    c = load_cascades(write_jsonl(tmp_path, rows), net)
    ops = opinions_from_cascades(c, prior_mean=0.5, prior_weight=1.0)
    assert ops.opinion[1] == pytest.approx((0.5 + 0.4 + 1.0) / 3)
    assert ops.opinion[2] == pytest.approx((0.5 + 0.4) / 2)
    assert np.isnan(ops.opinion[0])
    loo = ops.leave_one_out(c, "neutral")
    # entries: (a, bob), (a, cat), (b, bob): without their own cascade
    assert loo[0] == pytest.approx((0.5 + 1.0) / 2) and loo[1] == 0.5 and loo[2] == pytest.approx((0.5 + 0.4) / 2)
    assert ops.filled("mean")[0] == pytest.approx(np.mean([ops.opinion[1], ops.opinion[2]]))
    with pytest.raises(CascadeError, match="2 of 4 users engaged with no post.*ann, dan"):
        ops.filled("error", names=net.node_ids)
    only_b = opinions_from_cascades(c, subset=[1])
    assert only_b.counts.tolist() == [0, 1, 0, 0]
    assert np.isnan(only_b.leave_one_out(c, "neutral")[:2]).all()  # cascade a did not contribute: keep the shared opinion
