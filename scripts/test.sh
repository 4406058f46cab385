#!/usr/bin/env bash
# Runs every check the project has: formatting, clippy, the test suite, and the tutorial owner flow.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "tests"
cargo test --workspace --locked

step "example: the tutorial's owner flow, on a throwaway VEIL_HOME"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
out=$(VEIL_HOME="$home" cargo run --quiet --locked -p veil --example owner_flow)
printf '%s\n' "$out"
grep -q "Breast Cancer Biomarker" <<<"$out"
grep -q 'after relaunch without reset: \["Breast Cancer Biomarker"\]' <<<"$out"
echo "owner flow: ok"
