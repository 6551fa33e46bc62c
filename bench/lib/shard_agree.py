#!/usr/bin/env python3
"""Do two Quarry servers give the same first page?

    shard_agree.py BASE_A BASE_B PATHS N

For the first N /search paths of PATHS, compares the (url, score) hits of the first page
from BASE_A (one index) and BASE_B (a coordinator of shards), ties in score put in URL
order. Prints JSON: queries compared, identical first pages, identical totals, and the
first differing query if any.
"""
import json
import sys
import urllib.request


def page(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.load(response)


def hits(body):
    return sorted(((-round(h["score"], 4), h["url"]) for h in body["hits"]))


def main():
    base_a, base_b, paths_file, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    paths = [line.strip() for line in open(paths_file) if line.strip()][:n]
    same_pages = same_totals = 0
    first_difference = None
    for path in paths:
        a, b = page(base_a, path), page(base_b, path)
        if hits(a) == hits(b):
            same_pages += 1
        elif first_difference is None:
            first_difference = path
        if a["total"] == b["total"]:
            same_totals += 1
    print(json.dumps({"queries": len(paths), "same_first_page": same_pages,
                      "same_total": same_totals, "first_difference": first_difference}))


if __name__ == "__main__":
    main()
