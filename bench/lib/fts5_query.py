#!/usr/bin/env python3
"""SQLite FTS5 query peer: in-process latency of the benchmark queries.

Usage: fts5_query.py INDEX.sqlite QUERIES.txt SECONDS
Runs the queries in order (cycling) for about SECONDS on one thread, each as
`… WHERE docs MATCH ? ORDER BY rank LIMIT 10` with a snippet of the body (Quarry's API also
returns a snippet per hit). Every word is quoted, so words are AND-ed as in Quarry.
Prints {"requests", "seconds", "qps", "p50_us", "p99_us", "hits_per_query"} as JSON.
"""

import json
import sqlite3
import sys
import time

SQL = ("SELECT url, title, snippet(docs, 2, '<mark>', '</mark>', '…', 16) FROM docs "
       "WHERE docs MATCH ? ORDER BY rank LIMIT 10")


def percentile(sorted_values, p):
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def main():
    db = sqlite3.connect(sys.argv[1])
    with open(sys.argv[2]) as f:
        queries = [" ".join('"' + w.replace('"', "") + '"' for w in line.split())
                   for line in f if line.strip()]
    budget = float(sys.argv[3])
    for q in queries[:50]:  # warm the page cache, as the HTTP runs get a warm-up too
        db.execute(SQL, (q,)).fetchall()
    latencies, hits = [], 0
    start = time.perf_counter()
    i = 0
    while True:
        t0 = time.perf_counter()
        hits += len(db.execute(SQL, (queries[i % len(queries)],)).fetchall())
        latencies.append(time.perf_counter() - t0)
        i += 1
        if i >= len(queries) and time.perf_counter() - start >= budget:
            break
    elapsed = time.perf_counter() - start
    latencies.sort()
    print(json.dumps({
        "requests": i, "seconds": elapsed, "qps": i / elapsed,
        "p50_us": 1e6 * percentile(latencies, 50), "p99_us": 1e6 * percentile(latencies, 99),
        "hits_per_query": hits / i,
    }))


if __name__ == "__main__":
    main()
