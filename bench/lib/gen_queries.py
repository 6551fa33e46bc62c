#!/usr/bin/env python3
"""Generates the fixed benchmark queries (bench/queries.txt) from a corpus' vocabulary.

Usage: gen_queries.py DOCS.jsonl OUT.txt [COUNT]
Seeded (20261125), so the same corpus gives the same file. Each query has 1 (40%), 2 (40%)
or 3 (20%) words taken from one randomly chosen document, so multi-word AND queries have at
least one hit. Words: lower-case ASCII letters, 3–15 long, no stop words, in at least 3
documents and at most half of them.
"""

import collections
import json
import random
import re
import sys

STOP = set("""a an and are as at be but by for if in into is it no not of on or such that the
their then there these they this to was will with from can has have may must which when
where who why how all any each other some than too very also only same so its our your you
we he she do does done been being were what would should could shall""".split())
WORD = re.compile(r"[a-z]{3,15}")


def main():
    docs_path, out = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    doc_words = []
    with open(docs_path) as f:
        for line in f:
            d = json.loads(line)
            text = (d["title"] + " " + d["body"]).lower()
            doc_words.append(sorted({w for w in WORD.findall(text) if w not in STOP}))
    df = collections.Counter(w for words in doc_words for w in words)
    n = len(doc_words)
    vocab = {w for w, c in df.items() if 3 <= c <= n / 2}
    rng = random.Random(20261125)
    queries = []
    while len(queries) < count:
        words = [w for w in rng.choice(doc_words) if w in vocab]
        k = rng.choices([1, 2, 3], weights=[40, 40, 20])[0]
        if len(words) < k:
            continue
        queries.append(" ".join(rng.sample(words, k)))
    with open(out, "w") as f:
        f.write("\n".join(queries) + "\n")


if __name__ == "__main__":
    main()
