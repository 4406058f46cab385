#!/usr/bin/env bash
# Fuzzes what the kernel reads from outside (kernel/input: ZMTP framing, Jupyter messages, magic
# lines, history patterns) with cargo-fuzz and libFuzzer, each target for SECONDS (default 60).
# Installs a nightly toolchain (rustup) and cargo-fuzz (into target/tools) the first time; builds in
# fuzz/target, keeps what it learns in fuzz/corpus and a crashing input in fuzz/artifacts.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "scripts/fuzz.sh: SECONDS must be a whole number of seconds, got '$seconds'; e.g. scripts/fuzz.sh 60" >&2
    exit 2
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain (libFuzzer's instrumentation needs it)"
    rustup toolchain install nightly --profile minimal
fi
version=0.13.2
tools="$PWD/target/tools"
if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$version"; then
    echo "installing cargo-fuzz $version into $tools (a few minutes, once)"
    # A driver that runs seconds: built quickly rather than optimised (as scripts/deny.sh does).
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        cargo install cargo-fuzz --version "$version" --locked --root "$tools" --quiet
fi
export PATH="$tools/bin:$PATH"

cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
for target in "${targets[@]}"; do
    echo "fuzzing $target for ${seconds}s"
    set +e
    cargo +nightly fuzz run -O "$target" -- \
        -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
        grep -E '^(Done|stat::number_of_executed_units|==|SUMMARY|thread|Failing input|Reproduce|error|.*panicked)'
    status=${PIPESTATUS[0]}
    set -e
    # A crash leaves its input in fuzz/artifacts/TARGET and cargo-fuzz exits non-zero.
    if [ "$status" -ne 0 ]; then
        echo "scripts/fuzz.sh: $target failed (see above; a crashing input is kept in fuzz/artifacts/$target)" >&2
        exit 1
    fi
done
echo "fuzzing: ${#targets[@]} target(s), ${seconds}s each, no failure"
