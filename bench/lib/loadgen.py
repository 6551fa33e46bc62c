#!/usr/bin/env python3
"""Fallback HTTP load generator (when wrk is not installed): bounded concurrency and time.

Usage: loadgen.py HOST:PORT PATHS_FILE CONNECTIONS SECONDS
CONNECTIONS threads, each with one keep-alive connection, cycle through the paths until
SECONDS have passed. Prints the same "WRK_JSON {…}" line as bench/lib/wrk_paths.lua.
Python's client is far slower than wrk: its QPS is a floor, not a ceiling.
"""

import http.client
import json
import sys
import threading
import time


def main():
    hostport, paths_file, connections, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    host, port = hostport.rsplit(":", 1)
    with open(paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    latencies, errors, non_2xx = [], [0], [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(offset):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine, i = [], offset
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", paths[i % len(paths)])
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 300:
                    with lock:
                        non_2xx[0] += 1
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            mine.append(time.perf_counter() - t0)
            i += 1
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c * 9973,)) for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda p: int(1e6 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))])
    print("WRK_JSON " + json.dumps({
        "requests": len(latencies), "seconds": elapsed, "p50_us": pick(50), "p99_us": pick(99),
        "max_us": int(1e6 * latencies[-1]) if latencies else 0,
        "errors": errors[0] + non_2xx[0], "non_2xx": non_2xx[0]}))


if __name__ == "__main__":
    main()
