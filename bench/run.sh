#!/usr/bin/env bash
# Quarry benchmark harness: Quarry vs peers, measured in the same run on the same data.
#
#   bench/run.sh [crawl|index|query|shards|frontier|workers|all] [--smoke] [--reps N] [--keep]
#
#   crawl     quarry crawl (1 and 4 connections per host; response_time_factor default and
#             0) vs wget --recursive, with and without --warc-file, on the PostgreSQL docs;
#             spider_cli (crawl and download); quarry on 200 loopback hosts with a per-host
#             delay (achieved vs ideal rate)
#   workers   the many-host crawl shared by 1, 2 and 3 `quarry crawl --frontier nats://…`
#             processes (a nats-server on loopback), with the per-host delay and with none,
#             next to one local quarry crawl
#   frontier  quarry crawl of a site whose every page links to 2,000 new URLs, capped at
#             520 pages (≥ 1M URLs in the frontier): peak RSS, pages/s
#   index     quarry index rebuild vs SQLite FTS5 and tantivy-py on the same text
#   query     quarry serve over HTTP (wrk), without and with its result cache, vs in-process
#             SQLite FTS5 and the loopback HTTP ceiling (nginx, static file), with the fixed
#             queries of bench/queries.txt (bench/queries-rust.txt on the Rust docs); index
#             bytes read per query warm and with the index evicted from the page cache
#   shards    the same queries against one index and against 2 shards behind a coordinator
#             (quarry serve --shards), no result cache: the coordinator's cost (both
#             shards share this machine's cores, so this is not a scale-out figure), and
#             whether the first pages agree
#   --smoke   tiny inputs, one repetition, peers optional: ~1–2 minutes; exits non-zero
#             when the harness breaks
#   --reps N  repetitions per measurement (default 3; BENCH_REPS)
#   --keep    keep the work directory (BENCH_WORK, default a new /tmp/quarry-bench.*)
#
# Environment: QUARRY_BIN (else `cargo build --release -p quarry` in the repo and its
# target dir), BENCH_REPS, BENCH_WORK, BENCH_SKIP (peers to treat as absent, e.g.
# "nginx wrk", to exercise the Python fallbacks). Installs missing peers with apt/pip when it can
# (nginx-light, wget, wrk, postgresql-doc-15, warcio, tantivy; spider_cli with cargo, see
# detect_spider in lib/common.sh) and says so when it cannot.
# Prints markdown tables on stdout (also saved to $WORK/results.md); progress on stderr.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
LIB=$BENCH_DIR/lib

SECTION=all
SMOKE=0
REPS=${BENCH_REPS:-3}
KEEP=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        crawl | index | query | shards | frontier | workers | all) SECTION=$1 ;;
        --smoke) SMOKE=1 ;;
        --reps) REPS=$2; shift ;;
        --keep) KEEP=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
[ "$SMOKE" = 1 ] && REPS=1

WORK=${BENCH_WORK:-$(mktemp -d /tmp/quarry-bench.XXXXXX)}
mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
# shellcheck source=lib/common.sh
source "$LIB/common.sh"

cleanup() {
    local status=$?
    stop_all_bg
    if [ "$KEEP" = 1 ] || [ "$status" != 0 ]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Sizes: full run vs smoke.
if [ "$SMOKE" = 1 ]; then
    SITE_PAGES=60          # generated site replacing the PostgreSQL docs
    MANY_HOSTS=10 MANY_PAGES=5 MANY_DELAY_MS=200
    FANOUT=200 FRONTIER_PAGES=50
    QUERY_SECONDS=1 QUERY_CONCURRENCY="1 8" QUERY_LIMIT=100
    CMD_TIMEOUT=120
else
    SITE_PAGES=1200        # only when the PostgreSQL docs cannot be installed
    MANY_HOSTS=200 MANY_PAGES=20 MANY_DELAY_MS=500
    FANOUT=2000 FRONTIER_PAGES=520
    QUERY_SECONDS=10 QUERY_CONCURRENCY="1 8" QUERY_LIMIT=1000
    CMD_TIMEOUT=3600
fi
QUERIES=$BENCH_DIR/queries.txt
RUST_DOCS=$(rustc --print sysroot 2>/dev/null)/share/doc/rust/html

# ---------------------------------------------------------------------------------------
# The binary under test.
find_quarry() {
    if [ -n "${QUARRY_BIN:-}" ]; then
        [ -x "$QUARRY_BIN" ] || die "QUARRY_BIN=$QUARRY_BIN is not an executable"
        return
    fi
    log "building quarry (cargo build --release -p quarry)"
    (cd "$REPO" && cargo build --release -p quarry --quiet) || die "cargo build failed"
    local target
    target=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    QUARRY_BIN=$target/release/quarry
}

# check CONDITION_RESULT MESSAGE: the harness is broken when a measurement is implausible.
check() { [ "$1" = 1 ] || die "sanity check failed: $2"; }

# ---------------------------------------------------------------------------------------
# Sites: all served by one static server (nginx, or the Python fallback).
SITE_NAME="" SITE_ROOT="" SITE_PORT=""
prepare_sites() {
    local sites=$WORK/sites.txt h
    : >"$sites"
    if [ "$SMOKE" = 0 ] && [ "$HAVE_PGDOCS" = 1 ]; then
        SITE_NAME="PostgreSQL docs" SITE_ROOT=$PG_DOCS
    else
        [ "$SMOKE" = 1 ] || warn "PostgreSQL docs unavailable: using a generated $SITE_PAGES-page site instead"
        python3 "$LIB/gen_site.py" "$WORK/site" 1 "$SITE_PAGES" "$QUERIES"
        SITE_NAME="generated site ($SITE_PAGES pages)" SITE_ROOT=$WORK/site/h001
    fi
    SITE_PORT=$(free_port)
    echo "127.0.0.1:$SITE_PORT $SITE_ROOT" >>"$sites"

    RUST_PORT=""
    if [ "$SMOKE" = 0 ] && [ -f "$RUST_DOCS/index.html" ]; then
        RUST_PORT=$(free_port)
        echo "127.0.0.1:$RUST_PORT $RUST_DOCS" >>"$sites"
    fi

    MANY_PORT=$(free_port)
    python3 "$LIB/gen_site.py" "$WORK/many" "$MANY_HOSTS" "$MANY_PAGES" "$QUERIES"
    for ((h = 1; h <= MANY_HOSTS; h++)); do
        printf '127.0.0.%d:%d %s/many/h%03d\n' $((h + 1)) "$MANY_PORT" "$WORK" "$h" >>"$sites"
    done

    CEILING_PORT=$(free_port)
    CEILING_SERVER=nginx
    [ "$HAVE_NGINX" = 1 ] || CEILING_SERVER="Python fallback"
    mkdir -p "$WORK/ceiling"
    echo "127.0.0.1:$CEILING_PORT $WORK/ceiling" >>"$sites"

    start_static "$sites"
    wait_http "http://127.0.0.$((MANY_HOSTS + 1)):$MANY_PORT/" 20 || die "many-host site not reachable"
    # Warm the page cache so that no crawler pays for the first read from disk.
    find "$SITE_ROOT" -type f -exec cat {} + >/dev/null
    log "serving $SITE_NAME on 127.0.0.1:$SITE_PORT, $MANY_HOSTS hosts on 127.0.0.2-$((MANY_HOSTS + 1)):$MANY_PORT"
}

# quarry_config CONNS[:RTF]: a config file with max_connections_per_host = CONNS and, when
# given, response_time_factor = RTF (the adaptive politeness factor; default 1.0).
quarry_config() {
    local conns=${1%%:*} rtf="" file
    [ "$1" != "$conns" ] && rtf=${1#*:}
    file=$WORK/quarry-c$conns${rtf:+-rtf$rtf}.toml
    # The frontier benchmark queues a million URLs on one host: lift the per-host trap
    # limit (100,000 by default) so it measures the frontier, not the limit.
    printf '[crawl]\nmax_connections_per_host = %d\nmax_urls_per_host = 100000000\n' "$conns" >"$file"
    [ -n "$rtf" ] && printf 'response_time_factor = %s\n' "$rtf" >>"$file"
    echo "$file"
}

# quarry_label CONNS[:RTF]: the crawler's name in the tables.
quarry_label() {
    local conns=${1%%:*}
    if [ "$1" != "$conns" ]; then
        echo "quarry, $conns conn/host, response_time_factor ${1#*:}"
    else
        echo "quarry, $conns conn/host"
    fi
}

# quarry_crawl BASE DATA SEEDS CONNS[:RTF] [ARGS…]: a timed crawl; sets PAGES and QUEUED.
quarry_crawl() {
    local base=$1 data=$2 seeds=$3 conns=$4
    shift 4
    rm -rf "$data"
    timed "$base" timeout "$CMD_TIMEOUT" "$QUARRY_BIN" --config "$(quarry_config "$conns")" crawl \
        --seeds "$seeds" --data "$data" --allow-private-addresses --max-depth 1000 "$@" ||
        die "quarry crawl failed ($base): $(tail -n 5 "$base.err")"
    PAGES=$(grep -o 'stored [0-9]* pages' "$base.out" | grep -o '[0-9]*' || echo 0)
    QUEUED=$(grep -o '[0-9]* URLs still queued' "$base.out" | grep -o '^[0-9]*' || echo 0)
}

# time_fields BASE: JSON fields from the GNU time output of a timed command.
time_fields() {
    read -r wall rss user sys <"$1.time.last"
    echo "\"wall_s\": $wall, \"rss_kb\": $rss, \"user_s\": $user, \"sys_s\": $sys"
}
# GNU time prints "Command exited with non-zero status" before the figures; keep the last line.
fix_time() { tail -n 1 "$1.time" >"$1.time.last"; }

# ---------------------------------------------------------------------------------------
# crawl
crawl_site_runs() {
    local url="http://127.0.0.1:$SITE_PORT/index.html" seeds=$WORK/site-seeds.txt rep base variant
    echo "$url" >"$seeds"
    mkdir -p "$WORK/crawl"
    for ((rep = 1; rep <= REPS; rep++)); do
        # Connections per host 1 and 4 with the default adaptive politeness (delay ≥ last
        # response time × response_time_factor 1.0), and with it off (factor 0).
        for variant in 1 4 1:0 4:0; do
            base=$WORK/crawl/quarry-c${variant/:/-rtf}-$rep
            log "crawl $SITE_NAME: $(quarry_label "$variant"), run $rep/$REPS"
            quarry_crawl "$base" "$WORK/crawl/data-c${variant/:/-rtf}" "$seeds" "$variant" --delay-ms 0
            fix_time "$base"
            check "$([ "$PAGES" -gt 0 ] && echo 1)" "quarry stored no pages of $url"
            record "{\"section\": \"crawl\", \"site\": \"$SITE_NAME\", \"tool\": \"$(quarry_label "$variant")\", \"rep\": $rep, \"pages\": $PAGES, $(time_fields "$base")}"
        done
        if [ "$HAVE_WGET" = 1 ]; then
            local variant dir args
            for variant in plain warc; do
                base=$WORK/crawl/wget-$variant-$rep dir=$WORK/crawl/wget-$variant
                rm -rf "$dir" && mkdir -p "$dir"
                args=(--recursive --level=inf --no-parent -q -P "$dir")
                [ "$variant" = warc ] && args+=(--warc-file="$dir/crawl")
                log "crawl $SITE_NAME: wget ($variant), run $rep/$REPS"
                # wget exits 8 when any link answered 404; that is not a harness failure.
                timed "$base" timeout "$CMD_TIMEOUT" wget "${args[@]}" "$url" || true
                fix_time "$base"
                PAGES=$(find "$dir" -type f \( -name '*.html' -o -name '*.htm' \) | wc -l)
                check "$([ "$PAGES" -gt 0 ] && echo 1)" "wget saved no pages of $url"
                local label="wget --recursive"
                [ "$variant" = warc ] && label="wget --recursive --warc-file"
                record "{\"section\": \"crawl\", \"site\": \"$SITE_NAME\", \"tool\": \"$label\", \"rep\": $rep, \"pages\": $PAGES, $(time_fields "$base")}"
            done
            rm -rf "$WORK/crawl/wget-plain" "$WORK/crawl/wget-warc"
        fi
        if [ "$HAVE_SPIDER" = 1 ]; then
            # `crawl` fetches every page and extracts its links but stores nothing; `download`
            # also writes each page to a file. --depth 0 = no depth limit.
            local dir=$WORK/crawl/spider
            base=$WORK/crawl/spider-crawl-$rep
            log "crawl $SITE_NAME: spider crawl, run $rep/$REPS"
            timed "$base" timeout "$CMD_TIMEOUT" "$SPIDER" --url "$url" --depth 0 crawl -o || true
            fix_time "$base"
            PAGES=$(grep -c '^http' "$base.out" || true)
            record "{\"section\": \"crawl\", \"site\": \"$SITE_NAME\", \"tool\": \"spider crawl (links only, stores nothing)\", \"rep\": $rep, \"pages\": $PAGES, $(time_fields "$base")}"
            base=$WORK/crawl/spider-download-$rep
            rm -rf "$dir" && mkdir -p "$dir"
            log "crawl $SITE_NAME: spider download, run $rep/$REPS"
            timed "$base" timeout "$CMD_TIMEOUT" "$SPIDER" --url "$url" --depth 0 download -t "$dir" || true
            fix_time "$base"
            PAGES=$(find "$dir" -type f | wc -l)
            record "{\"section\": \"crawl\", \"site\": \"$SITE_NAME\", \"tool\": \"spider download\", \"rep\": $rep, \"pages\": $PAGES, $(time_fields "$base")}"
            rm -rf "$dir"
        fi
    done
    # The 4-connection data directory is the corpus of the index and query sections.
    SITE_DATA=$WORK/crawl/data-c4
    rm -rf "$WORK/crawl/data-c1" "$WORK/crawl/data-c1-rtf0" "$WORK/crawl/data-c4-rtf0"
}

crawl_manyhost_runs() {
    local seeds=$WORK/many-seeds.txt rep base h
    mkdir -p "$WORK/crawl"
    : >"$seeds"
    for ((h = 1; h <= MANY_HOSTS; h++)); do
        echo "http://127.0.0.$((h + 1)):$MANY_PORT/index.html" >>"$seeds"
    done
    for ((rep = 1; rep <= REPS; rep++)); do
        base=$WORK/crawl/many-$rep
        log "crawl $MANY_HOSTS hosts × $MANY_PAGES pages, delay $MANY_DELAY_MS ms: quarry, run $rep/$REPS"
        quarry_crawl "$base" "$WORK/crawl/many-data" "$seeds" 1 --delay-ms "$MANY_DELAY_MS"
        fix_time "$base"
        check "$([ "$PAGES" -gt 0 ] && echo 1)" "quarry stored no pages of the many-host site"
        record "{\"section\": \"manyhost\", \"tool\": \"quarry, 1 conn/host\", \"hosts\": $MANY_HOSTS, \"delay_ms\": $MANY_DELAY_MS, \"rep\": $rep, \"pages\": $PAGES, $(time_fields "$base")}"
    done
    rm -rf "$WORK/crawl/many-data"
    # wget for reference: sequential over hosts, so its ideal is 1 ÷ delay whatever the hosts.
    if [ "$HAVE_WGET" = 1 ] && [ "$SMOKE" = 0 ]; then
        local few=2 dir=$WORK/crawl/wget-many wait_s
        wait_s=$(python3 -c "print($MANY_DELAY_MS / 1000)")
        head -n "$few" "$seeds" >"$WORK/many-seeds-few.txt"
        rm -rf "$dir" && mkdir -p "$dir"
        base=$WORK/crawl/wget-many
        log "crawl $few hosts with wget --wait $wait_s (reference, 1 run)"
        timed "$base" timeout "$CMD_TIMEOUT" wget --recursive --level=inf --no-parent -q \
            --wait="$wait_s" -P "$dir" -i "$WORK/many-seeds-few.txt" || true
        fix_time "$base"
        PAGES=$(find "$dir" -type f -name '*.html' | wc -l)
        record "{\"section\": \"manyhost\", \"tool\": \"wget --recursive --wait $wait_s (sequential)\", \"hosts\": $few, \"delay_ms\": $MANY_DELAY_MS, \"rep\": 1, \"pages\": $PAGES, $(time_fields "$base")}"
        rm -rf "$dir"
    fi
}

# ---------------------------------------------------------------------------------------
# workers: one crawl shared by 1, 2 and 3 `quarry crawl --frontier nats://…` processes
workers_runs() {
    if ! command -v nats-server >/dev/null 2>&1; then
        apt_install nats-server || true
    fi
    if ! command -v nats-server >/dev/null 2>&1; then
        warn "no nats-server: skipping the shared-frontier section"
        return
    fi
    local seeds=$WORK/many-seeds.txt h n w rep base delay pids port log pages
    : >"$seeds"
    for ((h = 1; h <= MANY_HOSTS; h++)); do
        echo "http://127.0.0.$((h + 1)):$MANY_PORT/index.html" >>"$seeds"
    done
    mkdir -p "$WORK/workers"
    log=$WORK/workers/nats.log
    rm -rf "$WORK/workers/js"
    nats-server -js -a 127.0.0.1 -p -1 -sd "$WORK/workers/js" 2>"$log" &
    BG_PIDS+=("$!")
    for _ in $(seq 50); do
        port=$(grep -o 'client connections on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || die "nats-server did not start: $(tail -n 3 "$log")"
    for delay in "$MANY_DELAY_MS" 0; do
        for n in 1 2 3; do
            for ((rep = 1; rep <= REPS; rep++)); do
                log "crawl $MANY_HOSTS hosts, delay $delay ms: $n worker(s) on NATS, run $rep/$REPS"
                pids=()
                local start_ns end_ns
                start_ns=$(date +%s%N)
                for ((w = 1; w <= n; w++)); do
                    base=$WORK/workers/d$delay-n$n-r$rep-w$w
                    rm -rf "$base.data"
                    timed "$base" timeout "$CMD_TIMEOUT" "$QUARRY_BIN" --config "$(quarry_config 1)" crawl \
                        --seeds "$seeds" --data "$base.data" --allow-private-addresses --max-depth 1000 \
                        --delay-ms "$delay" --frontier "nats://127.0.0.1:$port/d${delay}n${n}r${rep}" &
                    pids+=("$!")
                done
                for pid in "${pids[@]}"; do
                    wait "$pid" || die "a shared-crawl worker failed: $(tail -n 5 "$WORK"/workers/d$delay-n$n-r$rep-w*.err)"
                done
                end_ns=$(date +%s%N)
                pages=0
                local rss=0 cpu=0
                for ((w = 1; w <= n; w++)); do
                    base=$WORK/workers/d$delay-n$n-r$rep-w$w
                    fix_time "$base"
                    pages=$((pages + $(grep -o 'stored [0-9]* pages' "$base.out" | grep -o '[0-9]*' || echo 0)))
                    read -r _ wrss user sys <"$base.time.last"
                    [ "$wrss" -gt "$rss" ] && rss=$wrss
                    cpu=$(python3 -c "print($cpu + $user + $sys)")
                    rm -rf "$base.data"
                done
                check "$([ "$pages" -gt 0 ] && echo 1)" "the shared crawl stored no pages"
                record "{\"section\": \"manyhost\", \"tool\": \"quarry, $n worker(s) on NATS, delay $delay ms\", \"hosts\": $MANY_HOSTS, \"delay_ms\": $delay, \"rep\": $rep, \"pages\": $pages, \"wall_s\": $(python3 -c "print(($end_ns - $start_ns) / 1e9)"), \"rss_kb\": $rss, \"user_s\": $cpu, \"sys_s\": 0}"
            done
        done
    done
}

# ---------------------------------------------------------------------------------------
# frontier
frontier_runs() {
    local port rep base server_pid
    port=$(free_port)
    python3 "$LIB/fanout_server.py" "$port" "$FANOUT" &
    server_pid=$!
    BG_PIDS+=("$server_pid")
    wait_http "http://127.0.0.1:$port/robots.txt" 20 || die "fan-out server did not start"
    echo "http://127.0.0.1:$port/docs/root.html" >"$WORK/fanout-seeds.txt"
    mkdir -p "$WORK/frontier"
    for ((rep = 1; rep <= REPS; rep++)); do
        base=$WORK/frontier/run-$rep
        log "frontier: fan-out $FANOUT, --max-pages $FRONTIER_PAGES, run $rep/$REPS"
        quarry_crawl "$base" "$WORK/frontier/data" "$WORK/fanout-seeds.txt" 4 \
            --delay-ms 0 --max-pages "$FRONTIER_PAGES"
        fix_time "$base"
        check "$([ "$QUEUED" -gt $((FANOUT * FRONTIER_PAGES / 2)) ] && echo 1)" \
            "frontier holds only $QUEUED URLs after $PAGES pages"
        record "{\"section\": \"frontier\", \"fanout\": $FANOUT, \"max_pages\": $FRONTIER_PAGES, \"rep\": $rep, \"pages\": $PAGES, \"queued\": $QUEUED, $(time_fields "$base")}"
        rm -rf "$WORK/frontier/data"
    done
}

# ---------------------------------------------------------------------------------------
# Corpora for index and query: NAME|DATA_DIR lines in $WORK/corpora.txt.
SITE_DATA=""
ensure_corpora() {
    [ -f "$WORK/corpora.txt" ] && return
    mkdir -p "$WORK/crawl"
    if [ -z "$SITE_DATA" ]; then
        echo "http://127.0.0.1:$SITE_PORT/index.html" >"$WORK/site-seeds.txt"
        log "crawling $SITE_NAME for the index and query sections"
        quarry_crawl "$WORK/crawl/prep-site" "$WORK/crawl/data-c4" "$WORK/site-seeds.txt" 4 --delay-ms 0
        SITE_DATA=$WORK/crawl/data-c4
    fi
    echo "$SITE_NAME|$SITE_DATA" >"$WORK/corpora.txt"
    if [ -n "$RUST_PORT" ]; then
        local base=$WORK/crawl/rust
        echo "http://127.0.0.1:$RUST_PORT/index.html" >"$WORK/rust-seeds.txt"
        log "crawling the Rust docs (quarry, 4 conn/host, 1 run; the index and query corpus)"
        quarry_crawl "$base" "$WORK/crawl/rust-data" "$WORK/rust-seeds.txt" 4 --delay-ms 0
        fix_time "$base"
        record "{\"section\": \"crawl\", \"site\": \"Rust docs (quarry only, 1 run)\", \"goal\": false, \"tool\": \"quarry, 4 conn/host\", \"rep\": 1, \"pages\": $PAGES, $(time_fields "$base")}"
        echo "Rust docs|$WORK/crawl/rust-data" >>"$WORK/corpora.txt"
    fi
}

# json_fields FILE: the members of a flat JSON object as `"k": v, …` for record().
json_fields() {
    python3 -c 'import json,sys; print(", ".join(f"\"{k}\": {json.dumps(v)}" for k, v in json.load(open(sys.argv[1])).items()))' "$1"
}
json_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# ---------------------------------------------------------------------------------------
# index
index_runs() {
    ensure_corpora
    local name data slug rep base docs html stats
    while IFS='|' read -r name data; do
        slug=$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-')
        mkdir -p "$WORK/index/$slug"
        log "index $name: extracting text for the peers"
        python3 "$LIB/extract.py" "$data" "$WORK/index/$slug/docs.jsonl" >"$WORK/index/$slug/extract.json"
        record "{\"section\": \"info\", \"text\": \"$name: bench/lib/extract.py read the WARC page store and extracted $(json_get "$WORK/index/$slug/extract.json" documents) documents in $(python3 -c "import json; print(round(json.load(open('$WORK/index/$slug/extract.json'))['seconds'], 2))") s (Python; not included in the peers' index times).\"}"
        for ((rep = 1; rep <= REPS; rep++)); do
            base=$WORK/index/$slug/quarry-$rep
            log "index $name: quarry index rebuild, run $rep/$REPS"
            timed "$base" timeout "$CMD_TIMEOUT" "$QUARRY_BIN" index rebuild --data "$data" ||
                die "quarry index rebuild failed: $(tail -n 5 "$base.err")"
            fix_time "$base"
            stats=$WORK/index/$slug/stats.json
            "$QUARRY_BIN" index stats --data "$data" --json >"$stats"
            docs=$(json_get "$stats" documents)
            html=$(json_get "$stats" raw_html_bytes)
            check "$([ "$docs" -gt 0 ] && echo 1)" "quarry indexed no documents of $name"
            read -r wall _ <"$base.time.last"
            record "{\"section\": \"index\", \"corpus\": \"$name\", \"tool\": \"quarry\", \"rep\": $rep, \"documents\": $docs, \"seconds\": $wall, \"bytes\": $(json_get "$stats" index_bytes), \"html_bytes\": $html}"
            # Quarry's analyzers and index on the peers' extracted text (`quarry eval` indexes a
            # corpus of plain documents the way it indexes pages; one query to score).
            local tbase=$WORK/index/$slug/quarry-text-$rep
            log "index $name: quarry on the extracted text (quarry eval), run $rep/$REPS"
            python3 - "$WORK/index/$slug/docs.jsonl" "$tbase" <<'PY'
import json, sys
docs, base = sys.argv[1], sys.argv[2]
first = None
with open(docs) as src, open(base + ".corpus.jsonl", "w") as out:
    for line in src:
        d = json.loads(line)
        out.write(json.dumps({"_id": d["url"], "title": d["title"], "text": d["body"]}) + "\n")
        first = first or d["url"]
with open(base + ".queries.jsonl", "w") as out:
    out.write(json.dumps({"_id": "q", "text": "the"}) + "\n")
with open(base + ".qrels.tsv", "w") as out:
    out.write("query-id\tcorpus-id\tscore\nq\t" + first + "\t1\n")
PY
            timed "$tbase" timeout "$CMD_TIMEOUT" "$QUARRY_BIN" eval --corpus "$tbase.corpus.jsonl" \
                --queries "$tbase.queries.jsonl" --qrels "$tbase.qrels.tsv" --json ||
                die "quarry eval failed: $(tail -n 5 "$tbase.err")"
            record "{\"section\": \"index\", \"corpus\": \"$name\", \"tool\": \"quarry, same extracted text\", \"rep\": $rep, \"documents\": $(json_get "$tbase.out" documents), \"seconds\": $(json_get "$tbase.out" index_seconds), \"bytes\": $(json_get "$tbase.out" index_bytes), \"html_bytes\": $html, \"extract_seconds\": $(json_get "$WORK/index/$slug/extract.json" seconds)}"
            rm -f "$tbase".corpus.jsonl
            local peer label out
            for peer in fts5 tantivy; do
                if [ "$peer" = fts5 ]; then [ "$HAVE_FTS5" = 1 ] || continue; label="SQLite FTS5"; out=$WORK/index/$slug/fts5.sqlite; fi
                if [ "$peer" = tantivy ]; then [ "$HAVE_TANTIVY" = 1 ] || continue; label="tantivy-py"; out=$WORK/index/$slug/tantivy; fi
                rm -rf "$out"
                log "index $name: $label, run $rep/$REPS"
                python3 "$LIB/index_peers.py" "$peer" "$WORK/index/$slug/docs.jsonl" "$out" >"$base.$peer.json"
                record "{\"section\": \"index\", \"corpus\": \"$name\", \"tool\": \"$label\", \"rep\": $rep, $(json_fields "$base.$peer.json"), \"html_bytes\": $html, \"extract_seconds\": $(json_get "$WORK/index/$slug/extract.json" seconds)}"
            done
        done
    done <"$WORK/corpora.txt"
}

# ---------------------------------------------------------------------------------------
# query
# load URL_BASE PATHS CONCURRENCY SECONDS OUT: wrk (or the Python fallback); OUT gets WRK_JSON.
load() {
    local base_url=$1 paths=$2 conc=$3 seconds=$4 out=$5
    if [ "$HAVE_WRK" = 1 ]; then
        WRK_PATHS=$paths timeout $((seconds + 30)) wrk -t1 -c"$conc" -d"${seconds}s" --timeout 10s \
            -s "$LIB/wrk_paths.lua" "$base_url" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    else
        timeout $((seconds + 30)) python3 "$LIB/loadgen.py" "${base_url#http://}" "$paths" "$conc" "$seconds" >"$out" ||
            die "loadgen failed"
    fi
    grep '^WRK_JSON ' "$out" | sed 's/^WRK_JSON //' >"$out.json"
    json_fields "$out.json"
}

# query_paths QUERIES OUT: the /search paths of the first QUERY_LIMIT queries.
query_paths() {
    head -n "$QUERY_LIMIT" "$1" | python3 -c 'import sys, urllib.parse
for q in sys.stdin:
    if q.strip(): print("/search?limit=10&q=" + urllib.parse.quote_plus(q.strip()))' >"$2"
}

# start_serve DATA CONFIG LOG: starts quarry serve, sets SERVE_PORT and SERVE_PID.
start_serve() {
    start_serve_args "$2" "$3" --data "$1"
}

# start_serve_args CONFIG LOG ARGS…: starts quarry serve ARGS, sets SERVE_PORT and SERVE_PID.
start_serve_args() {
    local config=$1 log_file=$2
    shift 2
    SERVE_PORT=$(free_port)
    "$QUARRY_BIN" --config "$config" serve "$@" --listen "127.0.0.1:$SERVE_PORT" >"$log_file" 2>&1 &
    SERVE_PID=$!
    BG_PIDS+=("$SERVE_PID")
    wait_http "http://127.0.0.1:$SERVE_PORT/healthz" 30 || die "quarry serve did not start: $(cat "$log_file")"
}

query_runs() {
    ensure_corpora
    [ -f "$QUERIES" ] || die "$QUERIES missing (generate it: python3 bench/lib/gen_queries.py DOCS.jsonl bench/queries.txt)"
    local name data slug paths queries rep conc fields curl_out target config mode cold_n
    cold_n=$([ "$SMOKE" = 1 ] && echo 5 || echo 30)
    printf '[serve]\ncache_entries = 0\n' >"$WORK/serve-nocache.toml"
    printf '[serve]\n' >"$WORK/serve-cache.toml"
    while IFS='|' read -r name data; do
        slug=$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-')
        mkdir -p "$WORK/query/$slug"
        # Each corpus has its own queries when bench/ holds them (sampled from that corpus).
        queries=$QUERIES
        [ "$name" = "Rust docs" ] && [ -f "$BENCH_DIR/queries-rust.txt" ] && queries=$BENCH_DIR/queries-rust.txt
        head -n "$QUERY_LIMIT" "$queries" >"$WORK/query/$slug/queries.txt"
        paths=$WORK/query/$slug/paths.txt
        query_paths "$queries" "$paths"
        [ -f "$data/index/CURRENT" ] || "$QUARRY_BIN" index rebuild --data "$data" >/dev/null
        # FTS5 needs its index: built by the index section, or now.
        local fts=$WORK/index/$slug/fts5.sqlite
        if [ "$HAVE_FTS5" = 1 ] && [ ! -f "$fts" ]; then
            mkdir -p "$WORK/index/$slug"
            python3 "$LIB/extract.py" "$data" "$WORK/index/$slug/docs.jsonl" >/dev/null
            python3 "$LIB/index_peers.py" fts5 "$WORK/index/$slug/docs.jsonl" "$fts" >/dev/null
        fi
        # Without the result cache every request is a search; with it (the default), the
        # warm-up has cached all QUERY_LIMIT queries and the runs measure cached answers.
        for mode in nocache cache; do
            config=$WORK/serve-$mode.toml
            target="quarry serve ($([ $mode = cache ] && echo "result cache" || echo "no cache"))"
            start_serve "$data" "$config" "$WORK/query/$slug/serve-$mode.log"
            if [ $mode = nocache ]; then
                # Search time and warm bytes read, one query at a time, all queries unseen.
                python3 "$LIB/took_sample.py" "http://127.0.0.1:$SERVE_PORT" "$paths" "$QUERY_LIMIT" >"$WORK/query/$slug/took.json"
                local t=$WORK/query/$slug/took.json
                record "{\"section\": \"info\", \"text\": \"$name: took_ms reported by quarry serve (no cache) over $(json_get "$t" n) sequential queries: p50 $(json_get "$t" took_p50_ms) ms, p99 $(json_get "$t" took_p99_ms) ms (client-side wall, Python urllib: p50 $(json_get "$t" wall_p50_ms) ms, p99 $(json_get "$t" wall_p99_ms) ms); warm index_bytes_read p50 $(json_get "$t" bytes_read_p50), p99 $(json_get "$t" bytes_read_p99); median response $(json_get "$t" response_bytes_p50) bytes. Slowest: '$(json_get "$t" slowest_query)' ($(json_get "$t" slowest_total) hits) in $(json_get "$t" slowest_ms) ms.\"}"
                record "{\"section\": \"bytes\", \"corpus\": \"$name\", \"kind\": \"warm\", \"n\": $(json_get "$t" n), \"p50\": $(json_get "$t" bytes_read_p50), \"p99\": $(json_get "$t" bytes_read_p99), \"took_p50_ms\": $(json_get "$t" took_p50_ms), \"took_p99_ms\": $(json_get "$t" took_p99_ms)}"
                # The ceiling file: one Quarry response, as large as a typical answer.
                curl_out=$WORK/ceiling/$slug.json
                python3 -c 'import sys, urllib.request
sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' "http://127.0.0.1:$SERVE_PORT$(head -n1 "$paths")" >"$curl_out"
                echo "/$slug.json" >"$WORK/query/$slug/ceiling-path.txt"
            fi
            log "query $name: $target warm-up"
            load "http://127.0.0.1:$SERVE_PORT" "$paths" 4 "$QUERY_SECONDS" "$WORK/query/$slug/warmup-$mode.out" >/dev/null
            for ((rep = 1; rep <= REPS; rep++)); do
                for conc in $QUERY_CONCURRENCY; do
                    log "query $name: $target, concurrency $conc, run $rep/$REPS"
                    fields=$(load "http://127.0.0.1:$SERVE_PORT" "$paths" "$conc" "$QUERY_SECONDS" "$WORK/query/$slug/q-$mode-$conc-$rep.out")
                    record "{\"section\": \"query\", \"corpus\": \"$name\", \"target\": \"$target\", \"conc\": $conc, \"rep\": $rep, $fields}"
                done
            done
            stop_pid "$SERVE_PID"
        done
        for ((rep = 1; rep <= REPS; rep++)); do
            for conc in $QUERY_CONCURRENCY; do
                log "query $name: HTTP ceiling ($CEILING_SERVER static file), concurrency $conc, run $rep/$REPS"
                fields=$(load "http://127.0.0.1:$CEILING_PORT" "$WORK/query/$slug/ceiling-path.txt" "$conc" "$QUERY_SECONDS" "$WORK/query/$slug/c-$conc-$rep.out")
                record "{\"section\": \"query\", \"corpus\": \"$name\", \"target\": \"HTTP ceiling ($CEILING_SERVER static)\", \"conc\": $conc, \"rep\": $rep, $fields}"
            done
            if [ "$HAVE_FTS5" = 1 ]; then
                log "query $name: SQLite FTS5 in-process, run $rep/$REPS"
                python3 "$LIB/fts5_query.py" "$fts" "$WORK/query/$slug/queries.txt" "$QUERY_SECONDS" >"$WORK/query/$slug/fts-$rep.json"
                record "{\"section\": \"query\", \"corpus\": \"$name\", \"target\": \"SQLite FTS5 (Python, in-process)\", \"conc\": 0, \"rep\": $rep, $(json_fields "$WORK/query/$slug/fts-$rep.json")}"
            fi
        done
        # Cold: the index evicted from the page cache before each query (fresh server).
        log "query $name: cold reads, $cold_n queries"
        python3 "$LIB/cold_reads.py" "$QUARRY_BIN" "$data" "$paths" "$cold_n" >"$WORK/query/$slug/cold.json"
        local c=$WORK/query/$slug/cold.json
        record "{\"section\": \"bytes\", \"corpus\": \"$name\", \"kind\": \"cold\", $(json_fields "$c")}"
        local errors
        errors=$(grep -h '^WRK_JSON' "$WORK"/query/"$slug"/q-*.out | python3 -c 'import json,sys; print(sum(json.loads(l[9:])["errors"] for l in sys.stdin))')
        check "$([ "$errors" = 0 ] && echo 1)" "quarry serve answered $errors requests with errors or non-2xx"
    done <"$WORK/corpora.txt"
}

# ---------------------------------------------------------------------------------------
# shards: one index vs 2 shards + coordinator, same queries, no result cache.
shard_runs() {
    ensure_corpora
    [ -f "$QUERIES" ] || die "$QUERIES missing"
    local name data slug queries paths rep conc fields one shard0 shard1 coordinator pids agree
    printf '[serve]\ncache_entries = 0\n' >"$WORK/serve-nocache.toml"
    while IFS='|' read -r name data; do
        slug=$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-')
        mkdir -p "$WORK/shards/$slug"
        queries=$QUERIES
        [ "$name" = "Rust docs" ] && [ -f "$BENCH_DIR/queries-rust.txt" ] && queries=$BENCH_DIR/queries-rust.txt
        paths=$WORK/shards/$slug/paths.txt
        query_paths "$queries" "$paths"
        [ -f "$data/index/CURRENT" ] || "$QUARRY_BIN" index rebuild --data "$data" >/dev/null
        for s in 0 1; do
            log "shards $name: quarry index rebuild --shard $s/2"
            timed "$WORK/shards/$slug/build-$s" timeout "$CMD_TIMEOUT" "$QUARRY_BIN" index rebuild --data "$data" --shard "$s/2" ||
                die "quarry index rebuild --shard $s/2 failed: $(tail -n 5 "$WORK/shards/$slug/build-$s.err")"
        done
        pids=()
        start_serve "$data" "$WORK/serve-nocache.toml" "$WORK/shards/$slug/one.log"
        one=$SERVE_PORT; pids+=("$SERVE_PID")
        start_serve_args "$WORK/serve-nocache.toml" "$WORK/shards/$slug/shard0.log" --data "$data" --shard 0/2
        shard0=$SERVE_PORT; pids+=("$SERVE_PID")
        start_serve_args "$WORK/serve-nocache.toml" "$WORK/shards/$slug/shard1.log" --data "$data" --shard 1/2
        shard1=$SERVE_PORT; pids+=("$SERVE_PID")
        start_serve_args "$WORK/serve-nocache.toml" "$WORK/shards/$slug/coordinator.log" \
            --shards "http://127.0.0.1:$shard0,http://127.0.0.1:$shard1"
        coordinator=$SERVE_PORT; pids+=("$SERVE_PID")
        agree=$WORK/shards/$slug/agree.json
        python3 "$LIB/shard_agree.py" "http://127.0.0.1:$one" "http://127.0.0.1:$coordinator" "$paths" "$QUERY_LIMIT" >"$agree"
        record "{\"section\": \"info\", \"text\": \"$name, 2 shards: first pages agree with one index for $(json_get "$agree" same_first_page) of $(json_get "$agree" queries) queries (same scores; same URLs except among hits tied with the last score, $(json_get "$agree" identical_urls) identical URL for URL), totals for $(json_get "$agree" same_total); first disagreement: $(json_get "$agree" first_difference).\"}"
        check "$([ "$(json_get "$agree" same_total)" = "$(json_get "$agree" queries)" ] && echo 1)" "the shards' totals differ from one index's"
        for target in one coordinator; do
            local port=$one label="one index"
            [ $target = coordinator ] && port=$coordinator && label="2 shards + coordinator"
            load "http://127.0.0.1:$port" "$paths" 4 "$QUERY_SECONDS" "$WORK/shards/$slug/warmup-$target.out" >/dev/null
            for ((rep = 1; rep <= REPS; rep++)); do
                for conc in $QUERY_CONCURRENCY; do
                    log "shards $name: $label, concurrency $conc, run $rep/$REPS"
                    fields=$(load "http://127.0.0.1:$port" "$paths" "$conc" "$QUERY_SECONDS" "$WORK/shards/$slug/q-$target-$conc-$rep.out")
                    record "{\"section\": \"shards\", \"corpus\": \"$name\", \"target\": \"$label\", \"conc\": $conc, \"rep\": $rep, $fields}"
                done
            done
        done
        for pid in "${pids[@]}"; do stop_pid "$pid"; done
    done <"$WORK/corpora.txt"
}

# ---------------------------------------------------------------------------------------
main() {
    local start=$SECONDS
    log "work directory $WORK; section $SECTION; smoke $SMOKE; $REPS repetition(s)"
    find_quarry
    log "quarry binary: $QUARRY_BIN"
    local need_pg=0
    [ "$SMOKE" = 0 ] && need_pg=1
    detect_peers "$need_pg"
    prepare_sites
    case $SECTION in
        crawl) detect_spider; crawl_site_runs; crawl_manyhost_runs ;;
        frontier) frontier_runs ;;
        index) index_runs ;;
        query) query_runs ;;
        shards) shard_runs ;;
        workers) crawl_manyhost_runs; workers_runs ;;
        all) detect_spider; crawl_site_runs; crawl_manyhost_runs; workers_runs; frontier_runs; index_runs; query_runs; shard_runs ;;
    esac
    local smoke_flag=()
    [ "$SMOKE" = 1 ] && smoke_flag=(--smoke)
    {
        echo "## Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "Command: \`bench/run.sh $SECTION$([ "$SMOKE" = 1 ] && echo ' --smoke')\` ($REPS repetition(s)). Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, Linux $(uname -r); $("$QUARRY_BIN" --version)."
        echo
        python3 "$LIB/report.py" "$RESULTS" "${smoke_flag[@]}"
    } | tee "$WORK/results.md"
    log "done in $((SECONDS - start)) s; raw measurements in $RESULTS"
}

main
