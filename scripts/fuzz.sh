#!/usr/bin/env bash
# Runs one cargo-fuzz target for a bounded time.
#
#   scripts/fuzz.sh TARGET [SECONDS]     e.g. scripts/fuzz.sh moldudp64_itch 60
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, sancov passes). The
# script uses a nightly toolchain when rustup has one; otherwise it runs the
# stable toolchain with RUSTC_BOOTSTRAP=1. It tries AddressSanitizer first and
# falls back to `--sanitizer none` if that build fails (libFuzzer still finds
# panics, which is what our safe-Rust decoders can do wrong).
# Override with FUZZ_TOOLCHAIN=nightly|stable and FUZZ_SANITIZER=address|none.
# New corpus entries go to fuzz/corpus/TARGET (git-ignored); the committed
# seeds in fuzz/seeds/TARGET are read too. Crashes land in fuzz/artifacts/.
set -euo pipefail

target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS]}
seconds=${2:-60}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        toolchain=nightly
    else
        toolchain=stable
    fi
fi

fuzz() {
    if [[ $toolchain == nightly ]]; then
        cargo +nightly fuzz "$@"
    else
        RUSTC_BOOTSTRAP=1 cargo fuzz "$@"
    fi
}

sanitizer=${FUZZ_SANITIZER:-address}
start=$(date +%s)
if ! fuzz build --sanitizer "$sanitizer" "$target"; then
    if [[ $sanitizer == none ]]; then
        exit 1
    fi
    echo "fuzz.sh: $sanitizer build failed on $toolchain; retrying with --sanitizer none" >&2
    sanitizer=none
    fuzz build --sanitizer none "$target"
fi
echo "fuzz.sh: built $target ($toolchain, sanitizer $sanitizer) in $(( $(date +%s) - start )) s" >&2

corpus=corpus/$target
seeds=seeds/$target
mkdir -p "$corpus" "$seeds"
fuzz run --sanitizer "$sanitizer" "$target" "$corpus" "$seeds" -- \
    -max_total_time="$seconds" -timeout=10
