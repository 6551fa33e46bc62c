#!/usr/bin/env python3
"""Index peers: SQLite FTS5 and tantivy-py on the text extract.py wrote.

Usage: index_peers.py fts5|tantivy DOCS.jsonl OUT_PATH
Loads the documents into memory first, then times only the indexing (so the peers get no
HTML parsing or WARC reading in their time, unlike `quarry index rebuild`). Prints
{"documents", "seconds", "bytes"} as JSON. OUT_PATH is a file (fts5) or directory (tantivy)
and must not exist.

- fts5: fts5(url UNINDEXED, title, body), tokenizer porter unicode61, one transaction, then
  'optimize' (one b-tree segment). Stores the text, as Quarry does for snippets.
- tantivy: url raw+stored, title and body en_stem+stored with positions (Quarry's schema
  less headings), writer of 256 MB over 2 threads (Quarry's defaults), commit, wait for merges.
"""

import json
import os
import sys
import time


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def dir_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def build_fts5(docs, out):
    import sqlite3

    start = time.perf_counter()
    db = sqlite3.connect(out)
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(url UNINDEXED, title, body, "
               "tokenize='porter unicode61')")
    with db:
        db.executemany("INSERT INTO docs(url, title, body) VALUES (?, ?, ?)",
                       ((d["url"], d["title"], d["body"]) for d in docs))
    with db:
        db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
    db.close()
    return time.perf_counter() - start


def build_tantivy(docs, out):
    import tantivy

    start = time.perf_counter()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("url", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    schema = builder.build()
    os.makedirs(out)
    index = tantivy.Index(schema, path=out)
    writer = index.writer(heap_size=256 * 1024 * 1024, num_threads=2)
    for d in docs:
        writer.add_document(tantivy.Document(url=d["url"], title=d["title"], body=d["body"]))
    writer.commit()
    writer.wait_merging_threads()
    return time.perf_counter() - start


def main():
    peer, docs_path, out = sys.argv[1:4]
    docs = load(docs_path)
    seconds = {"fts5": build_fts5, "tantivy": build_tantivy}[peer](docs, out)
    result = {"documents": len(docs), "seconds": seconds, "bytes": dir_bytes(out)}
    if os.path.isdir(out):
        result["segments"] = sum(1 for name in os.listdir(out) if name.endswith(".idx"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
