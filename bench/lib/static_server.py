#!/usr/bin/env python3
"""Fallback static file server for bench/run.sh when nginx is unavailable.

Usage: static_server.py SITES_FILE — one "ADDR:PORT ROOT" per line; serves each ROOT on its
address (HTTP/1.1 keep-alive, one thread per connection) until SIGTERM.
"""

import functools
import http.server
import signal
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add
    # ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass


def main():
    servers = []
    with open(sys.argv[1]) as sites:
        for line in sites:
            if not line.strip():
                continue
            listen, root = line.split()
            host, port = listen.rsplit(":", 1)
            handler = functools.partial(Handler, directory=root)
            server = http.server.ThreadingHTTPServer((host, int(port)), handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
