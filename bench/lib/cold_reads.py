#!/usr/bin/env python3
"""Index bytes a query reads from disk when the index is not in the page cache.

Usage: cold_reads.py QUARRY_BIN DATA_DIR PATHS_FILE N

For each of N paths spread over PATHS_FILE: evicts every file of the served index
generation from the OS page cache (posix_fadvise DONTNEED; a fresh server process, since
pages mapped by a running process cannot be evicted), starts `quarry serve` with the
result cache off, waits until it answers /healthz (opening the generation reads term
dictionary footers, field norms and fast-field headers: reported as `open`), then sends
the one query and takes the difference of the server's /proc/PID/io `read_bytes` (what the
kernel read from storage for it, readahead included) around it. Prints one JSON object:
{"n", "cold_disk_p50_bytes", "cold_disk_p99_bytes", "cold_disk_max_bytes",
 "cold_counted_p50_bytes", "open_disk_p50_bytes", "cold_took_p50_ms", "cold_took_p99_ms",
 "evicted_ok"} where `counted` is the response's own `index_bytes_read`.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def evict(directory):
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def read_bytes(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    raise RuntimeError("no read_bytes in /proc/PID/io")


def wait_ready(base, deadline):
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def main():
    binary, data, paths_file, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(os.path.join(data, "index", "CURRENT")) as f:
        generation = os.path.join(data, "index", f.read().strip())
    with open(paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    step = max(1, len(paths) // n)
    sample = paths[::step][:n]
    config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    config.write("[serve]\ncache_entries = 0\n")
    config.close()
    disk, counted, opened, took = [], [], [], []
    evicted_ok = True
    try:
        for path in sample:
            evict(generation)
            port = free_port()
            server = subprocess.Popen(
                [binary, "--config", config.name, "serve", "--data", data,
                 "--listen", f"127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                base = f"http://127.0.0.1:{port}"
                if not wait_ready(base, time.time() + 30):
                    raise RuntimeError("quarry serve did not start")
                before = read_bytes(server.pid)
                opened.append(before)
                body = urllib.request.urlopen(base + path, timeout=30).read()
                disk.append(read_bytes(server.pid) - before)
                response = json.loads(body)
                counted.append(response["index_bytes_read"])
                took.append(response["took_ms"])
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
        # Eviction worked if a fresh server had to read the index from storage to open it.
        evicted_ok = pct(opened, 50) > 0
    finally:
        os.unlink(config.name)
    print(json.dumps({
        "n": len(disk),
        "cold_disk_p50_bytes": pct(disk, 50), "cold_disk_p99_bytes": pct(disk, 99),
        "cold_disk_max_bytes": max(disk),
        "cold_counted_p50_bytes": pct(counted, 50),
        "open_disk_p50_bytes": pct(opened, 50),
        "cold_took_p50_ms": pct(took, 50), "cold_took_p99_ms": pct(took, 99),
        "evicted_ok": evicted_ok,
    }))


if __name__ == "__main__":
    main()
