#!/usr/bin/env bash
# The one command that runs weft's whole test suite:
#   1. builds the release binary (the black-box tests run the real thing),
#   2. runs every crate's unit and integration tests,
#   3. creates or reuses .venv with the pinned real clients (tests/requirements.txt),
#      .venv-classic with the classic Zipkin/Jaeger clients (tests/requirements-classic.txt)
#      and tests/node/node_modules (zipkin-js, `npm ci` from tests/node/package-lock.json),
#   4. runs the black-box suite (tests/blackbox) against target/release/weft.
# Extra arguments go to pytest, e.g. ./tests/run.sh -k zipkin -x
# Exits non-zero on any failure; a failing `cargo test` still lets the black-box suite
# run so one run shows every failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo build --release --locked"
cargo build --release --locked

failed=()

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
.venv/bin/python -m pytest tests/blackbox -q "$@" || failed+=("black-box tests")

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nall tests passed\n'
