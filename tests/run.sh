#!/usr/bin/env bash
# The one command that runs weft's whole test suite:
#   1. builds the weft binary and every test binary in one cargo profile (`ci`, see the
#      workspace Cargo.toml: optimised, no cross-crate LTO), so dependencies build once,
#   2. meanwhile, in the background: creates or reuses .venv with the pinned real clients
#      (tests/requirements.txt), .venv-classic with the classic Zipkin/Jaeger clients
#      (tests/requirements-classic.txt), tests/node/node_modules (zipkin-js, jaeger-client;
#      `npm ci` from tests/node/package-lock.json), and installs (cargo install, once) a
#      real S3-compatible server, s3s-fs,
#   3. runs every crate's unit and integration tests (against local disk and s3s-fs),
#   4. runs the black-box suite (tests/blackbox) against the real binary, in parallel
#      (pytest-xdist), twice at the same time: every test with blocks on local disk, and
#      the tests marked `storage` (those whose subject is the block store: durability,
#      compaction, reads of stored traces and log chunks) with blocks in s3s-fs.
#
#   ./tests/run.sh            everything (what CI runs)
#   ./tests/run.sh --quick    the inner loop: incremental build, cargo tests, black-box on
#                             local disk only (no S3 server, no classic clients' venv check)
#   ./tests/run.sh -k zipkin  extra arguments go to pytest
#
# WEFT_TEST_SKIP_S3=1 skips the S3 server and the S3 passes. WEFT_TEST_WORKERS sets the
# pytest-xdist workers per pass (default 3). WEFT_TEST_LINT=1 (what .ci/run sets) also
# lints: the build compiles weft's own crates through clippy-driver with every warning an
# error, so the one optimised build checks what `cargo clippy --workspace --all-targets --
# -D warnings` checks, without a second, check-only build of every dependency.
# Exits non-zero on any failure; a failing `cargo test` still lets the black-box suite
# run so one run shows every failure.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi

run_started=$(date +%s)
step_name=""
step_started=$run_started
# Prints the previous step's duration and the new step's name with the time since start.
step() {
  local now
  now=$(date +%s)
  if [ -n "$step_name" ]; then
    printf '    (%s took %ss)\n' "$step_name" "$((now - step_started))"
  fi
  step_name=$*
  step_started=$now
  printf '\n==> [%ss] %s\n' "$((now - run_started))" "$*"
}

profile=${WEFT_TEST_PROFILE:-ci}
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in
  /*) ;;
  *) target_dir="$PWD/$target_dir" ;;
esac
export WEFT_BIN="${WEFT_BIN:-$target_dir/$profile/weft}"
if [ "$quick" = 1 ]; then
  # The inner loop rebuilds only what changed.
  export CARGO_INCREMENTAL=1
  export WEFT_TEST_SKIP_S3=1
fi
skip_s3=${WEFT_TEST_SKIP_S3:-0}
logs=$(mktemp -d -t weft-run.XXXXXX)
background=()
failed=()
cleanup() {
  for pid in "${background[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "${s3_pid:-}" ]; then kill "$s3_pid" 2>/dev/null || true; fi
  if [ -n "${s3_root:-}" ]; then rm -rf "$s3_root"; fi
  rm -rf "$logs"
}
trap cleanup EXIT

# Waits for background job $1 (a pid) named $2; prints its log; records a failure.
await() {
  local pid=$1 name=$2 log=$3
  if ! wait "$pid"; then
    cat "$log"
    echo "FAILED: $name"
    return 1
  fi
  cat "$log"
}

python=${PYTHON:-python3}
# Creates venv $1 if needed and installs requirements file $2 into it, only when the file
# changed since the last install (a hash stamp inside the venv).
ensure_venv() {
  local venv=$1 requirements=$2
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
  fi
  local stamp="$venv/.requirements.sha256" wanted
  wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" >"$stamp"
  fi
  echo "$venv ready"
}

ensure_node_modules() {
  local stamp=tests/node/node_modules/.package-lock.sha256 wanted
  wanted=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
    echo "$wanted" >"$stamp"
  fi
  echo "tests/node/node_modules ready"
}

# What tests/blackbox/test_zipkin_lens_ui.py drives: Debian's Chromium and a JRE (apt,
# when missing; not in --quick, where the test then skips), and the pinned zipkin-lens and
# zipkin-server jars from Maven Central (tests/ui/fetch_zipkin_ui_deps.sh, cached in
# target/ui-deps). Also Debian's prometheus, for the relabeling parity test.
ensure_ui_tools() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v unzip >/dev/null 2>&1 || missing+=(unzip)
  # Debian's Prometheus: the relabeling parity test (crates/scrape-config/tests/prometheus_parity.rs)
  [ -x /usr/bin/prometheus ] || missing+=(prometheus)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$quick" = 1 ]; then
      echo "not installing ${missing[*]} in --quick: the zipkin-lens UI test may skip"
      command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || return 0
    else
      local sudo=()
      [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
      "${sudo[@]}" apt-get update -qq
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
  fi
  tests/ui/fetch_zipkin_ui_deps.sh target/ui-deps
}

# A real S3-compatible server (reference: ../shared/reference/s3-test-server.md). Built
# with a quick release profile: its speed does not matter here, its build time does.
S3S_VERSION=0.14.1
s3s_bin() {
  local bin
  bin=$(command -v s3s-fs || true)
  if [ -n "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$S3S_VERSION"; then
    echo "$bin"
  fi
}
install_s3_server() {
  if [ -n "$(s3s_bin)" ]; then
    echo "s3s-fs $S3S_VERSION already installed"
    return 0
  fi
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_TARGET_DIR="$target_dir/s3s-fs" \
    nice -n 5 cargo install "s3s-fs@$S3S_VERSION" --features binary --locked --quiet
  echo "s3s-fs $S3S_VERSION installed"
}
start_s3_server() {
  local bin
  bin=$(s3s_bin)
  [ -n "$bin" ] || bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
  s3_root=$(mktemp -d -t weft-s3.XXXXXX)
  mkdir -p "$s3_root/data/weft-test"
  s3_port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$bin" --host 127.0.0.1 --port "$s3_port" --access-key weft-test-key \
    --secret-key weft-test-secret "$s3_root/data" >"$s3_root/s3s-fs.log" 2>&1 &
  s3_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  export AWS_ACCESS_KEY_ID=weft-test-key AWS_SECRET_ACCESS_KEY=weft-test-secret
  export AWS_REGION=us-east-1
  export WEFT_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" WEFT_TEST_S3_BUCKET=weft-test
  echo "s3s-fs on $WEFT_TEST_S3_ENDPOINT (bucket weft-test, root $s3_root/data)"
}

step "background: python venvs, node clients, UI test tools$([ "$skip_s3" = 1 ] || echo ', s3s-fs')"
ensure_venv .venv tests/requirements.txt >"$logs/venv.log" 2>&1 &
venv_pid=$!
background+=("$venv_pid")
if [ "$quick" = 0 ]; then
  (ensure_venv .venv-classic tests/requirements-classic.txt && ensure_node_modules) \
    >"$logs/classic.log" 2>&1 &
  classic_pid=$!
  background+=("$classic_pid")
fi
ensure_ui_tools >"$logs/ui-tools.log" 2>&1 &
ui_tools_pid=$!
background+=("$ui_tools_pid")
if [ "$skip_s3" != 1 ]; then
  install_s3_server >"$logs/s3s.log" 2>&1 &
  s3s_install_pid=$!
  background+=("$s3s_install_pid")
fi

# Every cargo command on the workspace goes through ws_cargo, so that with WEFT_TEST_LINT=1
# the build and the tests share one set of artifacts (the same wrapper and flags; a change
# in either would rebuild). `cargo install s3s-fs` does not: clippy has no business with
# its code.
ws_cargo_env=()
build_targets=(--bins --tests --example checkout_service)
build_what="weft, every test binary, the client crate's example service"
if [ "${WEFT_TEST_LINT:-0}" = 1 ]; then
  clippy_driver=$(command -v clippy-driver || echo "$(rustc --print sysroot)/bin/clippy-driver")
  ws_cargo_env=(RUSTC_WORKSPACE_WRAPPER="$clippy_driver" RUSTFLAGS="${RUSTFLAGS:-} -D warnings")
  # what `cargo clippy --all-targets` covers: libraries, binaries, tests, examples, benches
  build_targets=(--lib --bins --tests --examples --bench '*')
  build_what="weft and every target, linted by clippy with warnings as errors"
fi
ws_cargo() { env "${ws_cargo_env[@]}" cargo "$@"; }

step "cargo build --profile $profile --locked ($build_what)"
# One invocation for the binaries and every test target keeps both cores busy to the end.
ws_cargo build --profile "$profile" --locked --workspace "${build_targets[@]}"

if [ "$skip_s3" != 1 ]; then
  step "s3s-fs (S3-compatible test server)"
  await "$s3s_install_pid" "cargo install s3s-fs" "$logs/s3s.log"
  start_s3_server
fi

step "UI test tools and Debian's prometheus"
await "$ui_tools_pid" "chromium, JRE, prometheus and Zipkin jars" "$logs/ui-tools.log" ||
  failed+=("UI test tools")
# The full run has everything the zipkin-lens UI test and the relabeling parity test
# (crates/scrape-config/tests/prometheus_parity.rs, against Debian's prometheus) need: a
# missing piece fails them instead of skipping. The parity test runs with the other cargo
# tests: a run of its own (`-p weft-scrape-config`) would rebuild crates with other features.
if [ "$quick" = 0 ]; then
  export WEFT_TEST_UI_REQUIRED=1 WEFT_PROMETHEUS_REQUIRED=1
fi

step "cargo test --profile $profile --workspace"
ws_cargo test --profile "$profile" --locked --workspace --no-fail-fast || failed+=("cargo test")

step "python and node clients"
await "$venv_pid" ".venv" "$logs/venv.log" || failed+=(".venv")
if [ "$quick" = 0 ]; then
  await "$classic_pid" ".venv-classic and tests/node" "$logs/classic.log" || failed+=("classic clients")
fi
background=()

export WEFT_CLASSIC_PYTHON="${WEFT_CLASSIC_PYTHON:-$PWD/.venv-classic/bin/python}"
workers=${WEFT_TEST_WORKERS:-3}
pytest_args=(-q -n "$workers" "$@")
if [ -n "${WEFT_TEST_S3_ENDPOINT:-}" ]; then
  step "black-box tests (tests/blackbox, $workers workers each): local disk and S3 at once"
  (
    unset WEFT_TEST_S3_ENDPOINT WEFT_TEST_S3_BUCKET
    WEFT_TEST_PORT_BASE=12000 .venv/bin/python -m pytest tests/blackbox "${pytest_args[@]}"
  ) >"$logs/blackbox-local.log" 2>&1 &
  local_pid=$!
  # Decoders, clients, sampling and the UI do not depend on where blocks live: the S3
  # pass runs the storage tests only (pytest.ini's `storage` marker).
  WEFT_TEST_PORT_BASE=22000 .venv/bin/python -m pytest tests/blackbox -m storage "${pytest_args[@]}" \
    >"$logs/blackbox-s3.log" 2>&1 &
  s3_pass_pid=$!
  printf '\n--- black-box tests, blocks on local disk ---\n'
  await "$local_pid" "black-box tests (local disk)" "$logs/blackbox-local.log" ||
    failed+=("black-box tests (local disk)")
  printf '\n--- black-box tests marked storage, blocks in S3 (%s) ---\n' "$WEFT_TEST_S3_ENDPOINT"
  await "$s3_pass_pid" "black-box tests (S3)" "$logs/blackbox-s3.log" ||
    failed+=("black-box tests (S3)")
else
  step "black-box tests (tests/blackbox, $workers workers, local disk)"
  (
    unset WEFT_TEST_S3_ENDPOINT WEFT_TEST_S3_BUCKET
    .venv/bin/python -m pytest tests/blackbox "${pytest_args[@]}"
  ) || failed+=("black-box tests (local disk)")
fi

step "summary"
if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nall tests passed\n'
