# shellcheck shell=bash
# Shared shell functions of bench/run.sh: logging, peers, ports, servers, timing.
# Sourced, not run. Expects BENCH_DIR, WORK and RESULTS to be set by run.sh.

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Peers: install (apt / pip) when missing, or say clearly that they are unavailable.

APT_UPDATED=0
apt_install() { # apt_install PACKAGE… ; returns non-zero when it could not install
    command -v apt-get >/dev/null 2>&1 || return 1
    [ "$(id -u)" = 0 ] || return 1
    if [ "$APT_UPDATED" = 0 ]; then
        apt-get update -qq >/dev/null 2>&1 || return 1
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null 2>&1
}

pip_install() { # pip_install PACKAGE
    python3 -m pip install --quiet --disable-pip-version-check "$1" >/dev/null 2>&1
}

HAVE_SPIDER=0 SPIDER=""
HAVE_NGINX=0 HAVE_WGET=0 HAVE_WRK=0 HAVE_FTS5=0 HAVE_TANTIVY=0 HAVE_WARCIO=0 HAVE_PGDOCS=0
PG_DOCS=/usr/share/doc/postgresql-doc-15/html

# detect_peers NEED_PGDOCS: installs what is missing; sets the HAVE_* flags.
detect_peers() {
    local need_pgdocs=$1
    command -v nginx >/dev/null 2>&1 || apt_install nginx-light || apt_install nginx || true
    command -v nginx >/dev/null 2>&1 && HAVE_NGINX=1
    command -v wget >/dev/null 2>&1 || apt_install wget || true
    command -v wget >/dev/null 2>&1 && HAVE_WGET=1
    command -v wrk >/dev/null 2>&1 || apt_install wrk || true
    command -v wrk >/dev/null 2>&1 && HAVE_WRK=1
    [ -x /usr/bin/time ] || apt_install time || true
    [ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required and could not be installed"
    if [ "$need_pgdocs" = 1 ]; then
        [ -f "$PG_DOCS/index.html" ] || apt_install postgresql-doc-15 || true
        [ -f "$PG_DOCS/index.html" ] && HAVE_PGDOCS=1
    fi
    if python3 - <<'EOF' 2>/dev/null; then HAVE_FTS5=1; fi
import sqlite3
sqlite3.connect(":memory:").execute("create virtual table t using fts5(a, tokenize='porter unicode61')")
EOF
    python3 -c "import warcio" 2>/dev/null || pip_install warcio || true
    python3 -c "import warcio" 2>/dev/null && HAVE_WARCIO=1
    python3 -c "import tantivy" 2>/dev/null || pip_install tantivy || true
    python3 -c "import tantivy" 2>/dev/null && HAVE_TANTIVY=1

    # BENCH_SKIP="nginx wrk …": act as if these peers were absent (tests the fallbacks).
    local name flag
    for name in ${BENCH_SKIP:-}; do
        case $name in
            nginx) HAVE_NGINX=0 ;; wget) HAVE_WGET=0 ;; wrk) HAVE_WRK=0 ;; fts5) HAVE_FTS5=0 ;;
            tantivy) HAVE_TANTIVY=0 ;; warcio) HAVE_WARCIO=0 ;; pgdocs) HAVE_PGDOCS=0 ;;
            spider) ;; # detect_spider reads BENCH_SKIP itself
            *) die "BENCH_SKIP: unknown peer $name" ;;
        esac
    done
    [ "$HAVE_WARCIO" = 1 ] || export BENCH_NO_WARCIO=1
    for name in nginx wget wrk fts5 tantivy warcio pgdocs; do
        case $name in
            nginx) flag=$HAVE_NGINX ;; wget) flag=$HAVE_WGET ;; wrk) flag=$HAVE_WRK ;;
            fts5) flag=$HAVE_FTS5 ;; tantivy) flag=$HAVE_TANTIVY ;; warcio) flag=$HAVE_WARCIO ;;
            pgdocs) [ "$need_pgdocs" = 1 ] || continue; flag=$HAVE_PGDOCS ;;
        esac
        if [ "$flag" = 1 ]; then
            log "peer $name: available"
        else
            case $name in
                nginx) warn "nginx unavailable: static sites and the HTTP ceiling use bench/lib/static_server.py instead" ;;
                wget) warn "wget unavailable: the crawl comparison runs without wget" ;;
                wrk) warn "wrk unavailable: query load uses bench/lib/loadgen.py (slower client)" ;;
                fts5) warn "python sqlite3 has no FTS5: the SQLite FTS5 peer is skipped" ;;
                tantivy) warn "tantivy-py (pip tantivy) unavailable: the tantivy peer is skipped" ;;
                warcio) warn "warcio unavailable: page text is extracted without it (bench/lib/extract.py fallback reader)" ;;
                pgdocs) warn "postgresql-doc-15 unavailable: PostgreSQL-docs sections are skipped" ;;
            esac
        fi
    done
}

# detect_spider: spider_cli (the `spider` crawler from crates.io) as SPIDER. Uses SPIDER_BIN,
# else `spider` on PATH, else one built earlier under BENCH_TOOLS (default
# ~/.cache/quarry-bench); else, outside --smoke, builds it there with cargo (HTTP only, no
# Chrome: about 8 minutes on 2 cores, once).
detect_spider() {
    local tools=${BENCH_TOOLS:-$HOME/.cache/quarry-bench}
    case " ${BENCH_SKIP:-} " in *" spider "*) return ;; esac
    SPIDER=${SPIDER_BIN:-$(command -v spider || true)}
    [ -n "$SPIDER" ] || SPIDER=$tools/spider/bin/spider
    if [ ! -x "$SPIDER" ] && [ "$SMOKE" = 0 ] && command -v cargo >/dev/null 2>&1; then
        log "building spider_cli with cargo install (once, into $tools/spider; ~8 min)"
        timeout 1800 cargo install spider_cli --locked --no-default-features --root "$tools/spider" \
            >"$WORK/spider-install.log" 2>&1 || warn "spider_cli did not build: $(tail -n 3 "$WORK/spider-install.log")"
    fi
    if [ -x "$SPIDER" ]; then
        HAVE_SPIDER=1
        log "peer spider: available ($("$SPIDER" --version 2>/dev/null || echo spider))"
    else
        warn "spider_cli unavailable: the crawl comparison runs without it"
    fi
}

# ---------------------------------------------------------------------------------------
# Ports and background processes.

# free_port: a TCP port free on every address (bound on 0.0.0.0, then released).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'
}

# wait_http URL [SECONDS]: waits until URL answers (any status).
wait_http() {
    local url=$1 limit=${2:-20} i
    for ((i = 0; i < limit * 10; i++)); do
        if python3 -c "import sys,urllib.request,urllib.error
try: urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError: pass" "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

BG_PIDS=()
# stop_pid PID: SIGTERM, then SIGKILL after 5 s; only processes this script started.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all_bg() {
    local pid
    for pid in "${BG_PIDS[@]}"; do stop_pid "$pid"; done
    BG_PIDS=()
}

# ---------------------------------------------------------------------------------------
# Static sites: nginx as a non-daemon child (config generated into $WORK/nginx), or the
# Python fallback. A site is "ADDR:PORT ROOT" per line in a sites file.

NGINX_PID=""
# start_static SITES_FILE: serves every site; sets NGINX_PID.
start_static() {
    local sites=$1 conf=$WORK/nginx
    mkdir -p "$conf/logs" "$conf/tmp"
    if [ "$HAVE_NGINX" = 1 ]; then
        {
            echo "daemon off; master_process on; worker_processes 2; user root;"
            echo "pid $conf/nginx.pid; error_log $conf/logs/error.log warn;"
            echo "worker_rlimit_nofile 65536;"
            echo "events { worker_connections 4096; }"
            echo "http {"
            echo "  types { text/html html htm; text/css css; application/javascript js;"
            echo "          image/svg+xml svg; image/png png; application/json json; text/plain txt; }"
            echo "  default_type application/octet-stream;"
            echo "  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;"
            echo "  client_body_temp_path $conf/tmp/body; proxy_temp_path $conf/tmp/proxy;"
            echo "  fastcgi_temp_path $conf/tmp/fcgi; uwsgi_temp_path $conf/tmp/uwsgi;"
            echo "  scgi_temp_path $conf/tmp/scgi;"
            while read -r listen root; do
                echo "  server { listen $listen; root $root; index index.html; }"
            done <"$sites"
            echo "}"
        } >"$conf/nginx.conf"
        nginx -p "$conf" -c "$conf/nginx.conf" -t >/dev/null 2>"$conf/logs/test.log" ||
            die "nginx config test failed: $(cat "$conf/logs/test.log")"
        nginx -p "$conf" -c "$conf/nginx.conf" >"$conf/logs/stdout.log" 2>&1 &
        NGINX_PID=$!
    else
        python3 "$BENCH_DIR/lib/static_server.py" "$sites" >"$conf/logs/static.log" 2>&1 &
        NGINX_PID=$!
    fi
    BG_PIDS+=("$NGINX_PID")
    local first
    first=$(head -n1 "$sites" | cut -d' ' -f1)
    wait_http "http://$first/" 20 || die "static server did not come up on $first"
}

# ---------------------------------------------------------------------------------------
# Timing: run a command under GNU time; the measurements go to "$1.time" as
# "wall_s rss_kb user_s sys_s" and the command's stdout/stderr to "$1.out" / "$1.err".
timed() {
    local base=$1
    shift
    /usr/bin/time -f '%e %M %U %S' -o "$base.time" "$@" >"$base.out" 2>"$base.err"
}

# record JSON: appends one measurement line to the results file.
record() { printf '%s\n' "$1" >>"$RESULTS"; }
