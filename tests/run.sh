#!/usr/bin/env bash
# The one command that runs weft's whole test suite:
#   1. builds the release binary (the black-box tests run the real thing),
#   2. runs every crate's unit and integration tests,
#   3. creates or reuses .venv with the pinned real clients (tests/requirements.txt),
#      .venv-classic with the classic Zipkin/Jaeger clients (tests/requirements-classic.txt)
#      and tests/node/node_modules (zipkin-js, `npm ci` from tests/node/package-lock.json),
#   4. installs (cargo install, once) and starts a real S3-compatible server, s3s-fs, on a
#      free loopback port, so the storage tests run against both backends,
#   5. runs the black-box suite (tests/blackbox) against target/release/weft twice: blocks
#      on local disk, then blocks in the S3 server (WEFT_TEST_S3_ENDPOINT set).
# WEFT_TEST_SKIP_S3=1 skips the S3 server and the second black-box pass.
# Extra arguments go to pytest, e.g. ./tests/run.sh -k zipkin -x
# Exits non-zero on any failure; a failing `cargo test` still lets the black-box suite
# run so one run shows every failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo build --release --locked"
cargo build --release --locked

failed=()

# A real S3-compatible server (reference: ../shared/reference/s3-test-server.md).
S3S_VERSION=0.14.1
start_s3_server() {
  local s3s_bin
  s3s_bin=$(command -v s3s-fs || true)
  if [ -z "$s3s_bin" ] || ! "$s3s_bin" --version 2>/dev/null | grep -q "$S3S_VERSION"; then
    step "cargo install s3s-fs@$S3S_VERSION"
    cargo install "s3s-fs@$S3S_VERSION" --features binary --locked --quiet
    s3s_bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
  fi
  s3_root=$(mktemp -d -t weft-s3.XXXXXX)
  mkdir -p "$s3_root/weft-test"
  s3_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$s3s_bin" --host 127.0.0.1 --port "$s3_port" --access-key weft-test-key \
    --secret-key weft-test-secret "$s3_root" >"$s3_root.log" 2>&1 &
  s3_pid=$!
  trap 'kill "$s3_pid" 2>/dev/null || true; rm -rf "$s3_root" "$s3_root.log"' EXIT
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  export AWS_ACCESS_KEY_ID=weft-test-key AWS_SECRET_ACCESS_KEY=weft-test-secret
  export AWS_REGION=us-east-1
  export WEFT_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" WEFT_TEST_S3_BUCKET=weft-test
  echo "s3s-fs on $WEFT_TEST_S3_ENDPOINT (bucket weft-test, root $s3_root)"
}
if [ "${WEFT_TEST_SKIP_S3:-0}" != 1 ]; then
  step "S3-compatible test server (s3s-fs)"
  start_s3_server
fi

step "cargo test --workspace --locked --no-fail-fast"
cargo test --workspace --locked --no-fail-fast || failed+=("cargo test")

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
}

step "python environment (.venv)"
ensure_venv .venv tests/requirements.txt

step "python environment for classic clients (.venv-classic)"
ensure_venv .venv-classic tests/requirements-classic.txt

step "node clients (tests/node, npm ci)"
node_stamp=tests/node/node_modules/.package-lock.sha256
node_wanted=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
if [ ! -f "$node_stamp" ] || [ "$(cat "$node_stamp")" != "$node_wanted" ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
  echo "$node_wanted" >"$node_stamp"
fi

step "black-box tests (pytest tests/blackbox)"
export WEFT_CLASSIC_PYTHON="${WEFT_CLASSIC_PYTHON:-$PWD/.venv-classic/bin/python}"
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in
  /*) ;;
  *) target_dir="$PWD/$target_dir" ;;
esac
export WEFT_BIN="${WEFT_BIN:-$target_dir/release/weft}"
(
  unset WEFT_TEST_S3_ENDPOINT WEFT_TEST_S3_BUCKET
  .venv/bin/python -m pytest tests/blackbox -q "$@"
) || failed+=("black-box tests (local disk)")
if [ -n "${WEFT_TEST_S3_ENDPOINT:-}" ]; then
  step "black-box tests again, blocks in S3 ($WEFT_TEST_S3_ENDPOINT)"
  .venv/bin/python -m pytest tests/blackbox -q "$@" || failed+=("black-box tests (S3)")
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nall tests passed\n'
