#!/usr/bin/env bash
# Builds and installs the kernel into the project's venv, then measures its latencies
# (bench/kernel_latency.py). Usage: scripts/bench-kernel.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
cargo build --locked -p veil-kernel
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
target/debug/veil-kernel install --sys-prefix
python bench/kernel_latency.py "${1:-3}"
