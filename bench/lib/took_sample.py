#!/usr/bin/env python3
"""Server-side search time: the `took_ms` Quarry reports, over a sequential sample of queries.

Usage: took_sample.py BASE_URL PATHS_FILE N
Requests the first N paths one after another and prints {"n", "took_p50_ms", "took_p99_ms",
"wall_p50_ms", "wall_p99_ms", "response_bytes_p50", "bytes_read_p50", "bytes_read_p99",
"slowest_ms", "slowest_query", "slowest_total"} as JSON (bytes_read: the responses'
`index_bytes_read`; run it against a server without result cache, or on unseen queries), so the HTTP table can be split
into time spent searching and time spent elsewhere (HTTP, JSON, client).
"""

import json
import sys
import time
import urllib.parse
import urllib.request


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main():
    base, paths_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(paths_file) as f:
        paths = [line.strip() for line in f if line.strip()][:n]
    took, wall, sizes, read, slowest = [], [], [], [], (0.0, "", 0)
    for path in paths:
        start = time.perf_counter()
        body = urllib.request.urlopen(base + path, timeout=30).read()
        wall.append(1000 * (time.perf_counter() - start))
        response = json.loads(body)
        took.append(response["took_ms"])
        sizes.append(len(body))
        read.append(response.get("index_bytes_read", 0))
        if response["took_ms"] > slowest[0]:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["q"][0]
            slowest = (response["took_ms"], query, response.get("total", 0))
    print(json.dumps({
        "n": len(paths), "took_p50_ms": pct(took, 50), "took_p99_ms": pct(took, 99),
        "wall_p50_ms": round(pct(wall, 50), 3), "wall_p99_ms": round(pct(wall, 99), 3),
        "response_bytes_p50": pct(sizes, 50),
        "bytes_read_p50": pct(read, 50), "bytes_read_p99": pct(read, 99),
        "slowest_ms": slowest[0], "slowest_query": slowest[1], "slowest_total": slowest[2],
    }))


if __name__ == "__main__":
    main()
