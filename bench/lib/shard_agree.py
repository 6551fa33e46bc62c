#!/usr/bin/env python3
"""Do two Quarry servers give the same first page?

    shard_agree.py BASE_A BASE_B PATHS N

For the first N /search paths of PATHS, compares the (url, score) hits of the first page
from BASE_A (one index) and BASE_B (a coordinator of shards). Pages agree when their
scores are identical (to 4 decimals) and so are their URLs, except among the hits tied
with the page's last score: which of several equally scored pages make the cut depends on
document numbers, which differ between one index and shards. Prints JSON: queries
compared, agreeing first pages (and how many of those are identical URL for URL),
identical totals, and the first disagreeing query if any.
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
    agree = identical = same_totals = 0
    first_difference = None
    for path in paths:
        a, b = page(base_a, path), page(base_b, path)
        ha, hb = hits(a), hits(b)
        a_total, b_total = a["total"], b["total"]
        scores_a, scores_b = [s for s, _ in ha], [s for s, _ in hb]
        last = scores_a[-1] if scores_a else None
        untied = lambda hs: [h for h in hs if h[0] != last]
        if ha == hb:
            identical += 1
            agree += 1
        elif scores_a == scores_b and untied(ha) == untied(hb):
            agree += 1
        elif first_difference is None:
            first_difference = path
        if a_total == b_total:
            same_totals += 1
    print(json.dumps({"queries": len(paths), "same_first_page": agree, "identical_urls": identical,
                      "same_total": same_totals, "first_difference": first_difference}))


if __name__ == "__main__":
    main()
