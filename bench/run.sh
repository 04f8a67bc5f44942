#!/usr/bin/env bash
# Pharos benchmarks: status-page throughput against nginx, and monitor scale.
#
#   bench/run.sh                 everything: page, then scale 1000 and 10000
#   bench/run.sh page            status page / summary.json vs nginx serving the same bytes
#   bench/run.sh scale [N ...]   N http monitors at 30 s (default: 1000 10000)
#   bench/run.sh compressed      the page benchmark with `Accept-Encoding: gzip, br` (and with
#                                `gzip` only) against nginx serving the very bytes Pharos sends,
#                                pre-compressed (gzip_static, brotli_static); then the page again
#                                while HALF_OPEN=3000 connections hold half a request each.
#                                req/s, p99 and bytes per request; summary in compressed.md
#   bench/run.sh publish [ARGS]  time from a target going dark to the incident on summary.json
#                                (bench/publish.py; ARGS e.g. --outages 20 --database URL)
#   bench/run.sh fanout [webhook N] [email N]
#                                one incident's notification fan-out (crates/bench, pharos-fanout):
#                                N webhook subscribers to a local HTTP receiver and N e-mail
#                                subscribers to a local SMTP sink, time until the last delivery
#                                (default: webhook 10000, then email 100000; targets 10 s and 60 s).
#                                On SQLite, and on PostgreSQL too when PHAROS_BENCH_POSTGRES_URL is
#                                set (each run in a fresh schema there, dropped afterwards). Raw
#                                lines in bench/results/<stamp>-fanout/fanout.jsonl.
#   bench/run.sh checkcost [http] [tcp] [rss]
#                                CPU per check (crates/bench, pharos-checkcost): Pharos with
#                                CHECKCOST_MONITORS http (then tcp) monitors at 1 s against a local
#                                target in the tool's process, then Debian's blackbox_exporter
#                                (installed with apt-get when missing, run on its own port) asked
#                                for the same probes at the same rate; CPU ms per 1,000 checks of
#                                each, from /proc/<pid>/stat over the window. rss: Pharos's VmRSS
#                                with RSS_MONITORS mostly idle http monitors (interval RSS_INTERVAL).
#                                Default: all three, ROUNDS times (the order of Pharos and the
#                                exporter alternates by round). Before each case it waits (up to
#                                QUIET_WAIT_MAX s) until no compiler runs and the 1-minute load is
#                                below QUIET_LOAD. Raw lines in bench/results/<stamp>-checkcost/.
#
# Knobs (environment): WARMUP=60 WINDOW=120 SETTLE=45 WRK_SECONDS=15 ROUNDS=2 UNDER_LOAD=1
#   PORT_BASE=18080 QUIET_WAIT_MAX=1200 SKIP_BUILD=0 KEEP_TMP=0 INTERVAL=30s
#   NGINX_KEEPALIVE_REQUESTS (unset = nginx's default, 1000), NGINX_REUSEPORT=1 (static nginx
#   only: one listening socket per worker, so the kernel spreads connections evenly)
#   PERF=1 (scale only: perf record Pharos for PERF_SECONDS=30 after the window; reports in results)
#   FANOUT_TIMEOUT=1200 (fanout: seconds one run may wait for its deliveries)
#   PHAROS_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test (fanout: also on PostgreSQL)
#   checkcost: CHECKCOST_MONITORS=1000 CHECKCOST_INTERVAL=1 (s) CHECKCOST_WARMUP=20
#   CHECKCOST_WINDOW=60 CHECKCOST_CONCURRENCY=64 (probe requests in flight to the exporter)
#   RSS_MONITORS=1,1000,10000 RSS_INTERVAL=300 RSS_SETTLE=60 RSS_WINDOW=20 QUIET_LOAD=0.5
#
# Builds `cargo build --release --bin pharos` (fanout and checkcost also build their tool from
# crates/bench), installs wrk and nginx with apt-get when they are missing, generates configs in a temp dir, writes raw results to bench/results/<stamp>/
# (git-ignored) and prints a markdown summary. Everything runs on 127.0.0.1 only, every load
# is bounded in time, and every process it starts is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
WARMUP=${WARMUP:-60}
WINDOW=${WINDOW:-120}
SETTLE=${SETTLE:-45}
WRK_SECONDS=${WRK_SECONDS:-15}
ROUNDS=${ROUNDS:-2}
UNDER_LOAD=${UNDER_LOAD:-1}
PORT_BASE=${PORT_BASE:-18080}
QUIET_WAIT_MAX=${QUIET_WAIT_MAX:-1200}
INTERVAL=${INTERVAL:-30s}
INTERVAL_S=${INTERVAL%s}
TARGET_PORT=$((PORT_BASE + 1))
STATIC_PORT=$((PORT_BASE + 2))
NEXT_PHAROS_PORT=$((PORT_BASE + 10))
# cargo builds where CARGO_TARGET_DIR says, when it is set.
RELEASE_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
BIN="$RELEASE_DIR/pharos"

MODE=${1:-all}
shift || true
case "$MODE" in
  all) DO_PAGE=1; SCALES=(1000 10000) ;;
  page) DO_PAGE=1; SCALES=() ;;
  compressed) DO_PAGE=0; SCALES=(); DO_COMPRESSED=1 ;;
  publish)
    [ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release --bin pharos)
    exec python3 "$HERE/publish.py" --bin "$BIN" "$@" ;;
  scale) DO_PAGE=0; if [ $# -gt 0 ]; then SCALES=("$@"); else SCALES=(1000 10000); fi ;;
  fanout)
    DO_PAGE=0; SCALES=(); FANOUT_RUNS=()
    [ $# -eq 0 ] && FANOUT_RUNS=(webhook:10000 email:100000)
    while [ $# -gt 0 ]; do
      [[ "$1" =~ ^(webhook|email)$ && "${2:-}" =~ ^[0-9]+$ && "${2:-0}" -ge 1 ]] \
        || { echo "fanout: expected pairs like 'webhook 10000 email 100000', got '$*'" >&2; exit 2; }
      FANOUT_RUNS+=("$1:$2")
      shift 2
    done ;;
  checkcost)
    DO_PAGE=0; SCALES=(); CHECKCOST_CASES=()
    [ $# -eq 0 ] && CHECKCOST_CASES=(http tcp rss)
    for c in "$@"; do
      [[ "$c" =~ ^(http|tcp|rss)$ ]] || { echo "checkcost: expected http, tcp or rss, got '$c'" >&2; exit 2; }
      CHECKCOST_CASES+=("$c")
    done ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
  *) echo "usage: $0 [all|page|compressed|scale [N ...]|publish [ARGS]|fanout [webhook N] [email N]|checkcost [http] [tcp] [rss]]" >&2; exit 2 ;;
esac
for n in "${SCALES[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 100 ] || { echo "scale: N must be a number >= 100, got '$n'" >&2; exit 2; }
done
[[ "$INTERVAL_S" =~ ^[0-9]+$ ]] || { echo "INTERVAL must be whole seconds like 30s" >&2; exit 2; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------ processes we own
PIDS=()
TMP=""
stop_pid() { # pid [grace seconds] -> prints seconds taken; sets STOP_CODE
  local pid=$1 grace=${2:-15} t0 i
  STOP_CODE=""
  t0=$(date +%s.%N)
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still running after ${grace}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  set +e; wait "$pid" 2>/dev/null; STOP_CODE=$?; set -e
  STOP_SECONDS=$(python3 -c "import sys;print(round($(date +%s.%N)-$t0,2))")
  forget_pid "$pid"
}
forget_pid() {
  local keep=() p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}
cleanup() {
  local code=$? p
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    p=${PIDS[$i]}
    kill -0 "$p" 2>/dev/null && { kill -TERM "$p" 2>/dev/null || true; }
  done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ prerequisites
need_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || missing+=(nginx-light)
  command -v curl >/dev/null || missing+=(curl)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
}
build() {
  if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN" ]; then log "SKIP_BUILD=1: using $BIN"; return; fi
  log "cargo build --release --bin pharos"
  (cd "$ROOT" && cargo build --release --bin pharos)
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_http() { # url timeout_s
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}
# Wait until nobody compiles on the machine (the other engineer shares our 2 cores).
compiling() {
  local n
  for n in rustc cc1 cc1plus clippy-driver rust-lld ld ld.lld; do
    pgrep -x "$n" >/dev/null && return 0
  done
  return 1
}
wait_quiet() {
  local waited=0
  while compiling; do
    if [ "$waited" -ge "$QUIET_WAIT_MAX" ]; then
      log "WARNING: a compiler is still running after ${waited}s; measuring anyway (see compiler seconds)"
      break
    fi
    [ $((waited % 60)) = 0 ] && log "a compiler is running (load $(cut -d' ' -f1-3 /proc/loadavg)); waiting"
    sleep 10
    waited=$((waited + 10))
  done
  log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }

# ------------------------------------------------------------------ nginx
# nginx_conf NAME PORT ROOT WORKERS ACCESS_LOG(path|off); NGINX_MODULES and
# NGINX_STATIC_COMPRESSION (directives) are added when set.
nginx_conf() {
  local name=$1 port=$2 root=$3 workers=$4 alog=$5 conf="$TMP/$1.nginx.conf"
  local alog_line="access_log off;"
  [ "$alog" != off ] && alog_line="access_log $alog bench;"
  local kar=""
  [ -n "${NGINX_KEEPALIVE_REQUESTS:-}" ] && kar="keepalive_requests ${NGINX_KEEPALIVE_REQUESTS};"
  local reuse=""
  [ "$name" = static ] && [ "${NGINX_REUSEPORT:-0}" = 1 ] && reuse=" reuseport"
  mkdir -p "$TMP/$name-nginx"
  cat >"$conf" <<EOF
# Generated by bench/run.sh
${NGINX_MODULES:-}
user root;
worker_processes $workers;
daemon off;
master_process on;
pid $TMP/$name-nginx/nginx.pid;
error_log $TMP/$name-nginx/error.log warn;
events { worker_connections 4096; }
http {
    types { text/html html; application/json json; text/plain txt; }
    default_type text/plain;
    sendfile on;
    tcp_nopush on;
    gzip off;
    ${NGINX_STATIC_COMPRESSION:-}
    $kar
    client_body_temp_path $TMP/$name-nginx/body;
    proxy_temp_path $TMP/$name-nginx/proxy;
    fastcgi_temp_path $TMP/$name-nginx/fastcgi;
    uwsgi_temp_path $TMP/$name-nginx/uwsgi;
    scgi_temp_path $TMP/$name-nginx/scgi;
    log_format bench '\$msec \$request_uri \$status';
    $alog_line
    server {
        listen 127.0.0.1:$port${reuse};
        root $root;
    }
}
EOF
  echo "$conf"
}
start_nginx() { # conf port -> sets NGINX_PID
  port_free "$2" || { echo "port $2 is busy" >&2; exit 1; }
  nginx -c "$1" -p "$TMP" -e "$(dirname "$1")/nginx-startup-error.log" 2>>"$TMP/nginx-stderr.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_http "http://127.0.0.1:$2/" 20 || wait_http "http://127.0.0.1:$2/ok" 5
}
start_target() { # access_log_path -> sets TARGET_PID
  mkdir -p "$TMP/target-root"
  printf 'OK\n' >"$TMP/target-root/ok"
  printf 'OK\n' >"$TMP/target-root/index.html"
  local conf
  conf=$(nginx_conf target "$TARGET_PORT" "$TMP/target-root" 1 "$1")
  start_nginx "$conf" "$TARGET_PORT"
  TARGET_PID=$NGINX_PID
}

# ------------------------------------------------------------------ pharos
start_pharos() { # config dir -> sets PHAROS_PID PHAROS_PORT STARTUP_S
  local cfg=$1 dir=$2 t0
  PHAROS_PORT=$NEXT_PHAROS_PORT
  NEXT_PHAROS_PORT=$((NEXT_PHAROS_PORT + 1))
  port_free "$PHAROS_PORT" || { echo "port $PHAROS_PORT is busy" >&2; exit 1; }
  rm -f "$dir"/pharos.db*
  t0=$(now)
  "$BIN" serve --config "$cfg" --listen "127.0.0.1:$PHAROS_PORT" --database "sqlite://$dir/pharos.db" \
    >"$dir/pharos.log" 2>&1 &
  PHAROS_PID=$!
  PIDS+=("$PHAROS_PID")
  wait_http "http://127.0.0.1:$PHAROS_PORT/healthz" 120
  STARTUP_S=$(python3 -c "print(round($(now)-$t0,2))")
  log "pharos pid $PHAROS_PID on 127.0.0.1:$PHAROS_PORT, ready in ${STARTUP_S}s"
}
run_wrk() { # url outfile
  timeout $((WRK_SECONDS + 60)) wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency "$1" >"$2" 2>&1 || true
  grep -E 'Requests/sec|99%' "$2" | tr -s ' ' | paste -sd' ' | sed "s|^|  $(basename "$2"): |" >&2 || true
}
sample() { # pid seconds outprefix  (foreground)
  python3 "$HERE/sample.py" --pid "$1" --seconds "$2" --out "$3" --tree-root $$ >/dev/null
}

# ------------------------------------------------------------------ page benchmark
page_bench() {
  local dir="$TMP/page" out="$RES/page" r key route nurl
  mkdir -p "$dir" "$out" "$dir/static"
  log "== page benchmark"
  start_target "$dir/target-access.log"
  python3 "$HERE/gen_config.py" page --target "http://127.0.0.1:$TARGET_PORT" --interval "$INTERVAL" >"$dir/pharos.toml"
  "$BIN" validate --config "$dir/pharos.toml" >&2
  cp "$dir/pharos.toml" "$out/"
  start_pharos "$dir/pharos.toml" "$dir"
  log "settling for ${SETTLE}s"
  sleep "$SETTLE"
  local base="http://127.0.0.1:$PHAROS_PORT"
  curl -fsS -D "$out/headers-root.txt" -o "$dir/static/index.html" "$base/"
  curl -fsS -D "$out/headers-summary.txt" -o "$dir/static/summary.json" "$base/api/v2/summary.json"
  cp "$dir/static/index.html" "$out/body-root.html"
  cp "$dir/static/summary.json" "$out/body-summary.json"
  {
    echo "config=3 groups, 20 components, 40 http monitors at $INTERVAL"
    echo "body_root=$(stat -c %s "$dir/static/index.html")"
    echo "body_summary=$(stat -c %s "$dir/static/summary.json")"
    echo "rss_before_mib=$(rss_mib "$PHAROS_PID")"
  } >"$out/run.kv"
  local conf
  conf=$(nginx_conf static "$STATIC_PORT" "$dir/static" 2 off)
  start_nginx "$conf" "$STATIC_PORT"
  local static_pid=$NGINX_PID
  cmp -s <(curl -fsS "http://127.0.0.1:$STATIC_PORT/index.html") "$dir/static/index.html" \
    || { echo "nginx does not serve the saved page" >&2; exit 1; }
  for ((r = 1; r <= ROUNDS; r++)); do
    for key in root summary; do
      if [ $key = root ]; then route=/; nurl="http://127.0.0.1:$STATIC_PORT/index.html"
      else route=/api/v2/summary.json; nurl="http://127.0.0.1:$STATIC_PORT/summary.json"; fi
      wait_quiet
      cut -d' ' -f1-3 /proc/loadavg >"$out/load-$key-r$r.txt"
      sample "$PHAROS_PID" "$WRK_SECONDS" "$out/cpu-pharos-$key-r$r" &
      local spid=$!
      PIDS+=("$spid")
      run_wrk "$base$route" "$out/wrk-pharos-$key-r$r.txt"
      wait "$spid" || true
      forget_pid "$spid"
      sleep 2
      wait_quiet
      run_wrk "$nurl" "$out/wrk-nginx-$key-r$r.txt"
      sleep 2
    done
  done
  echo "rss_after_mib=$(rss_mib "$PHAROS_PID")" >>"$out/run.kv"
  stop_pid "$static_pid"
  stop_pid "$PHAROS_PID" 30
  cp "$dir/pharos.log" "$out/"
  stop_pid "$TARGET_PID"
  python3 "$HERE/analyze.py" collect-page "$out"
}

# ------------------------------------------------------------------ compressed page benchmark
run_wrk_h() { # url outfile header
  timeout $((WRK_SECONDS + 60)) wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency -H "$3" "$1" >"$2" 2>&1 || true
  grep -E 'Requests/sec|99%' "$2" | tr -s ' ' | paste -sd' ' | sed "s|^|  $(basename "$2"): |" >&2 || true
}
compressed_bench() {
  local dir="$TMP/compressed" out="$RES/compressed" r key route nurl file enc accept
  mkdir -p "$dir" "$out" "$dir/static"
  log "== compressed page benchmark"
  local brotli_module=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
  if [ ! -f "$brotli_module" ]; then
    log "installing libnginx-mod-http-brotli-static with apt-get"
    apt-get update -qq && apt-get install -y -qq libnginx-mod-http-brotli-static >/dev/null
  fi
  if ! python3 -c 'import brotli' 2>/dev/null; then
    log "installing Python's brotli with pip (to check the bodies decode)"
    python3 -m pip install -q brotli
  fi
  start_target "$dir/target-access.log"
  python3 "$HERE/gen_config.py" page --target "http://127.0.0.1:$TARGET_PORT" --interval "$INTERVAL" >"$dir/pharos.toml"
  cp "$dir/pharos.toml" "$out/"
  start_pharos "$dir/pharos.toml" "$dir"
  log "settling for ${SETTLE}s"
  sleep "$SETTLE"
  local base="http://127.0.0.1:$PHAROS_PORT"
  # The exact bytes Pharos sends in each coding become nginx's files (index.html, .gz, .br).
  for key in root summary; do
    if [ $key = root ]; then route=/; file=index.html; else route=/api/v2/summary.json; file=summary.json; fi
    curl -fsS -o "$dir/static/$file" "$base$route"
    curl -fsS -H 'Accept-Encoding: gzip' -D "$out/headers-$key-gzip.txt" -o "$dir/static/$file.gz" "$base$route"
    curl -fsS -H 'Accept-Encoding: br' -D "$out/headers-$key-br.txt" -o "$dir/static/$file.br" "$base$route"
    grep -qi '^content-encoding: gzip' "$out/headers-$key-gzip.txt" || { echo "Pharos sent $route without gzip" >&2; exit 1; }
    grep -qi '^content-encoding: br' "$out/headers-$key-br.txt" || { echo "Pharos sent $route without brotli" >&2; exit 1; }
    python3 - "$dir/static/$file" <<'PY'
import brotli, gzip, sys
plain = open(sys.argv[1], "rb").read()
assert gzip.decompress(open(sys.argv[1] + ".gz", "rb").read()) == plain, "gzip body differs"
assert brotli.decompress(open(sys.argv[1] + ".br", "rb").read()) == plain, "brotli body differs"
PY
    {
      echo "${key}_identity=$(stat -c %s "$dir/static/$file")"
      echo "${key}_gzip=$(stat -c %s "$dir/static/$file.gz")"
      echo "${key}_br=$(stat -c %s "$dir/static/$file.br")"
    } >>"$out/run.kv"
  done
  local conf
  NGINX_MODULES="load_module $brotli_module;"
  NGINX_STATIC_COMPRESSION="gzip_static on; brotli_static on; etag on;"
  conf=$(nginx_conf static "$STATIC_PORT" "$dir/static" 2 off)
  unset NGINX_MODULES NGINX_STATIC_COMPRESSION
  start_nginx "$conf" "$STATIC_PORT"
  local static_pid=$NGINX_PID
  cmp -s <(curl -fsS -H 'Accept-Encoding: br' "http://127.0.0.1:$STATIC_PORT/index.html") "$dir/static/index.html.br" \
    || { echo "nginx does not serve the saved brotli page" >&2; exit 1; }
  for ((r = 1; r <= ROUNDS; r++)); do
    for enc in gzip-br gzip; do
      if [ $enc = gzip-br ]; then accept="Accept-Encoding: gzip, br"; else accept="Accept-Encoding: gzip"; fi
      for key in root summary; do
        if [ $key = root ]; then route=/; nurl="http://127.0.0.1:$STATIC_PORT/index.html"
        else route=/api/v2/summary.json; nurl="http://127.0.0.1:$STATIC_PORT/summary.json"; fi
        wait_quiet
        run_wrk_h "$base$route" "$out/wrk-pharos-$key-$enc-r$r.txt" "$accept"
        sleep 2
        wait_quiet
        run_wrk_h "$nurl" "$out/wrk-nginx-$key-$enc-r$r.txt" "$accept"
        sleep 2
      done
    done
  done
  # Half-open connections: each sends half a request and nothing more, for the whole run.
  local holder
  python3 "$HERE/half_open.py" --port "$PHAROS_PORT" --count "${HALF_OPEN:-3000}" --hold $((WRK_SECONDS * 2 + 20)) \
    >"$out/half-open.txt" 2>&1 &
  holder=$!
  PIDS+=("$holder")
  for _ in $(seq 1 100); do grep -q '^open ' "$out/half-open.txt" 2>/dev/null && break; sleep 0.2; done
  log "$(head -1 "$out/half-open.txt")"
  wait_quiet
  run_wrk_h "$base/" "$out/wrk-pharos-root-halfopen.txt" "Accept-Encoding: gzip, br"
  wait "$holder" || true
  forget_pid "$holder"
  stop_pid "$static_pid"
  stop_pid "$PHAROS_PID" 30
  cp "$dir/pharos.log" "$out/"
  stop_pid "$TARGET_PID"
  python3 "$HERE/analyze.py" report-compressed "$out" | tee "$out/compressed.md"
}

# ------------------------------------------------------------------ scale benchmark
scale_bench() {
  local n=$1 dir="$TMP/scale-$1" out="$RES/scale-$1" base t0 t1 key route
  mkdir -p "$dir" "$out"
  log "== scale benchmark: $n monitors at $INTERVAL"
  start_target "$dir/access.log"
  python3 "$HERE/gen_config.py" scale --monitors "$n" --components 100 --interval "$INTERVAL" \
    --target "http://127.0.0.1:$TARGET_PORT" >"$dir/pharos.toml"
  "$BIN" validate --config "$dir/pharos.toml" >&2
  wait_quiet
  start_pharos "$dir/pharos.toml" "$dir"
  base="http://127.0.0.1:$PHAROS_PORT"
  {
    echo "monitors=$n"
    echo "interval_s=$INTERVAL_S"
    echo "startup_s=$STARTUP_S"
  } >"$out/run.kv"
  python3 "$HERE/sample.py" --pid "$PHAROS_PID" --seconds "$WARMUP" --out "$out/warmup" --tree-root $$ >/dev/null
  wait_quiet
  curl -fsS --max-time 30 -o "$out/metrics-start.txt" "$base/metrics"
  t0=$(now)
  log "measuring for ${WINDOW}s"
  sample "$PHAROS_PID" "$WINDOW" "$out/window"
  t1=$(now)
  curl -fsS --max-time 30 -o "$out/metrics-end.txt" -w 'metrics_fetch_s=%{time_total}\nmetrics_bytes=%{size_download}\n' \
    "$base/metrics" >>"$out/run.kv"
  echo "t0=$t0" >>"$out/run.kv"
  echo "t1=$t1" >>"$out/run.kv"
  python3 -c "import json;d=json.load(open('$out/window.json'));print('  cpu %.2f%% of one core, rss avg %.1f MiB, peak %.1f MiB, compiler s %d' % (d['cpu_pct_avg'], d['rss_mib_avg'], d['rss_mib_max_sampled'], d['compiler_seconds']))" >&2
  if [ "${PERF:-0}" = 1 ]; then
    command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
    log "perf record for ${PERF_SECONDS:-30}s (after the window, so it does not disturb the figures above)"
    perf record -F "${PERF_FREQ:-499}" --call-graph dwarf,16384 -p "$PHAROS_PID" -o "$dir/perf.data" \
      -- sleep "${PERF_SECONDS:-30}" >"$out/perf-record.log" 2>&1 || true
    perf script -i "$dir/perf.data" 2>/dev/null | python3 "$HERE/perf_fold.py" --folded "$out/perf.folded" \
      >"$out/perf-breakdown.txt" || true
    perf report -i "$dir/perf.data" --no-children --sort comm --stdio -g none >"$out/perf-threads.txt" 2>/dev/null || true
    perf report -i "$dir/perf.data" --no-children --sort dso,symbol --percent-limit 0.3 --stdio -g none \
      >"$out/perf-self.txt" 2>/dev/null || true
    perf report -i "$dir/perf.data" --no-children --sort symbol --percent-limit 2 --stdio -g caller,0.5,callee,function,percent \
      >"$out/perf-callers.txt" 2>/dev/null || true
  fi
  if [ "$UNDER_LOAD" = 1 ]; then
    curl -fsS -o "$out/body-root.html" "$base/"
    curl -fsS -o "$out/body-summary.json" "$base/api/v2/summary.json"
    echo "body_root=$(stat -c %s "$out/body-root.html")" >>"$out/run.kv"
    echo "body_summary=$(stat -c %s "$out/body-summary.json")" >>"$out/run.kv"
    for key in root summary; do
      [ $key = root ] && route=/ || route=/api/v2/summary.json
      wait_quiet
      sample "$PHAROS_PID" "$WRK_SECONDS" "$out/cpu-ul-$key" &
      local spid=$!
      PIDS+=("$spid")
      echo "ul_${key}_start=$(now)" >>"$out/run.kv"
      run_wrk "$base$route" "$out/wrk-ul-$key.txt"
      echo "ul_${key}_end=$(now)" >>"$out/run.kv"
      wait "$spid" || true
      forget_pid "$spid"
      echo "rss_after_${key}_mib=$(rss_mib "$PHAROS_PID")" >>"$out/run.kv"
      sleep 2
    done
    # nginx serving the same bytes, on the same machine while Pharos keeps probing.
    mkdir -p "$dir/static"
    cp "$out/body-root.html" "$dir/static/index.html"
    cp "$out/body-summary.json" "$dir/static/summary.json"
    local conf static_pid
    conf=$(nginx_conf static "$STATIC_PORT" "$dir/static" 2 off)
    start_nginx "$conf" "$STATIC_PORT"
    static_pid=$NGINX_PID
    for key in root summary; do
      wait_quiet
      [ $key = root ] && route=index.html || route=summary.json
      run_wrk "http://127.0.0.1:$STATIC_PORT/$route" "$out/wrk-ul-nginx-$key.txt"
      sleep 2
    done
    stop_pid "$static_pid"
    log "letting every gap that spans the wrk runs close ($((INTERVAL_S + 5))s)"
    sleep $((INTERVAL_S + 5))
    echo "ul_log_end=$(now)" >>"$out/run.kv"
  fi
  stop_pid "$PHAROS_PID" 30
  echo "shutdown_s=$STOP_SECONDS" >>"$out/run.kv"
  echo "exit_code=$STOP_CODE" >>"$out/run.kv"
  echo "db_bytes=$(cat "$dir"/pharos.db* 2>/dev/null | wc -c)" >>"$out/run.kv"
  stop_pid "$TARGET_PID"
  cp "$dir/access.log" "$out/access.log"
  cp "$dir/pharos.toml" "$out/pharos.toml"
  tail -n 200 "$dir/pharos.log" >"$out/pharos.log.tail"
  grep -c . "$dir/pharos.log" >"$out/pharos.log.lines" || true
  sed 's/\x1b\[[0-9;]*m//g' "$dir/pharos.log" | grep -E '^\S+\s+(WARN|ERROR)' | head -n 50 >"$out/pharos.log.problems" || true
  python3 "$HERE/analyze.py" collect-scale "$out"
}

# ------------------------------------------------------------------ fan-out benchmark
FANOUT_BIN="$RELEASE_DIR/pharos-fanout"
FANOUT_TIMEOUT=${FANOUT_TIMEOUT:-1200}
FANOUT_FAILED=()
fanout_run() { # kind n database(sqlite|postgres)
  local kind=$1 n=$2 db=$3 pid code log="$RES/fanout-$1-$2-$3.log"
  local dbargs=()
  [ "$db" = postgres ] && dbargs=(--database "$PHAROS_BENCH_POSTGRES_URL")
  log "== fan-out: $n $kind subscribers on $db"
  wait_quiet
  "$FANOUT_BIN" --kind "$kind" --subscribers "$n" --bin "$BIN" --timeout "$FANOUT_TIMEOUT" \
    "${dbargs[@]+"${dbargs[@]}"}" >>"$RES/fanout.jsonl" 2> >(tee "$log" >&2) &
  pid=$!
  PIDS+=("$pid")
  set +e; wait "$pid"; code=$?; set -e
  forget_pid "$pid"
  if [ "$code" != 0 ]; then
    log "fan-out $kind $n on $db FAILED (exit $code); see $log"
    FANOUT_FAILED+=("$kind $n $db")
  fi
}
fanout_bench() {
  local run db dbs=(sqlite)
  [ -n "${PHAROS_BENCH_POSTGRES_URL:-}" ] && dbs+=(postgres)
  [ -x "$FANOUT_BIN" ] || { echo "no binary at $FANOUT_BIN" >&2; exit 1; }
  : >"$RES/fanout.jsonl"
  for db in "${dbs[@]}"; do
    for run in "${FANOUT_RUNS[@]}"; do fanout_run "${run%%:*}" "${run##*:}" "$db"; done
  done
  python3 - "$RES/fanout.jsonl" <<'EOF' | tee "$RES/summary.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(v, fmt):
    return "–" if v is None else fmt.format(v)
print("| subscribers | database | last delivery | target | deliveries/s | first delivery | repeats "
      "| failed attempts | outbox settled | Pharos CPU | peak RSS |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    verdict = {True: "met", False: "**missed**", None: "n/a"}[r.get("within_target")]
    print(f"| {r['subscribers']:,} {r['kind']} | {r['database']} | {r['last_delivery_s']:.2f} s "
          f"| {r['target_s']:.0f} s at {r['target_subscribers']:,}: {verdict} "
          f"| {r['deliveries_per_s']:,.0f} | {r['first_delivery_s']:.3f} s | {r['repeats']} "
          f"| {f(r.get('attempts_failed'), '{}')} | {f(r.get('outbox_settled_s'), '{:.2f} s')} "
          f"| {r['cpu_s_fanout']:.1f} s | {r['peak_rss_mib']:.0f} MiB |")
EOF
  if [ ${#FANOUT_FAILED[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${FANOUT_FAILED[@]}" | tee -a "$RES/summary.md" >&2
    exit 1
  fi
}

# ------------------------------------------------------------------ check-cost benchmark
CHECKCOST_BIN="$RELEASE_DIR/pharos-checkcost"
CHECKCOST_MONITORS=${CHECKCOST_MONITORS:-1000}
CHECKCOST_INTERVAL=${CHECKCOST_INTERVAL:-1}
CHECKCOST_WARMUP=${CHECKCOST_WARMUP:-20}
CHECKCOST_WINDOW=${CHECKCOST_WINDOW:-60}
CHECKCOST_CONCURRENCY=${CHECKCOST_CONCURRENCY:-64}
RSS_MONITORS=${RSS_MONITORS:-1,1000,10000}
RSS_INTERVAL=${RSS_INTERVAL:-300}
RSS_SETTLE=${RSS_SETTLE:-60}
RSS_WINDOW=${RSS_WINDOW:-20}
QUIET_LOAD=${QUIET_LOAD:-0.5}
CHECKCOST_FAILED=()
# Like wait_quiet, and also until the 1-minute load average is below QUIET_LOAD (our own
# previous case counts too: its load takes a minute or two to decay).
wait_load() { # label
  local waited=0 l1
  while :; do
    l1=$(cut -d' ' -f1 /proc/loadavg)
    if ! compiling && awk -v l="$l1" -v m="$QUIET_LOAD" 'BEGIN { exit !(l < m) }'; then break; fi
    if [ "$waited" -ge "$QUIET_WAIT_MAX" ]; then
      log "WARNING: load still $l1 (compiler running: $(compiling && echo yes || echo no)) after ${waited}s; measuring anyway"
      break
    fi
    [ $((waited % 60)) = 0 ] && log "waiting for a quiet machine: load $(cut -d' ' -f1-3 /proc/loadavg), compiler running: $(compiling && echo yes || echo no)"
    sleep 5
    waited=$((waited + 5))
  done
  log "load average: $(cut -d' ' -f1-3 /proc/loadavg) (waited ${waited}s)"
  echo "$1 waited_s=$waited loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)" >>"$RES/quiet.txt"
}
checkcost_case() { # label args...
  local label=$1 pid code log="$RES/checkcost.log"
  shift
  wait_load "$label"
  log "== check cost: $label"
  "$CHECKCOST_BIN" --label "$label" "$@" >>"$RES/checkcost.jsonl" 2> >(tee -a "$log" >&2) &
  pid=$!
  PIDS+=("$pid")
  set +e; wait "$pid"; code=$?; set -e
  forget_pid "$pid"
  if [ "$code" != 0 ]; then
    log "check cost $label FAILED (exit $code); see $log"
    CHECKCOST_FAILED+=("$label")
  fi
}
checkcost_bench() {
  local r c who order run=(--monitors "$CHECKCOST_MONITORS" --interval "$CHECKCOST_INTERVAL"
    --warmup "$CHECKCOST_WARMUP" --window "$CHECKCOST_WINDOW")
  [ -x "$CHECKCOST_BIN" ] || { echo "no binary at $CHECKCOST_BIN" >&2; exit 1; }
  : >"$RES/checkcost.jsonl"
  for ((r = 1; r <= ROUNDS; r++)); do
    # Odd rounds measure Pharos first, even rounds the exporter first.
    if ((r % 2)); then order=(pharos blackbox); else order=(blackbox pharos); fi
    for c in "${CHECKCOST_CASES[@]}"; do
      if [ "$c" = rss ]; then
        checkcost_case "r$r-rss" rss --monitors "$RSS_MONITORS" --interval "$RSS_INTERVAL" \
          --settle "$RSS_SETTLE" --window "$RSS_WINDOW" --bin "$BIN"
        continue
      fi
      for who in "${order[@]}"; do
        if [ "$who" = pharos ]; then
          checkcost_case "r$r-pharos-$c" pharos --kind "$c" "${run[@]}" --bin "$BIN"
        else
          checkcost_case "r$r-blackbox-$c" blackbox --kind "$c" "${run[@]}" \
            --concurrency "$CHECKCOST_CONCURRENCY" --exporter "$(command -v prometheus-blackbox-exporter)"
        fi
      done
    done
  done
  checkcost_report "$RES/checkcost.jsonl" | tee "$RES/summary.md"
  if [ ${#CHECKCOST_FAILED[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${CHECKCOST_FAILED[@]}" | tee -a "$RES/summary.md" >&2
    exit 1
  fi
}
# The markdown summary of a checkcost.jsonl (one JSON line per case from pharos-checkcost).
checkcost_report() { # jsonl
  python3 - "$1" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def rnd(r):
    return (r.get("label") or "r?").split("-")[0]
def f(r, k, fmt="{}"):
    return "–" if r is None or r.get(k) is None else fmt.format(r[k])
cost = {}
for r in rows:
    if r["case"] in ("pharos", "blackbox"):
        cost[(rnd(r), r["kind"], r["case"])] = r
print("| round | kind | Pharos checks/s | Pharos CPU ms per 1,000 | Pharos CPU % | blackbox probes/s "
      "(answered / probe_success 1) | blackbox CPU ms per 1,000 | blackbox CPU % | blackbox ÷ Pharos "
      "| ≥ 2× | other CPU ms (P / b) | load at start (P / b) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
ratios = {}
for key in sorted({(k[0], k[1]) for k in cost}, key=lambda k: (k[1], k[0])):
    p, b = cost.get(key + ("pharos",)), cost.get(key + ("blackbox",))
    ratio = None
    if p and b and p.get("cpu_ms_per_1000") and b.get("cpu_ms_per_1000"):
        ratio = b["cpu_ms_per_1000"] / p["cpu_ms_per_1000"]
        ratios.setdefault(key[1], []).append(ratio)
    bx = "–" if b is None else (f"{b['checks_per_s']:,.1f} ({b['probes_completed']:,} / {b['probes_success']:,})"
                                + ("" if b["kept_up"] else " **fell behind**"))
    px = f(p, "checks_per_s", "{:,.1f}") + ("" if p is None or p["kept_up"] else " **fell behind**")
    load = lambda r: "–" if r is None or not r.get("load_at_start") else f"{r['load_at_start'][0]:.2f}"
    print(f"| {key[0]} | {key[1]} | {px} | {f(p, 'cpu_ms_per_1000', '{:.1f}')} "
          f"| {f(p, 'cpu_pct_of_core', '{:.1f}')} | {bx} | {f(b, 'cpu_ms_per_1000', '{:.1f}')} "
          f"| {f(b, 'cpu_pct_of_core', '{:.1f}')} | {'–' if ratio is None else f'{ratio:.2f}×'} "
          f"| {'–' if ratio is None else ('met' if ratio >= 2 else '**not met**')} "
          f"| {f(p, 'other_cpu_ms', '{:.0f}')} / {f(b, 'other_cpu_ms', '{:.0f}')} | {load(p)} / {load(b)} |")
for kind, rs in ratios.items():
    print(f"\n{kind}: blackbox ÷ Pharos per round: " + ", ".join(f"{x:.2f}×" for x in rs)
          + f" (mean {statistics.mean(rs):.2f}×)")
for r in rows:
    if r["case"] == "rss":
        pts = ", ".join(f"{p['monitors']:,}: {p['rss_mib_median']} MiB (VmHWM {p['vmhwm_mib']})" for p in r["points"])
        print(f"\nRSS {rnd(r)} (interval {r['interval_s']} s): {pts}; "
              f"per 1,000 monitors: {r['mib_per_1000_monitors']} MiB")
EOF
}
need_blackbox() {
  command -v prometheus-blackbox-exporter >/dev/null && return 0
  log "installing prometheus-blackbox-exporter with apt-get"
  apt-get update -qq && apt-get install -y -qq prometheus-blackbox-exporter >/dev/null
  # Debian's package may start its own service on :9115. We run our own process on our own
  # port, so stop that one (with systemd or without, whichever this machine has).
  if pgrep -f '^/usr/bin/prometheus-blackbox-exporter' >/dev/null; then
    systemctl stop prometheus-blackbox-exporter 2>/dev/null \
      || service prometheus-blackbox-exporter stop 2>/dev/null || true
  fi
  command -v prometheus-blackbox-exporter >/dev/null \
    || { echo "prometheus-blackbox-exporter did not install" >&2; exit 1; }
}

# ------------------------------------------------------------------ main
# (in a function, so bash has parsed the whole file before anything runs: editing this file
# while a benchmark runs cannot change what the running one does)
main() {
if [ "$MODE" = checkcost ]; then
  command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
  need_blackbox
  if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN" ] && [ -x "$CHECKCOST_BIN" ]; then
    log "SKIP_BUILD=1: using $BIN and $CHECKCOST_BIN"
  else
    log "cargo build --release --bin pharos --bin pharos-checkcost"
    (cd "$ROOT" && cargo build --release --bin pharos --bin pharos-checkcost)
  fi
elif [ "$MODE" = fanout ]; then
  command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
  if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN" ] && [ -x "$FANOUT_BIN" ]; then
    log "SKIP_BUILD=1: using $BIN and $FANOUT_BIN"
  else
    log "cargo build --release --bin pharos --bin pharos-fanout"
    (cd "$ROOT" && cargo build --release --bin pharos --bin pharos-fanout)
  fi
else
  need_tools
  build
fi
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
STAMP=$(date +%Y%m%d-%H%M%S)
RES="$HERE/results/$STAMP-$MODE"
mkdir -p "$RES"
ln -sfn "$RES" "$HERE/results/latest"
TMP=$(mktemp -d /tmp/pharos-bench.XXXXXX)
chmod 755 "$TMP"
for p in "$TARGET_PORT" "$STATIC_PORT"; do port_free "$p" || { echo "port $p is busy (set PORT_BASE)" >&2; exit 1; }; done

python3 - "$RES/meta.json" <<EOF
import json, os, platform, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, cwd="$ROOT").stdout.strip() or None
    except Exception: return None
info = [l.split(":", 1) for l in open("/proc/cpuinfo") if ":" in l]
first = lambda k: next((v.strip() for kk, v in info if kk.strip() == k), None)
cpu = [first("model name")]
json.dump({
  "date": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
  "cpu_model": cpu[0] if cpu else None, "cpus": os.cpu_count(),
  "cpu_mhz": first("cpu MHz"), "cpu_cache": first("cache size"),
  "hypervisor": "hypervisor" in (first("flags") or ""),
  "mem_total": sh("free -h | awk '/^Mem:/ {print \$2}'"),
  "free": sh("free -m"), "kernel": platform.release(),
  "os": sh(". /etc/os-release && echo \$PRETTY_NAME"),
  "pharos_version": sh("$BIN --version"), "rustc": sh("rustc --version"),
  "commit": sh("git rev-parse --short HEAD"),
  "dirty": bool(sh("git --no-optional-locks status --porcelain --untracked-files=no")),
  "wrk_version": (sh("wrk -v 2>&1 | head -1") or "").split(" [")[0],
  "nginx_version": sh("nginx -v 2>&1"),
  "mode": "$MODE", "warmup_s": $WARMUP, "window_s": $WINDOW, "wrk_s": $WRK_SECONDS, "rounds": $ROUNDS,
  "loadavg_start": open("/proc/loadavg").read().split()[:3],
}, open(sys.argv[1], "w"), indent=1)
EOF
log "results in $RES"

if [ "$MODE" = fanout ]; then
  fanout_bench
  return
fi
if [ "$MODE" = checkcost ]; then
  checkcost_bench
  return
fi
if [ "${DO_COMPRESSED:-0}" = 1 ]; then
  compressed_bench
  return
fi
[ "$DO_PAGE" = 1 ] && page_bench
for n in "${SCALES[@]+"${SCALES[@]}"}"; do scale_bench "$n"; done

python3 "$HERE/analyze.py" report "$RES" | tee "$RES/summary.md"
}

main "$@"; exit $?
