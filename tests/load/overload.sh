#!/usr/bin/env bash
# Overload sweep: for each connection count, a fresh `weft serve` (WAL fsync policy as
# shipped) is loaded for a fixed time with more than it can take, and the table row says
# what the client saw: accepted spans/s, requests sent, refused requests (429 /
# RESOURCE_EXHAUSTED and any other failure), ack latency p50/p99 of the acknowledged
# requests and the server's peak RSS. The load generator runs on the same machine.
#   Zipkin v2 JSON: wrk (Debian's package) with tests/load/zipkin_json.lua, 100 spans a request.
#   OTLP gRPC:      weft bench --endpoint, 1000 spans a request.
#
#   tests/load/overload.sh BINARY [SECONDS] [CONNECTIONS...]
#   e.g. tests/load/overload.sh target/release/weft 20 1 4 16 64
# Not part of the test suite: it is a measurement, run by hand (docs/benchmarks.md).
set -euo pipefail
binary=$(realpath "$1")
seconds=${2:-20}
shift $(($# < 2 ? $# : 2))
connections=("$@")
[ ${#connections[@]} -gt 0 ] || connections=(1 4 16 64)
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

server_pid=""
data_dir=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  [ -z "$data_dir" ] || rm -rf "$data_dir"
}
trap stop_server EXIT

start_server() {
  data_dir=$(mktemp -d -t weft-overload.XXXXXX)
  http_port=$(free_port)
  zipkin_port=$(free_port)
  grpc_port=$(free_port)
  "$binary" serve --storage.path "$data_dir" \
    --http.listen "127.0.0.1:$http_port" --zipkin.listen "127.0.0.1:$zipkin_port" \
    --otlp.grpc.listen "127.0.0.1:$grpc_port" --otlp.http.listen off \
    --jaeger.compact.listen off --jaeger.binary.listen off \
    --jaeger.http.listen off --jaeger.grpc.listen off >"$data_dir.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do
    if curl -fs "http://127.0.0.1:$http_port/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "server did not become ready" >&2
  cat "$data_dir.log" >&2
  exit 1
}

peak_rss_mib() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$server_pid/status"; }

# Prints the latency in ms of a wrk latency token such as 12.34ms, 1.20s or 950.00us.
to_ms() {
  awk -v value="$1" 'BEGIN {
    if (value ~ /us$/) { sub(/us$/, "", value); printf "%.1f", value / 1000 }
    else if (value ~ /ms$/) { sub(/ms$/, "", value); printf "%.1f", value }
    else if (value ~ /s$/) { sub(/s$/, "", value); printf "%.1f", value * 1000 }
    else { printf "%s", value } }'
}

printf '| protocol | connections | accepted spans/s | requests | refused | ack p50 | ack p99 | server peak RSS |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for count in "${connections[@]}"; do
  start_server
  threads=$((count < 2 ? count : 2))
  output=$(wrk -t"$threads" -c"$count" -d"${seconds}s" --timeout 30s --latency \
    -s "$here/zipkin_json.lua" "http://127.0.0.1:$zipkin_port/api/v2/spans")
  requests=$(awk '/requests in/ { print $1 }' <<<"$output")
  refused=$(awk '/Non-2xx or 3xx responses/ { print $5 }' <<<"$output")
  refused=${refused:-0}
  errors=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$output")
  refused=$((refused + ${errors:-0}))
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$output")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$output")")
  spans_per_second=$(( (requests - refused) * 100 / seconds ))
  printf '| zipkin-json (wrk) | %d | %d | %d | %d | %s ms | %s ms | %s MiB |\n' \
    "$count" "$spans_per_second" "$requests" "$refused" "$p50" "$p99" "$(peak_rss_mib)"
  stop_server
done
for count in "${connections[@]}"; do
  start_server
  output=$("$binary" bench --protocol otlp-grpc --concurrency "$count" --duration "${seconds}s" \
    --endpoint "http://127.0.0.1:$grpc_port" --server-pid "$server_pid" 2>&1)
  row=$(awk '$1 == "otlp-grpc" { print }' <<<"$output")
  # weft bench: spans/s counts acknowledged spans; requests counts the acknowledged ones
  read -r _ spans_per_second requests_ok failed p50 p99 _ <<<"$row"
  printf '| otlp-grpc (weft bench) | %d | %s | %d | %s | %s | %s | %s MiB |\n' \
    "$count" "$spans_per_second" "$((requests_ok + failed))" "$failed" "$p50" "$p99" "$(peak_rss_mib)"
  stop_server
done
