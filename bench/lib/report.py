#!/usr/bin/env python3
"""Turns the measurements of one bench/run.sh run into markdown tables.

Usage: report.py RESULTS.jsonl [--smoke]
Every ratio is between figures of this one file, i.e. measured in the same run on the same
data. Each cell shows the median over repetitions and, in parentheses, the best run (the
fastest time / highest rate / lowest memory); "n" is the number of repetitions.
"""

import json
import statistics
import sys
from collections import OrderedDict

GOALS = []  # (goal, measured, met) rows for the summary table


def groups(rows, *keys):
    out = OrderedDict()
    for row in rows:
        out.setdefault(tuple(row[k] for k in keys), []).append(row)
    return out


def med(values):
    return statistics.median(values) if values else float("nan")


def rate(rows, num, den):
    """(median, best) of per-repetition num/den."""
    values = [r[num] / r[den] for r in rows if r[den] > 0]
    return med(values), max(values) if values else float("nan")


def fmt(x, digits=1):
    if x is None or x != x:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def mib(kb_or_bytes, unit="kb"):
    return kb_or_bytes / 1024 if unit == "kb" else kb_or_bytes / (1024 * 1024)


def pair(rows, key, scale=1.0, best=min, digits=1):
    values = [r[key] * scale for r in rows]
    return f"{fmt(med(values), digits)} ({fmt(best(values), digits)})"


def ratio(a, b):
    return a / b if b and a == a and b == b else float("nan")


def goal(text, value, met, unit="×"):
    GOALS.append((text, f"{fmt(value, 2)}{unit}" if unit else value, "**met**" if met else "not met"))


def crawl_tables(rows):
    crawl = [r for r in rows if r["section"] == "crawl"]
    if crawl:
        print("### Crawl: one site, delay 0\n")
        print("Pages = HTML pages stored (Quarry), saved (wget, spider download) or visited (spider "
              "crawl, the URLs it prints); rate = pages / wall time of the whole process; CPU = "
              "user + system.\n")
        print("| site | crawler | n | pages | wall s | pages/s | CPU s | peak RSS MiB | ÷ wget --warc-file | ÷ wget | ÷ spider crawl |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (site,), site_rows in groups(crawl, "site").items():
            by_tool = groups(site_rows, "tool")
            pps = {tool: rate(rs, "pages", "wall_s")[0] for (tool,), rs in by_tool.items()}
            warc = next((v for t, v in pps.items() if "warc" in t), None)
            plain = next((v for t, v in pps.items() if t.startswith("wget") and "warc" not in t), None)
            spider = next((v for t, v in pps.items() if t.startswith("spider crawl")), None)
            for (tool,), rs in by_tool.items():
                m, b = rate(rs, "pages", "wall_s")
                for r in rs:
                    r["cpu_s"] = r["user_s"] + r["sys_s"]
                r_warc = ratio(m, warc) if warc and tool.startswith("quarry") else None
                r_plain = ratio(m, plain) if plain and tool.startswith("quarry") else None
                r_spider = ratio(m, spider) if spider and tool.startswith("quarry") else None
                print(f"| {site} | {tool} | {len(rs)} | {fmt(med([r['pages'] for r in rs]), 0)} | "
                      f"{pair(rs, 'wall_s', digits=2)} | {fmt(m)} ({fmt(b)}) | {pair(rs, 'cpu_s', digits=2)} | "
                      f"{pair(rs, 'rss_kb', 1 / 1024)} | {fmt(r_warc, 2) if r_warc else '—'} | "
                      f"{fmt(r_plain, 2) if r_plain else '—'} | {fmt(r_spider, 2) if r_spider else '—'} |")
                if r_warc is not None and site_rows[0].get("goal", True):
                    goal(f"crawl {site}, {tool}: ≥ 2× wget --recursive --warc-file", r_warc, r_warc >= 2)
                if r_plain is not None and site_rows[0].get("goal", True):
                    goal(f"crawl {site}, {tool}: ≥ 1× plain wget --recursive", r_plain, r_plain >= 1)
        print()
    many = [r for r in rows if r["section"] == "manyhost"]
    if many:
        print("### Crawl: many hosts, per-host delay (politeness-bound)\n")
        print("Ideal rate = hosts ÷ per-host delay (every host busy all the time).\n")
        print("| crawler | hosts | delay ms | n | pages | wall s | pages/s | ideal pages/s | achieved ÷ ideal | CPU s | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (tool,), rs in groups(many, "tool").items():
            m, b = rate(rs, "pages", "wall_s")
            ideal = rs[0]["hosts"] * 1000 / rs[0]["delay_ms"] if rs[0]["delay_ms"] else None
            for r in rs:
                r["cpu_s"] = r["user_s"] + r["sys_s"]
            print(f"| {tool} | {rs[0]['hosts']} | {rs[0]['delay_ms']} | {len(rs)} | "
                  f"{fmt(med([r['pages'] for r in rs]), 0)} | {pair(rs, 'wall_s', digits=2)} | "
                  f"{fmt(m)} ({fmt(b)}) | {fmt(ideal)} | {fmt(ratio(m, ideal), 2)} | "
                  f"{pair(rs, 'cpu_s', digits=2)} | {pair(rs, 'rss_kb', 1 / 1024)} |")
        print()


def frontier_table(rows):
    rs = [r for r in rows if r["section"] == "frontier"]
    if not rs:
        return
    print("### Frontier: huge link fan-out\n")
    print(f"Each page links to {rs[0]['fanout']:,} new unique URLs; the crawl stops at "
          f"--max-pages {rs[0]['max_pages']}. Queued = the crawler's own count of URLs still "
          "in the frontier at the end.\n")
    print("| n | pages stored | URLs queued | wall s | pages/s | CPU s | peak RSS MiB | goal RSS < 200 MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rs:
        r["cpu_s"] = r["user_s"] + r["sys_s"]
    m, b = rate(rs, "pages", "wall_s")
    worst = max(r["rss_kb"] / 1024 for r in rs)
    queued = med([r["queued"] for r in rs])
    print(f"| {len(rs)} | {fmt(med([r['pages'] for r in rs]), 0)} | {queued:,.0f} | "
          f"{pair(rs, 'wall_s', digits=2)} | {fmt(m)} ({fmt(b)}) | {pair(rs, 'cpu_s', digits=2)} | "
          f"{pair(rs, 'rss_kb', 1 / 1024)} | {'met' if worst < 200 else 'not met'} (worst run {fmt(worst)}) |")
    print()
    goal(f"frontier peak RSS < 200 MiB at {queued:,.0f} queued URLs (worst run)", f"{worst:.1f} MiB",
         worst < 200 and queued >= 1_000_000 if rs[0].get("goal", True) else worst < 200, unit="")


def index_table(rows):
    rs = [r for r in rows if r["section"] == "index"]
    if not rs:
        return
    print("### Index build\n")
    print("Quarry: `quarry index rebuild` wall time, from the WARC page store (read, decode, "
          "extract, link graph, dedup, index, merge). `quarry, same extracted text`: Quarry's "
          "analyzers and index (`quarry eval` indexing a corpus of plain documents) on the peers' "
          "text, index time only. Peers: indexing time only, on text already extracted by "
          "bench/lib/extract.py; the next column adds that (Python) extraction time. tantivy-py "
          "cannot force a merge, so its index may keep several segments; Quarry merges to one. "
          "Bytes = files on disk.\n")
    print("| corpus | indexer | n | documents | seconds | docs/s | docs/s incl. extraction | index MiB | index ÷ raw HTML | speed ÷ tantivy-py | size ÷ FTS5 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (corpus,), crs in groups(rs, "corpus").items():
        by_tool = groups(crs, "tool")
        dps = {t: rate(r, "documents", "seconds")[0] for (t,), r in by_tool.items()}
        size = {t: med([x["bytes"] for x in r]) for (t,), r in by_tool.items()}
        for (tool,), trs in by_tool.items():
            m, b = rate(trs, "documents", "seconds")
            html = trs[0].get("html_bytes") or 0
            ours = tool.startswith("quarry")
            speed = ratio(m, dps.get("tantivy-py")) if ours and "tantivy-py" in dps else None
            small = ratio(size[tool], size.get("SQLite FTS5")) if ours and "SQLite FTS5" in size else None
            if "extract_seconds" in trs[0]:
                with_extract = fmt(med([x["documents"] / (x["seconds"] + x["extract_seconds"]) for x in trs]))
            else:
                with_extract = fmt(m)  # Quarry's own time already includes extraction
            print(f"| {corpus} | {tool} | {len(trs)} | {fmt(med([x['documents'] for x in trs]), 0)} | "
                  f"{pair(trs, 'seconds', digits=2)} | {fmt(m)} ({fmt(b)}) | {with_extract} | "
                  f"{fmt(mib(size[tool], 'b'), 2)} | {fmt(100 * size[tool] / html, 1) + '%' if html else '—'} | "
                  f"{fmt(speed, 2) if speed else '—'} | {fmt(small, 2) if small else '—'} |")
            what = "" if tool == "quarry" else f" ({tool.removeprefix('quarry, ')})"
            if speed is not None:
                goal(f"index {corpus}{what}: speed ≥ 1× tantivy-py (docs/s)", speed, speed >= 1)
            if small is not None:
                goal(f"index {corpus}{what}: size ≤ 1× SQLite FTS5", small, small <= 1)
    print()


def query_table(rows):
    rs = [r for r in rows if r["section"] == "query"]
    if not rs:
        return
    print("### Query\n")
    print("HTTP rows: wrk (or bench/lib/loadgen.py) on loopback, cycling through the corpus' fixed queries "
          "(bench/queries.txt; bench/queries-rust.txt on the Rust docs), top 10 with snippets, fixed concurrency "
          "and duration, after a warm-up pass. `no cache`: the result cache off, every request is a search; "
          "`result cache`: the default, the warm-up cached every query, so the runs measure cached answers. "
          "The ceiling is nginx (or the Python fallback) serving a static file of the size of a Quarry response "
          "with the same client. FTS5: in-process, one thread, same queries, top 10 with snippets.\n")
    print("| corpus | target | concurrency | n | requests | QPS | p50 ms | p99 ms | errors | QPS ÷ ceiling |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (corpus,), crs in groups(rs, "corpus").items():
        by = groups(crs, "target", "conc")
        qps = {k: rate(v, "requests", "seconds")[0] for k, v in by.items()}
        for (target, conc), trs in by.items():
            m, b = rate(trs, "requests", "seconds")
            serve = target.startswith("quarry serve")
            ceiling = next((v for (t, c), v in qps.items() if t.startswith("HTTP ceiling") and c == conc),
                           None) if serve else None
            frac = ratio(m, ceiling) if ceiling else None
            p50 = med([x["p50_us"] / 1000 for x in trs])
            p99 = med([x["p99_us"] / 1000 for x in trs])
            print(f"| {corpus} | {target} | {conc if conc else 'in-process'} | {len(trs)} | "
                  f"{fmt(med([x['requests'] for x in trs]), 0)} | {fmt(m)} ({fmt(b)}) | "
                  f"{pair(trs, 'p50_us', 1 / 1000, digits=2)} | {pair(trs, 'p99_us', 1 / 1000, digits=2)} | "
                  f"{fmt(sum(x.get('errors', 0) for x in trs), 0)} | {fmt(100 * frac, 0) + '%' if frac else '—'} |")
            if serve and trs[0].get("goal", True):
                what = f"query {corpus}, {target}, concurrency {conc}"
                goal(f"{what}: p50 ≤ 1 ms", f"{p50:.2f} ms", p50 <= 1, unit="")
                goal(f"{what}: p99 ≤ 10 ms", f"{p99:.2f} ms", p99 <= 10, unit="")
                if frac is not None:
                    goal(f"{what}: QPS ≥ 50% of HTTP ceiling", f"{100 * frac:.0f}%", frac >= 0.5, unit="")
    print()
    bs = [r for r in rows if r["section"] == "bytes"]
    if not bs:
        return
    print("### Index bytes read per query\n")
    print("Warm: the `index_bytes_read` Quarry reports (byte ranges its search asked the index files for, "
          "page cache or not), every query once, no result cache. Cold: bench/lib/cold_reads.py evicts the "
          "generation's files from the page cache (posix_fadvise DONTNEED), starts a fresh server, and takes "
          "the server's /proc/PID/io `read_bytes` (what the kernel read from disk) around one query; "
          "`open` is what the fresh server read to open the generation.\n")
    print("| corpus | kind | queries | p50 | p99 | max | reported index_bytes_read p50 | took p50 / p99 ms | open |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in bs:
        kib = lambda v: f"{v / 1024:,.0f} KiB"
        if r["kind"] == "warm":
            print(f"| {r['corpus']} | warm (reported) | {r['n']} | {kib(r['p50'])} | {kib(r['p99'])} | — | "
                  f"{kib(r['p50'])} | {r['took_p50_ms']} / {r['took_p99_ms']} | — |")
        else:
            print(f"| {r['corpus']} | cold (disk) | {r['n']} | {kib(r['cold_disk_p50_bytes'])} | "
                  f"{kib(r['cold_disk_p99_bytes'])} | {kib(r['cold_disk_max_bytes'])} | "
                  f"{kib(r['cold_counted_p50_bytes'])} | {r['cold_took_p50_ms']} / {r['cold_took_p99_ms']} | "
                  f"{kib(r['open_disk_p50_bytes'])} |")
            if not r.get("evicted_ok", True):
                print(f"\n(warning: a fresh server read nothing to open {r['corpus']}: eviction did not work)\n")
            goal(f"query {r['corpus']}: cold disk reads ≤ 1 MB per query (p99)",
                 kib(r["cold_disk_p99_bytes"]), r["cold_disk_p99_bytes"] <= 1_000_000, unit="")
    print()


def shards_table(rows):
    rs = [r for r in rows if r["section"] == "shards"]
    if not rs:
        return
    print("### Sharded search\n")
    print("The same queries (no result cache) against one `quarry serve` of the whole index and against "
          "a coordinator (`quarry serve --shards`) of two `quarry serve --shard i/2`, all on this machine: "
          "the shards share its cores, so this is the coordinator's cost (three loopback round trips per "
          "shard), not a scale-out figure.\n")
    print("| corpus | target | concurrency | n | QPS | p50 ms | p99 ms | errors | QPS ÷ one index |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (corpus,), crs in groups(rs, "corpus").items():
        by = groups(crs, "target", "conc")
        qps = {k: rate(v, "requests", "seconds")[0] for k, v in by.items()}
        for (target, conc), trs in by.items():
            m, b = rate(trs, "requests", "seconds")
            one = qps.get(("one index", conc))
            frac = ratio(m, one) if one and target != "one index" else None
            print(f"| {corpus} | {target} | {conc} | {len(trs)} | {fmt(m)} ({fmt(b)}) | "
                  f"{pair(trs, 'p50_us', 1 / 1000, digits=2)} | {pair(trs, 'p99_us', 1 / 1000, digits=2)} | "
                  f"{fmt(sum(x.get('errors', 0) for x in trs), 0)} | {fmt(frac, 2) + '×' if frac else '—'} |")
    print()


def info_table(rows):
    rs = [r for r in rows if r["section"] == "info"]
    if rs:
        print("### Notes from this run\n")
        for r in rs:
            print(f"- {r['text']}")
        print()


def main():
    with open(sys.argv[1]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    crawl_tables(rows)
    frontier_table(rows)
    index_table(rows)
    query_table(rows)
    shards_table(rows)
    info_table(rows)
    if "--smoke" in sys.argv:
        print("(smoke run: tiny inputs, one repetition — goals are not evaluated)\n")
    elif GOALS:
        print("### Goals\n")
        print("| goal | measured (medians) | |")
        print("|---|---:|---|")
        for text, value, met in GOALS:
            print(f"| {text} | {value} | {met} |")
        print()


if __name__ == "__main__":
    main()
