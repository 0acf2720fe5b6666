#!/usr/bin/env bash
# Every check quotewire has: formatting, lints, Rust tests, fuzzing, Python lints, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check
step "clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "rustdoc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
step "Rust tests"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
    cargo test --workspace --doc --locked
else
    cargo test --workspace --locked
fi
step "DPDK transport and engine feed (feature dpdk; a stub with a warning when libdpdk-dev is missing)"
cargo clippy -p quotewire-transport --features dpdk --all-targets --locked -- -D warnings
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run -p quotewire-transport --features dpdk --locked --no-fail-fast
else
    cargo test -p quotewire-transport --features dpdk --locked  # one DPDK test per test binary
fi
# The engine's feed over DPDK net_af_packet on a veth pair (needs root; skips otherwise).
cargo clippy -p quotewire-engine --features dpdk --all-targets --locked -- -D warnings
cargo test -p quotewire-engine --features dpdk --locked --test dpdk_feed_veth
if [[ -x scripts/fuzz.sh && ${FUZZ_SECONDS} -gt 0 ]]; then
    step "fuzz (${FUZZ_SECONDS}s per target)"
    for target in $(ls fuzz/fuzz_targets 2>/dev/null | sed 's/\.rs$//'); do
        scripts/fuzz.sh "$target" "$FUZZ_SECONDS"
    done
fi
step "ruff"
.venv/bin/ruff check python tests examples
.venv/bin/ruff format --check python tests examples
step "mypy"
.venv/bin/mypy
step "pytest"
.venv/bin/pytest -q
