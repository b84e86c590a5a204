"""Write a small "your own data" example from GLUE's SST-2 TSVs: reviews with string labels.

    python examples/make_reviews.py [--glue ../shared/glue] [--out data/reviews] [--train 2000] [--dev 400] [--unlabelled 4000]

writes ``train.csv`` and ``dev.jsonl`` (columns ``review`` and ``sentiment``: "negative" or
"positive") and ``unlabelled.txt`` (one review per line, from train rows not in ``train.csv``),
the layouts a user's own files come in. It reads the TSVs with pandas; sage reads what it writes.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glue", default="../shared/glue", help="folder of GLUE's TSVs (SST-2/train.tsv, ...)")
    parser.add_argument("--out", default="data/reviews", help="folder to write the example's files into")
    parser.add_argument("--train", type=int, default=2000, help="training rows")
    parser.add_argument("--dev", type=int, default=400, help="dev rows")
    parser.add_argument("--unlabelled", type=int, default=4000, help="unlabelled lines")
    args = parser.parse_args()

    sentences = pd.read_csv(Path(args.glue) / "SST-2" / "train.tsv", sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    sentences = sentences.sample(frac=1.0, random_state=0)  # a fixed shuffle: the same files every time
    reviews = pd.DataFrame(
        {"review": sentences["sentence"].str.strip(), "sentiment": sentences["label"].map({0: "negative", 1: "positive"})}
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reviews.iloc[: args.train].to_csv(out / "train.csv", index=False)
    reviews.iloc[args.train : args.train + args.dev].to_json(out / "dev.jsonl", orient="records", lines=True)
    rest = reviews.iloc[args.train + args.dev : args.train + args.dev + args.unlabelled]
    (out / "unlabelled.txt").write_text("".join(f"{review}\n" for review in rest["review"]))
    print(f"wrote {out}/train.csv ({args.train} rows), dev.jsonl ({args.dev}), unlabelled.txt ({len(rest)} lines)")


if __name__ == "__main__":
    main()
