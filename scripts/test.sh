#!/usr/bin/env bash
# Runs every check the project has: formatting, clippy, docs, the dependencies' licences and sources
# (cargo-deny, deny.toml), the Rust test suites (the kernel's drive
# the real binary over ZeroMQ; code requests compile and run real child processes), the tutorial
# examples (owner, pointer and code-request flows), each benchmark once, the OCI image (built and
# run) and the Kubernetes manifests (rendered and validated), the Jupyter clients' tests (the
# jupyter_kernel_test conformance suite and nbclient) against the installed kernel, and tutorial 01 in
# JupyterLab driven through a real browser (tests/browser).
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# One evcxr work area for every kernel this run starts (cargo tests, install's warm-up, Jupyter's
# kernels), so the cell-side facade is compiled once per run. Outside the repository: evcxr's crate
# inside this cargo workspace would be taken for a member of it.
VEIL_KERNEL_CACHE=$(mktemp -d -t veil-kernel-cache.XXXXXX)
export VEIL_KERNEL_CACHE
# The code runner's dependency builds (polars and co., several minutes): kept under target/, which a
# clean checkout rebuilds anyway, so a second run of this script reuses them.
export VEIL_RUNNER_DIR="$root/target/veil-runner"
home=$(mktemp -d -t veil-home.XXXXXX)
trap 'rm -rf "$VEIL_KERNEL_CACHE" "$home"' EXIT

step "toolchain: evcxr needs the standard library's sources (rust-src) to infer cell types"
rustup component add rust-src

step "tools the tests use: openssl makes the certificates of the TLS test"
if ! command -v openssl >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl
fi

step "rustfmt"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "supply chain: cargo-deny checks licences, bans and sources against deny.toml (advisories where reachable)"
bash scripts/deny.sh

step "build: every crate, test and example, once (the test profile; examples run from target/debug)"
cargo test --workspace --locked --no-run

step "install: the kernelspec (in the venv) and its warm-up: evcxr's facade and the code runner's dependencies"
bash scripts/setup-venv.sh
export VIRTUAL_ENV="$root/.venv"
export JUPYTER_PATH="$root/.venv/share/jupyter"
export PATH="$root/.venv/bin:$PATH"
# No spare from install here: the cargo tests' kernels run with other variables (CARGO_*), so it
# could serve none of them and would only hold the spare lock and the first work slot.
VEIL_KERNEL_SPARE=off target/debug/veil-kernel install --sys-prefix | tee target/install.log
grep -Eq "^code runner: [0-9]+/[0-9]+ crates built" target/install.log  # progress, not silence
jupyter kernelspec list | grep -q "^ *veil "

step "tests"
cargo test --workspace --locked

step "example: the tutorial's owner flow, on a throwaway VEIL_HOME"
out=$(VEIL_HOME="$home" target/debug/examples/owner_flow)
printf '%s\n' "$out"
grep -q "Breast Cancer Biomarker" <<<"$out"
grep -q 'after relaunch without reset: \["Breast Cancer Biomarker"\]' <<<"$out"
echo "owner flow: ok"

step "example: the tutorial's pointer flow (eager execution, request, approval)"
out=$(VEIL_HOME="$home" target/debug/examples/pointer_flow)
printf '%s\n' "$out"
grep -q 'real result: \[5.0, 7.0, 9.0\]' <<<"$out"
echo "pointer flow: ok"

step "example: a code request trains the classifier on the real data (released = direct accuracy)"
out=$(VEIL_HOME="$home" target/debug/examples/code_flow)
printf '%s\n' "$out"
grep -q 'released accuracy: 0\.9[0-9]*, computed directly: 0\.9' <<<"$out"
echo "code flow: ok"

step "benchmark: the seeds' whole flow, step by step, once (README: the release-profile figures)"
out=$(target/debug/examples/flow_bench --runs 1 2>/dev/null)
printf '%s\n' "$out"
grep -q '"execute_and_get":' <<<"$out"

step "benchmark: 20 code requests' disk and first compile (fails over 5 MB a request or binaries left after denial; the time is reported, not gated)"
out=$(target/debug/examples/request_cost --requests 20 2>/dev/null)
printf '%s\n' "$out"
grep -q '"compiled_bytes_after_denials":0' <<<"$out"

step "load: 8 scientists x 20 pointer ops on a served datasite, every result checked (README: the full run)"
out=$(target/debug/examples/load --scientists 8 --ops 20 2>&1)
printf '%s\n' "$out"
grep -q '"errors":0' <<<"$out"

step "load, sustained: 8 scientists for 6 s on a 4 MiB value cache, memory sampled (README: 32 for 3 minutes)"
out=$(target/debug/examples/load --scientists 8 --ops 5 --seconds 6 --sample-secs 1 --cache-mib 4 2>&1)
printf '%s\n' "$out"
grep -q '"errors":0' <<<"$out"
grep -q '"rss_mib_samples":\[[0-9]' <<<"$out"

step "scale: the real side's costs at 1e4 and 1e5 rows, beside bare polars (README: to 1e6 in the release profile)"
out=$(target/debug/examples/scale_costs --rows 10000,100000 --runs 1 2>/dev/null)
printf '%s\n' "$out"
grep -q '"rows":100000' <<<"$out"

step "scale: a filter + group-by + join chain on files read in place, here and on a 2-executor Ballista cluster, beside the engine's own query (README: to 1e8 in the release profile)"
out=$(target/debug/examples/scale_plans --rows 2e5 --runs 1 --executors 0,2 2>/dev/null)
printf '%s\n' "$out"
grep -q '"engine":"local".*"rows":200000' <<<"$out"
grep -q '"engine":"ballista, 2 executors".*"rows":200000' <<<"$out"

step "deploy: the Kubernetes manifests render with their defaults and pass Kubernetes' schemas (strict)"
bash scripts/check-deploy.sh

step "deploy: the OCI image (deploy/container) builds with buildah around this build's veil, runs, answers its probes, exits 0 on SIGTERM"
bash scripts/check-image.sh

step "benchmarks: each runs once (criterion's --test mode, built with the tests), so they keep working; measure with cargo bench"
cargo test --workspace --locked --bench hot_paths -- --test

step "Jupyter clients: conformance suite and notebooks"
# Kernels launched back to back: a warm spare serves one after another (kernel/src/spare.rs).
(cd tests && VEIL_HOME="$home" VEIL_KERNEL_SPARE=eager python -m pytest -q -p no:cacheprovider test_conformance.py test_notebooks.py)

step "browser: JupyterLab in chromium runs tutorial 01 (screenshot in target/browser/)"
VEIL_HOME="$home" bash tests/browser/run.sh

printf '\n==> all checks passed in %dm%02ds\n' $((SECONDS / 60)) $((SECONDS % 60))
