"""Bad and hostile input through the command line, as a new user would give it (issue 19).

Each case builds its files in a fresh folder, runs one command with typer's CliRunner and checks the
exit code, a phrase of the message and, where it matters, that no file was lost, overwritten or
left behind. The slow commands (score, analyze) are run only where the check comes before the work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from engagegen.cli import app
from engagegen.config import ConfigError, load_yaml
from engagegen.files import atomic_write_text, check_output, csv_records, sweep_stale_temp_files
from engagegen.network import SocialNetwork, load_edgelist, planted_partition_network

ALIAS_BOMB = textwrap.dedent("""\
    a: &a ["x","x","x","x","x","x","x","x","x"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    topic: [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    """)


@pytest.fixture(scope="module")
def net_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("net") / "net.npz"
    planted_partition_network(60, avg_degree=4, n_communities=3, seed=1).save(path)
    return path


@dataclass
class Case:
    """Files to write (name -> bytes or text), the command (``{net}`` is the network file, names are
    relative to the case folder), and what must happen."""

    id: str
    files: dict[str, str | bytes]
    args: list[str]
    code: int
    message: str
    unchanged: tuple[str, ...] = ()  # files whose bytes must survive the command
    absent: tuple[str, ...] = ()  # files that must not exist afterwards
    check: Callable[[Path], None] | None = field(default=None)


POSTS = "author,text\n1,My cat sleeps all day.\n2,Cats are the best.\n"
EDGES_OPINIONS = {"o.csv": "0,0.1\n1,0.2\n2,0.3\n"}

CASES = [
    # --- the config reader
    Case("yaml alias bomb", {"cfg.yaml": ALIAS_BOMB}, ["train", "cfg.yaml", "--out", "run"], 2,
         "expands to more than 100,000 values"),
    Case("empty yaml", {"cfg.yaml": "# nothing here\n"}, ["train", "cfg.yaml", "--out", "run"], 2, "config file is empty"),
    Case("non-UTF-8 yaml", {"cfg.yaml": b"topic: caf\xe9s\n"}, ["train", "cfg.yaml", "--out", "run"], 2,
         "cfg.yaml, line 1: not UTF-8"),
    Case("huge value quoted briefly", {"cfg.yaml": "topic: [" + ", ".join(["1"] * 5000) + "]\n"},
         ["train", "cfg.yaml", "--out", "run"], 2, "topic: must be a string, got [1, 1, 1, 1, ...]"),
    # --- edge lists: never drop a numeric first line
    Case("BOM edge list keeps its first edge", {"e.csv": b"\xef\xbb\xbf0,1\n1,2\n", **EDGES_OPINIONS},
         ["network", "load", "e.csv", "--opinions", "o.csv", "--out", "n.npz"], 0, "wrote",
         check=lambda d: _edges(d / "n.npz", 2)),
    Case("decimal id is data, not a header", {"e.csv": "0,1.0\n1,2\n", **EDGES_OPINIONS},
         ["network", "load", "e.csv", "--opinions", "o.csv", "--out", "n.npz"], 2, "e.csv, line 1: user '1.0'"),
    Case("a guessed header is reported", {"e.csv": "a,b\n0,1\n1,2\n", **EDGES_OPINIONS},
         ["network", "load", "e.csv", "--opinions", "o.csv", "--out", "n.npz"], 0, "read as a header ('a,b')",
         check=lambda d: _edges(d / "n.npz", 2)),
    Case("UTF-16 edge list", {"e.csv": "0,1\n".encode("utf-16"), **EDGES_OPINIONS},
         ["network", "load", "e.csv", "--opinions", "o.csv", "--out", "n.npz"], 2, "UTF-16 text; save it as UTF-8"),
    # --- the output policy
    Case("network over an existing file", {"out.npz": b"mine"}, ["network", "generate", "planted", "--users", "50",
         "--out", "out.npz"], 2, "already exists; pass --force", unchanged=("out.npz",)),
    Case("network --force overwrites", {"out.npz": b"mine"}, ["network", "generate", "planted", "--users", "50",
         "--out", "out.npz", "--force"], 0, "wrote", check=lambda d: _edges(d / "out.npz", None)),
    Case("network into a folder named .npz", {"dir.npz/keep": "x"}, ["network", "generate", "planted", "--users", "50",
         "--out", "dir.npz"], 2, "is a folder; --out takes a file name"),
    Case("network into /proc", {}, ["network", "generate", "planted", "--users", "50", "--out", "/proc/x.npz"], 2,
         "cannot write into /proc"),
    Case("network load over its own edge list", {"e.npz": "0 1\n", **EDGES_OPINIONS},
         ["network", "load", "e.npz", "--opinions", "o.csv", "--out", "e.npz", "--force"], 2,
         "is also an input of this command", unchanged=("e.npz",)),
    Case("opinions over its own posts, even with --force", {"posts.csv": POSTS},
         ["opinions", "posts.csv", "--out", "posts.csv", "--force"], 2, "is also an input", unchanged=("posts.csv",)),
    Case("score over its own input", {"posts.csv": POSTS},
         ["score", "posts.csv", "--out", "posts.csv", "--network", "{net}", "--force"], 2,
         "is also an input", unchanged=("posts.csv",)),
    Case("score over an existing file", {"posts.csv": POSTS, "scored.csv": "mine\n"},
         ["score", "posts.csv", "--out", "scored.csv", "--network", "{net}"], 2,
         "already exists; pass --force", unchanged=("scored.csv",)),
    Case("score into a folder, refused before scoring", {"posts.csv": POSTS, "outdir/keep": "x"},
         ["score", "posts.csv", "--out", "outdir", "--network", "{net}"], 2, "is a folder"),
    Case("score into /proc", {"posts.csv": POSTS},
         ["score", "posts.csv", "--out", "/proc/x.csv", "--network", "{net}"], 2, "cannot write into /proc"),
    Case("analyze into a folder that holds files", {"posts.csv": POSTS, "report/mine.txt": "keep"},
         ["analyze", "posts.csv", "--out", "report"], 2, "not empty; pass --force", unchanged=("report/mine.txt",)),
    Case("analyze --out over a file", {"posts.csv": POSTS, "report": "a file"},
         ["analyze", "posts.csv", "--out", "report"], 2, "exists and is a file", unchanged=("report",)),
    Case("optimum --out into a folder", {"plots/keep": "x"}, ["optimum", "{net}", "--out", "plots"], 2,
         "is a folder; --out takes a file name"),
    Case("optimum --out without a format", {}, ["optimum", "{net}", "--out", "plot"], 2,
         "--out must end in .png or .svg or .pdf", absent=("plot", "plot.png")),
    Case("network report over an existing report", {"r.html": "mine"}, ["network", "report", "{net}", "--out", "r.html"],
         2, "already exists", unchanged=("r.html",)),
    Case("scorer train into a non-empty folder", {"l.csv": "text,stance\na,1\nb,0\n", "sc/mine.txt": "keep"},
         ["scorer", "train", "l.csv", "--out", "sc"], 2, "not empty; pass --force", unchanged=("sc/mine.txt",)),
    # --- resuming: a switch in `train` and `run`, the run folder is --out
    Case("resume a folder without a run", {"run/keep": "x"}, ["train", "--resume", "--out", "run"], 2,
         "nothing to resume in run (no config.yaml there)"),
    Case("resume the run of a config's default folder", {"cfg.yaml": "topic: dogs\n"}, ["train", "cfg.yaml", "--resume"], 2,
         "nothing to resume in runs/cfg"),
    Case("resume without a run folder", {}, ["train", "--resume"], 2, "--resume continues the run in --out"),
    Case("a run folder given as the config", {"runs/mine/config.yaml": "topic: dogs\n"}, ["train", "runs/mine", "--resume"],
         2, "runs/mine is a folder, not a run config"),
    Case("resume the main job where none ran", {}, ["run", "--out", "nowhere", "--resume"], 2, "nothing to resume in nowhere"),
    Case("resume with a new seed", {"run/config.yaml": "topic: dogs\n"}, ["run", "--out", "run", "--resume", "--seed", "3"],
         2, "a resumed run keeps its own seed"),
    # --- readers
    Case("truncated network file", {"t.npz": "__truncated__"}, ["network", "stats", "t.npz"], 2,
         "t.npz: the network file is truncated or corrupt"),
    Case("CSV field over the old 128 KB limit is read", {"posts.csv": "author,text\n1," + "cat " * 50_000 + "\n"},
         ["opinions", "posts.csv", "--out", "op.csv"], 0, "wrote", check=lambda d: _has(d / "op.csv", "node,opinion")),
    Case("CSV field over the limit", {"posts.csv": 'author,text\n1,"' + "a" * (17 * 1024 * 1024) + '\n'},
         ["opinions", "posts.csv", "--out", "op.csv"], 2, "a field longer than 16,777,216 characters"),
    Case("posts CSV with a BOM", {"posts.csv": b"\xef\xbb\xbf" + POSTS.encode()},
         ["opinions", "posts.csv", "--out", "op.csv"], 0, "wrote", check=lambda d: _has(d / "op.csv", "node,opinion")),
    Case("non-UTF-8 posts", {"posts.csv": b"author,text\n1,caf\xe9\n"}, ["opinions", "posts.csv", "--out", "op.csv"], 2,
         "posts.csv, line 2: not UTF-8 text (byte 0xe9 at column 6)"),
    Case("posts in a JSONL file that is not JSON", {"p.jsonl": '{"text": "a"}\n{oops\n'},
         ["opinions", "p.jsonl", "--out", "op.csv"], 2, "p.jsonl, line 2: not valid JSON"),
    Case("a folder where a file is wanted", {"posts.csv/keep": "x"}, ["opinions", "posts.csv", "--out", "op.csv"], 2,
         "is a folder, expected a file"),
    # --- wrong or missing messages
    Case("simulate with an unknown model", {}, ["simulate", "{net}", "--engagement", "xyz", "-s", "0.3"], 2,
         "unknown engagement model 'xyz'"),
    Case("simulate with a feed", {}, ["simulate", "{net}", "--engagement", "feed", "--recommender", "diverse", "-s", "0.3"],
         0, "users engaged"),
    Case("optimum of a feed", {}, ["optimum", "{net}", "-e", "feed", "--feed-size", "5", "--rounds", "3"], 0,
         "optimum:"),
    Case("planted network too big for memory", {},
         ["network", "generate", "planted", "--users", "10000000000", "--out", "big.npz"], 2,
         "needs about", absent=("big.npz",)),
]


def _edges(path: Path, expected: int | None) -> None:
    net = SocialNetwork.load(path)
    assert expected is None or net.n_edges == expected


def _has(path: Path, text: str) -> None:
    assert text in path.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, net_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "__truncated__":
            path.write_bytes(net_file.read_bytes()[:300])
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    before = {name: (tmp_path / name).read_bytes() for name in case.unchanged}
    args = [a.replace("{net}", str(net_file)) for a in case.args]
    result = CliRunner().invoke(app, args)
    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == case.code, result.output
    assert case.message in output, result.output
    assert "Traceback" not in result.output and "bug in engagegen" not in result.output
    for name, data in before.items():
        assert (tmp_path / name).read_bytes() == data, f"{name} was changed"
    for name in case.absent:
        assert not (tmp_path / name).exists()
    assert not list(tmp_path.rglob("*.~engagegen.*")), "temporary files left behind"
    if case.check is not None:
        case.check(tmp_path)


def test_written_files_get_the_usual_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o640)
        atomic_write_text(path, "y")  # an overwrite keeps the file's mode
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_killed_writer_leaves_no_temporary_file_for_long(tmp_path: Path) -> None:
    """SIGKILL during a write leaves its temporary file; the next write into the folder removes it."""
    script = ("import sys, time\nfrom engagegen.files import atomic_open\n"
              "with atomic_open(sys.argv[1], 'wb') as fh:\n    fh.write(b'x' * 100)\n    fh.flush()\n"
              "    print('writing', flush=True)\n    time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "net.npz")], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"writing"
    leftovers = list(tmp_path.glob(".net.npz.~engagegen.*"))
    assert len(leftovers) == 1 and leftovers[0].suffix == ".npz"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert leftovers[0].exists() and not (tmp_path / "net.npz").exists()
    planted_partition_network(30, avg_degree=3, n_communities=2, seed=1).save(tmp_path / "other.npz")
    assert not leftovers[0].exists()
    assert sweep_stale_temp_files(tmp_path) == []


def test_a_failed_write_removes_its_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        from engagegen.files import atomic_open

        with atomic_open(tmp_path / "x.csv") as fh:
            fh.write("half")
            1 / 0  # noqa: B018
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_is_alive_keeps_its_temporary_file(tmp_path: Path) -> None:
    from engagegen.files import _HOST

    live = tmp_path / f".a.csv.~engagegen.{_HOST}.{os.getppid()}.0123abcd.csv"  # the parent process: alive
    dead = tmp_path / f".b.csv.~engagegen.{_HOST}.999999999.0123abcd.csv"
    live.write_text("in progress")
    dead.write_text("left by a killed writer")
    assert sweep_stale_temp_files(tmp_path) == [dead]
    assert live.exists() and not dead.exists()


def test_alias_bomb_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB.encode()) < 400
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than"):
        load_yaml(path)
    assert time.perf_counter() - start < 5  # generous: the check itself takes milliseconds
    path.write_text("a: &a [1, 2]\nb: [*a, *a]\n")  # ordinary aliases still work
    assert load_yaml(path) == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


def test_header_detection_never_drops_numbers(tmp_path: Path) -> None:
    opinions = np.array([0.1, 0.2, 0.3])
    for i, text in enumerate(["0,1\n1,2\n", "\ufeff0,1\n1,2\n", "0 1\n1 2\n", "0,1.0\n1,2\n"]):
        path = tmp_path / f"e{i}.csv"
        path.write_text(text, encoding="utf-8")
        try:
            net = load_edgelist(path, opinions)
        except ValueError as exc:  # "1.0" is not an integer id: an error, never a dropped line
            assert "line 1" in str(exc)
        else:
            assert net.n_edges == 2


def test_check_output_rules(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("x")
    with pytest.raises(ValueError, match="also an input"):
        check_output(tmp_path / "sub" / ".." / "in.csv", force=True, inputs=[tmp_path / "in.csv"])
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(ValueError, match="is a file, so nothing can be written under it"):
        check_output(tmp_path / "blocker" / "out.csv")
    assert check_output(tmp_path / "new" / "deeper" / "out.csv") == tmp_path / "new" / "deeper" / "out.csv"
    header, rows = csv_records(_write(tmp_path / "t.tsv", "a\tb\n1\t2\n"))
    assert header == ["a", "b"] and rows[0].fields == {"a": "1", "b": "2"}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_bug_prints_a_traceback_and_asks_for_a_report(monkeypatch: pytest.MonkeyPatch, net_file: Path) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("internal")

    monkeypatch.setattr("engagegen.cli.network_cmd.network_stats", broken)  # the command's own name for it
    result = CliRunner().invoke(app, ["network", "stats", str(net_file)])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "bug in engagegen" in result.output
