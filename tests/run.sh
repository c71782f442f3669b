#!/usr/bin/env bash
# The one command that runs weft's whole test suite:
#   1. builds the release binary (the black-box tests run the real thing),
#   2. runs every crate's unit and integration tests,
#   3. creates or reuses .venv with the pinned real clients (tests/requirements.txt),
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

step "python environment (.venv)"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# reinstall only when the requirements change
stamp=.venv/.requirements.sha256
wanted=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  echo "$wanted" >"$stamp"
fi

step "black-box tests (pytest tests/blackbox)"
export WEFT_BIN="${WEFT_BIN:-$PWD/${CARGO_TARGET_DIR:-target}/release/weft}"
.venv/bin/python -m pytest tests/blackbox -q "$@" || failed+=("black-box tests")

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nall tests passed\n'
