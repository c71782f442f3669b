#!/usr/bin/env bash
# Fuzz smoke: builds every libFuzzer target with coverage instrumentation on the stable
# toolchain (no sanitizers, so no nightly needed) and runs each for a short time from a
# seed corpus. Any crash, panic or timeout fails the run and leaves the input in
# fuzz/artifacts/<target>/.
#   fuzz/smoke.sh [seconds per target, default 20]
# Under CI (CI=true) the run is seeded (FUZZ_SEED, default 1) so a red CI is
# reproducible and never caused by a finding unrelated to the change; elsewhere each run
# explores from a random seed, or from FUZZ_SEED when set.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
seed_flag=()
if [ -n "${FUZZ_SEED:-}" ]; then
  seed_flag=(-seed="$FUZZ_SEED")
elif [ "${CI:-}" = "true" ]; then
  seed_flag=(-seed=1)
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# mold links the 16 fuzz binaries several times faster than the default linker
if command -v mold >/dev/null 2>&1; then
  RUSTFLAGS="$RUSTFLAGS -Clink-arg=-fuse-ld=mold"
fi
# --target keeps these flags off build scripts and proc macros
cargo build --profile smoke --locked --target "$triple" --bins
seed() {
  local target=$1; shift
  mkdir -p "corpus/$target" "artifacts/$target"
  for file in "$@"; do [ -f "$file" ] && cp "$file" "corpus/$target/"; done
  return 0
}
seed zipkin_v2_json ../crates/codec/testdata/zipkin-*.json
seed otlp_json ../crates/codec/testdata/*.json
seed otlp_proto
seed jaeger_thrift_compact ../crates/codec/testdata/jaeger-agent-compact.thrift
seed jaeger_thrift_binary ../crates/codec/testdata/jaeger-agent-binary.thrift \
  ../crates/codec/testdata/jaeger-collector-batch.thrift
seed jaeger_proto ../crates/codec/testdata/jaeger-post-spans.pb
seed zipkin_v2_proto ../crates/codec/testdata/zipkin-yelp.pb \
  ../crates/codec/testdata/zipkin-py_zipkin.v2.pb
seed zipkin_v1_json ../crates/codec/testdata/zipkin-py_zipkin.v1.json
seed zipkin_v1_thrift ../crates/codec/testdata/zipkin-py_zipkin.v1.thrift
seed pull_scrape_response && printf 'Weft-Instance: 0a1b2c\nWeft-Cursor-First: 3\nWeft-Cursor-Next: 5\nWeft-Dropped: 1\nWeft-Dropped-Total: 4\n\n' \
  >corpus/pull_scrape_response/seed-headers
seed logs_push_protobuf ../crates/logs/testdata/push-request.snappy.pb
seed logs_push_json ../crates/logs/testdata/push-request.json
seed otlp_logs ../crates/logs/testdata/otlp-logs.json ../crates/logs/testdata/otlp-logs.pb
seed logs_chunk ../crates/logs/testdata/chunk-v2.chunk
seed traceql_parse && grep -hv -e "^#" -e "^===" -e "^$" ../crates/query/testdata/traceql/*.txt | split -l 1 - corpus/traceql_parse/seed-
seed logql_parse && split -l 1 - corpus/logql_parse/seed- <<'QUERIES'
{app="api"} |= "error" or "fatal" != "debug" |~ `code=\d+` | json | status >= 500 and latency > 250ms or size < 1KiB | __error__=""
{app="api"} | logfmt --strict --keep-empty | line_format "{{ if eq .level \"error\" }}{{ .msg | ToUpper }}{{ else }}{{ printf \"%5.1f\" .dur }}{{ end }}"
{app="api"} | json first="a.b[0].c", n | label_format who=user, msg="{{.user}}:{{ __timestamp__ | unixEpoch }}" | drop a, b="v" | keep who, msg
{app="api"} | pattern `<ip> - - [<_>] "<method> <uri> <_>" <status> <size>` | regexp `(?P<x>\w+)` | unpack | decolorize
sum by (host) (rate({job="mysql"} |= "error" | json | duration > 10s [1m])) / on (host) group_left (pod) count without (a) (count_over_time({a="b"}[5m] offset 1h))
quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(latency) | __error__="" [5m]) by (path) > bool 2 ^ 3 ^ 2
topk(5, label_replace(sum_over_time(({a="b"} | unwrap bytes(size))[1h]), "dst", "$1", "src", "(.*)")) or vector(0)
QUERIES
for target in $(ls fuzz_targets | sed 's/\.rs$//'); do
  echo "fuzzing $target for ${seconds}s"
  log="artifacts/$target/smoke.log"
  status=0
  "target/$triple/smoke/$target" "corpus/$target" "${seed_flag[@]}" -max_total_time="$seconds" \
    -max_len=131072 -rss_limit_mb=2048 -timeout=10 -artifact_prefix="artifacts/$target/" \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz target $target failed (exit $status); the input is in fuzz/artifacts/$target/"
    exit 1
  fi
done
echo "fuzz smoke passed"
