"""Write the SYNTHETIC posts of the brexit-style example (docs/real-networks.md), deterministically.

    python configs/data/brexit-style/make_posts.py

- posts.csv (author,text): a few posts by each member of the karate club (configs/data/karate_club_edges.csv).
  Each member posts 2 to 5 times; each post is for cats with probability equal to the member's
  synthetic opinion in configs/data/karate_club_opinions_polarized.csv, else against. Members 11
  and 26 write nothing, to show what the workflow does with graph users who have no posts.
- labelled.csv (text,stance): 40 posts labelled "for" and 40 "against", to train the stance
  classifier. No text appears in both files.

Every text is a templated sentence: an opener and a statement for or against cats.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
OPINIONS = HERE.parent / "karate_club_opinions_polarized.csv"
SEED = 2016
NO_POSTS = (11, 26)
LABELLED_PER_SIDE = 40

FOR = [
    "cats are the best companions you could ask for",
    "my cat makes every bad day better",
    "adopting a cat was the best decision I ever made",
    "cats are clean, quiet and perfect for small flats",
    "nothing beats a purring cat on your lap",
    "every home should have a cat",
    "cats are smart, independent and full of character",
    "I could watch my cat chase string for hours",
    "shelters are full of wonderful cats waiting for a home",
    "cats keep the mice away and ask for so little",
    "a cat's slow blink is the sweetest thing",
    "life is simply better with a cat around",
]
AGAINST = [
    "cats are selfish and ignore you unless they want food",
    "my neighbour's cat wrecked my garden again",
    "cats kill millions of wild birds every year",
    "I'm allergic and cat hair gets everywhere",
    "litter boxes make the whole flat stink",
    "cats scratch the furniture and never learn",
    "a cat will knock your glass off the table just to watch it fall",
    "cats are cold, distant pets",
    "outdoor cats are a menace to the local wildlife",
    "I will never understand why people like cats",
    "cats hiss and bite for no reason",
    "keeping a cat means hair, smells and vet bills",
]
OPENERS = ["", "Honestly, ", "Hot take: ", "Unpopular opinion? ", "Reminder: ", "Truth is, ",
           "Say what you want, but ", "Again today: ", "Let's be clear: ", "I'll say it: "]


def sentences(statements: list[str], rng: np.random.Generator) -> list[str]:
    """Every opener with every statement, in a seeded random order."""
    out = []
    for opener in OPENERS:
        for s in statements:
            body = s[0].upper() + s[1:] if opener in ("", "Unpopular opinion? ") else s
            out.append(f"{opener}{body}{'!' if len(out) % 3 == 0 else '.'}")
    return [out[i] for i in rng.permutation(len(out))]


def main() -> None:
    rng = np.random.default_rng(SEED)
    pro, con = sentences(FOR, rng), sentences(AGAINST, rng)
    labelled = [(t, "for") for t in pro[:LABELLED_PER_SIDE]] + [(t, "against") for t in con[:LABELLED_PER_SIDE]]
    labelled = [labelled[i] for i in rng.permutation(len(labelled))]
    pro, con = pro[LABELLED_PER_SIDE:], con[LABELLED_PER_SIDE:]

    with OPINIONS.open(newline="", encoding="utf-8") as fh:
        latent = {int(r["node"]): float(r["opinion"]) for r in csv.DictReader(fh)}
    posts = []
    for member in sorted(latent):
        n = 0 if member in NO_POSTS else int(rng.integers(2, 6))
        for _ in range(n):
            pool = pro if rng.random() < latent[member] else con
            if not pool:
                raise SystemExit("ran out of distinct sentences: add statements or openers")
            posts.append((member, pool.pop()))
    posts = [posts[i] for i in rng.permutation(len(posts))]  # a timeline, not grouped by author

    for name, header, rows in (("labelled.csv", ("text", "stance"), labelled), ("posts.csv", ("author", "text"), posts)):
        with (HERE / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        print(f"wrote {HERE / name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
