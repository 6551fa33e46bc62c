#!/usr/bin/env python3
"""Huge-fan-out site for the frontier benchmark.

Usage: fanout_server.py PORT FANOUT — serves http://127.0.0.1:PORT/ until SIGTERM.
Every page /docs/<path>.html links to FANOUT new, unique URLs below <path>/, so a crawl of
N pages discovers about N × FANOUT URLs. /robots.txt is 404 (allow all). Pages are generated
on the fly (nothing on disk) and served with HTTP/1.1 keep-alive by asyncio.
"""

import asyncio
import signal
import sys

FANOUT = 2000

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


def page(path: str) -> bytes:
    """The page at `path` (e.g. /docs/s0017.html): FANOUT links to its children."""
    stem = path[: -len(".html")]
    links = "".join(
        f'<li><a href="{stem}/section-{i:04d}-reference-entry.html">entry {i}</a></li>\n'
        for i in range(FANOUT)
    )
    return (
        f"<!DOCTYPE html><html><head><title>Fan-out {stem}</title></head><body>"
        f"<h1>Fan-out page {stem}</h1><p>A generated page with {FANOUT} links.</p>"
        f"<ul>\n{links}</ul></body></html>"
    ).encode()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            path = parts[1] if len(parts) >= 2 else "/"
            path = path.split("?", 1)[0]
            if path == "/":
                path = "/docs/root.html"
            if path.startswith("/docs/") and path.endswith(".html"):
                body = page(path)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            else:
                writer.write(NOT_FOUND)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    global FANOUT
    port = int(sys.argv[1])
    FANOUT = int(sys.argv[2]) if len(sys.argv) > 2 else FANOUT
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
