"""Train and evaluate the semantic layer of the moderation gate (docs/moderation.md).

    python scripts/moderation.py train      # fit on the training posts, write src/engagegen/data/moderation/semantic.*
    python scripts/moderation.py evaluate   # held-out red team and ordinary posts, rules alone and rules + semantic

Training data (tests/data/): ``moderation/train.tsv`` (class, post), ``moderation/redteam.tsv`` and
``moderation/ordinary.tsv`` (the first evaluation sets, whose held-out half was looked at while tuning,
so no longer blind), the older ``scoring_redteam.tsv`` and ``scoring_ordinary.txt``, and templated posts.
The held-out sets ``moderation/heldout_redteam.tsv`` and ``moderation/heldout_ordinary.tsv`` are read
only by ``evaluate``. The flagging threshold is chosen on out-of-fold probabilities of the training
posts: the lowest threshold whose false-flag rate on harmless training posts is at most 2%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moderation_templates import generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PACKAGE_DATA = ROOT / "src" / "engagegen" / "data" / "moderation"
# The older red-team list's categories as classes of the classifier (its profanity is the word list's job).
OLD_CLASSES = {"threat": "threat", "violence": "incitement", "self_harm": "self_harm", "harassment": "harassment",
               "slur": "hate"}
FALSE_FLAG_BUDGET = 0.02
TEMPLATED_PER_CLASS = 80
ISSUE_EXAMPLES = ["Kill all cat owners.", "Drown every stray cat you see.", "I will kill your cat and then come for you.",
                  "People who own cats are disgusting idiots and should all be shot.", "cat owners should be shot"]
POLICY_POSTS = ["Cat's suffering. Cat's takin' the cat's life. Wrongful legacy.",
                "Cat fluke attacks are one cause of domestic violence."]


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def redteam() -> dict[str, list[tuple[str, str]]]:
    """(category, post) of the red team: ``heldout`` (never trained or tuned on) and ``dev`` (trained on)."""
    return {"heldout": _pairs(DATA / "moderation" / "heldout_redteam.tsv"), "dev": _pairs(DATA / "moderation" / "redteam.tsv")}


def ordinary() -> dict[str, list[tuple[str, str]]]:
    """(kind, post) of the harmless posts, ``heldout`` and ``dev`` as in :func:`redteam`."""
    return {"heldout": _pairs(DATA / "moderation" / "heldout_ordinary.tsv"),
            "dev": _pairs(DATA / "moderation" / "ordinary.tsv")}


def _pairs(path: Path) -> list[tuple[str, str]]:
    return [(label, text) for label, text in _rows(path)]


def training_posts() -> tuple[list[str], list[str]]:
    rows = _pairs(DATA / "moderation" / "train.tsv")
    rows += [(OLD_CLASSES[c], t) for c, t in _rows(DATA / "scoring_redteam.tsv") if c in OLD_CLASSES]
    rows += [("ok", line) for line in (DATA / "scoring_ordinary.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    rows += redteam()["dev"]
    rows += [("ok", text) for _, text in ordinary()["dev"]]
    rows += generate(per_class=TEMPLATED_PER_CLASS)
    return [t for _, t in rows], [label for label, _ in rows]


def train(args: argparse.Namespace) -> None:
    from sklearn.model_selection import StratifiedKFold

    from engagegen.scoring import Embedder
    from engagegen.scoring.moderation_semantic import SemanticModerator

    texts, labels = training_posts()
    embedder = Embedder.shared()
    y = np.array(labels)
    harm_oof = np.zeros(len(texts))
    for fold, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(texts, y)):
        clf = SemanticModerator.fit([texts[i] for i in tr], y[tr].tolist(), threshold=0.5, C=args.C, embedder=embedder)
        harm_oof[te] = clf.harm([texts[i] for i in te])[0]
    ok = y == "ok"
    candidates = np.unique(np.round(harm_oof, 4))
    threshold = next(float(t) for t in candidates if (harm_oof[ok] >= t).mean() <= FALSE_FLAG_BUDGET)
    recall = (harm_oof[~ok] >= threshold).mean()
    print(f"{len(texts)} training posts ({Counter(labels)}); out-of-fold: threshold {threshold:.4f} flags "
          f"{(harm_oof[ok] >= threshold).mean():.1%} of harmless posts and {recall:.1%} of harmful ones")
    clf = SemanticModerator.fit(texts, labels, threshold=threshold, C=args.C, embedder=embedder)
    clf.info["threshold_rule"] = f"lowest out-of-fold threshold with <= {FALSE_FLAG_BUDGET:.0%} false flags"
    clf.save(args.out)
    print(f"wrote {args.out}")


def evaluate(args: argparse.Namespace) -> None:
    from engagegen.scoring import Moderation, reused_embeddings

    gates = {"rules and word lists": Moderation(semantic=False), "rules + semantic": Moderation()}
    red, plain = redteam(), ordinary()
    for name, gate in gates.items():
        print(f"== {name}")
        for part in ("heldout", "dev"):
            rows = red[part]
            flags = gate.flags([t for _, t in rows])
            by_cat: dict[str, list[bool]] = defaultdict(list)
            for (c, _), f in zip(rows, flags):
                by_cat[c].append(bool(f))
            hit = sum(bool(f) for f in flags)
            print(f"red team {part}: {hit}/{len(rows)} flagged ({hit / len(rows):.1%}); "
                  + ", ".join(f"{c} {sum(v)}/{len(v)}" for c, v in sorted(by_cat.items())))
            if part == "dev" and args.show:  # never the held-out posts: they stay blind
                for (c, t), f in zip(rows, flags):
                    if not f:
                        print(f"   missed [{c}] {t}")
            rows = plain[part]
            found = gate.explain([t for _, t in rows])
            false = [(t, [(m.category, m.rule, m.text) for m in e]) for (_, t), e in zip(rows, found) if e]
            print(f"ordinary {part}: {len(false)}/{len(rows)} flagged ({len(false) / len(rows):.1%})")
            if part == "dev" and args.show:
                for t, e in false:
                    print(f"   false flag: {t} {e}")
        print("issue examples flagged:", [bool(f) for f in gate.flags(ISSUE_EXAMPLES)],
              "; policy posts flagged:", [bool(f) for f in gate.flags(POLICY_POSTS)])
    gate = gates["rules + semantic"]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_scoring import posts

    for label, clear in (("fresh embeddings", True), ("embeddings shared with the topic scorer", False)):
        times = []
        for seed in range(7):
            batch = posts(900 + seed)
            with reused_embeddings():
                if not clear:
                    gate.semantic.embedder.encode(batch)
                start = time.perf_counter()
                gate.score(batch)
                times.append(1000 * (time.perf_counter() - start))
        print(f"Moderation on 64 posts, {label}: median {statistics.median(times):.0f} ms, best {min(times):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="fit the semantic classifier and write it as package data")
    p.add_argument("--C", type=float, default=16.0, help="inverse regularisation strength")
    p.add_argument("--out", type=Path, default=PACKAGE_DATA)
    p.set_defaults(run=train)
    p = sub.add_parser("evaluate", help="recall on the held-out red team, false flags on held-out ordinary posts")
    p.add_argument("--show", action="store_true", help="list the misses and false flags of the dev sets (never of the held-out ones)")
    p.set_defaults(run=evaluate)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
