#!/usr/bin/env python3
"""Extracts title + visible body text from Quarry's page store, for the index peers.

Usage: extract.py DATA_DIR OUT.jsonl
Reads DATA_DIR/pages/segment-*.warc.gz in log order (with warcio when installed and
BENCH_NO_WARCIO is unset, else a minimal reader of one-gzip-member-per-record WARC), keeps the latest 200 text/html response
of every URL, and writes {"url", "title", "body"} lines. Prints a JSON summary
{"documents", "html_bytes", "seconds"} on stdout.
"""

import glob
import gzip
import html.parser
import importlib.util
import json
import os
import sys
import time

SKIP = {"script", "style", "nav", "footer", "noscript", "template", "svg", "head"}


class TextExtractor(html.parser.HTMLParser):
    """Title and visible text, without script/style/nav/footer (as Quarry's indexer does)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title, self.body, self.skip, self.in_title = [], [], 0, False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        elif tag in SKIP:
            self.skip += 1

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag in SKIP and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)
        elif not self.skip:
            self.body.append(data)


def html_to_text(raw: bytes):
    parser = TextExtractor()
    parser.feed(raw.decode("utf-8", errors="replace"))
    parser.close()
    return " ".join("".join(parser.title).split()), " ".join(" ".join(parser.body).split())


def parse_http(block: bytes):
    """(status, content-type, body) of an HTTP response block."""
    head, _, body = block.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    ctype = ""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            ctype = value.strip().decode("latin-1").lower()
    return status, ctype, body


def records_warcio(path):
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            status = int(record.http_headers.get_statuscode()) if record.http_headers else 0
            ctype = (record.http_headers.get_header("Content-Type") or "").lower()
            yield url, status, ctype, record.content_stream().read()


def records_minimal(path):
    with gzip.open(path, "rb") as stream:
        while True:
            line = stream.readline()
            if not line:
                return
            if not line.startswith(b"WARC/"):
                continue
            headers = {}
            while True:
                line = stream.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().decode("utf-8", "replace")
            block = stream.read(int(headers.get(b"content-length", "0")))
            if headers.get(b"warc-type") == "response":
                status, ctype, body = parse_http(block)
                yield headers.get(b"warc-target-uri"), status, ctype, body


def main():
    data, out = sys.argv[1], sys.argv[2]
    use_warcio = not os.environ.get("BENCH_NO_WARCIO") and importlib.util.find_spec("warcio")
    reader = records_warcio if use_warcio else records_minimal
    start = time.perf_counter()
    latest = {}
    for path in sorted(glob.glob(os.path.join(data, "pages", "segment-*.warc*"))):
        for url, status, ctype, body in reader(path):
            if status == 200 and "html" in ctype:
                latest[url] = body
    html_bytes = 0
    with open(out, "w") as f:
        for url, body in latest.items():
            html_bytes += len(body)
            title, text = html_to_text(body)
            f.write(json.dumps({"url": url, "title": title, "body": text}) + "\n")
    print(json.dumps({"documents": len(latest), "html_bytes": html_bytes,
                      "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
