#!/usr/bin/env python3
"""Generates static sites for bench/run.sh.

Usage: gen_site.py OUT_DIR HOSTS PAGES [WORDS_FILE]
Writes OUT_DIR/h001 … OUT_DIR/hNNN, one directory per virtual host, each with index.html
and PAGES-1 more pages (p0001.html …). Every page links to the next few pages and back to
the index, so a crawl from index.html reaches all PAGES pages. The text is drawn with a
fixed seed from a small vocabulary (plus the words of WORDS_FILE, e.g. bench/queries.txt,
so that benchmark queries have hits). Output is identical for identical arguments.
"""

import os
import random
import sys

BASE_WORDS = """
table index query column row select insert update delete join schema database server client
function type trait struct module crate borrow lifetime iterator vector string slice memory
thread lock mutex channel async await future stream buffer cache page crawl search rank
score token analyzer stemmer document field record segment merge commit transaction
replication backup restore vacuum analyze statistics planner executor operator expression
constraint primary foreign key unique check default sequence trigger view materialized
partition tablespace role privilege grant revoke policy security encryption certificate
connection socket protocol request response header body status redirect timeout retry
configuration parameter setting option flag command line argument environment variable
""".split()


def words(words_file):
    vocab = list(BASE_WORDS)
    if words_file and os.path.exists(words_file):
        seen = set(vocab)
        with open(words_file) as f:
            for line in f:
                for word in line.split():
                    word = word.strip('"').lower()
                    if word.isalpha() and word not in seen:
                        seen.add(word)
                        vocab.append(word)
    return vocab


def paragraph(rng, vocab, n):
    text = " ".join(rng.choice(vocab) for _ in range(n))
    return text[0].upper() + text[1:] + "."


def page_name(i):
    return "index.html" if i == 0 else f"p{i:04d}.html"


def write_host(out, host, pages, vocab, rng):
    os.makedirs(out, exist_ok=True)
    for i in range(pages):
        links = {0, (i + 1) % pages, (i + 2) % pages, (i + 7) % pages, (i * 3 + 1) % pages}
        if i == 0:
            links.update(range(1, min(pages, 12)))
        items = "".join(
            f'<li><a href="{page_name(j)}">{rng.choice(vocab)} {j}</a></li>'
            for j in sorted(links)
            if j != i
        )
        title = " ".join(rng.choice(vocab) for _ in range(4)).title()
        paragraphs = "".join(f"<p>{paragraph(rng, vocab, rng.randint(40, 120))}</p>" for _ in range(6))
        html = (
            f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{title} — host {host} page {i}"
            f"</title></head><body><h1>{title}</h1><h2>{rng.choice(vocab)} {rng.choice(vocab)}</h2>"
            f"{paragraphs}<ul>{items}</ul></body></html>\n"
        )
        with open(os.path.join(out, page_name(i)), "w") as f:
            f.write(html)


def main():
    out, hosts, pages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    vocab = words(sys.argv[4] if len(sys.argv) > 4 else None)
    rng = random.Random(20261125)
    for h in range(1, hosts + 1):
        write_host(os.path.join(out, f"h{h:03d}"), h, pages, vocab, rng)


if __name__ == "__main__":
    main()
