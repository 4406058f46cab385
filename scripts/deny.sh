#!/usr/bin/env bash
# Checks the dependencies against deny.toml with cargo-deny: licences, bans (duplicates, wildcards)
# and sources always; RustSec advisories where github.com (which holds their database) is reachable.
# Installs cargo-deny into target/tools the first time. scripts/test.sh calls this.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.20.2
tools="$PWD/target/tools"
deny="$tools/bin/cargo-deny"
if ! "$deny" --version 2>/dev/null | grep -qF "$version"; then
    echo "installing cargo-deny $version into $tools (a few minutes, once)"
    # The tool's own release profile asks for fat LTO and one codegen unit: minutes more of building
    # for a tool that runs seconds (cargo-deny's check takes 3 s either way; its build, 5m50 of CPU
    # instead of 8m17, measured).
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        cargo install cargo-deny --version "$version" --locked --root "$tools" --quiet
fi

"$deny" --log-level error check --hide-inclusion-graph licenses bans sources
if git ls-remote --quiet https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    "$deny" --log-level error check --hide-inclusion-graph advisories
else
    echo "advisories: not checked: github.com, which holds RustSec's database, is unreachable from here"
fi
