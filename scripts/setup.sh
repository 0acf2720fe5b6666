#!/usr/bin/env bash
# Sets up everything quotewire needs on a fresh Debian 12 machine with Rust and Python 3.11:
# Debian packages, the virtual environment at .venv/, and the release build of the extension.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build and tests need (more arrive with later features).
APT_PACKAGES=(pkg-config ansible ansible-lint debootstrap systemd libdpdk-dev iproute2 chromium nats-server)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.deps-stamp
if [[ ! -f $stamp || pyproject.toml -nt $stamp || scripts/setup.sh -nt $stamp ]]; then
    echo "setup: installing Python packages into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "maturin>=1.7,<2" "numpy>=1.26" \
        "pytest>=8" "hypothesis>=6" "ruff>=0.6" "mypy>=1.11" "hdrhistogram>=0.10" "quickfix-py" \
        "pyarrow>=15" "duckdb>=1.0" "databento-dbn" "pandas>=2.1" "matplotlib>=3.8" \
        "prometheus_client>=0.20"
    touch "$stamp"
fi

# With Debian's libdpdk present the core gets the DPDK transport (feature `dpdk`); without
# it the feature would only build a stub, so it is left out.
features=()
if pkg-config --exists libdpdk 2>/dev/null; then
    features=(--features dpdk)
fi
echo "setup: building the extension (maturin develop --release ${features[*]})"
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" .venv/bin/maturin develop --release "${features[@]}"
.venv/bin/python -c "import quotewire._core" \
    || { echo "setup: the extension did not build" >&2; exit 1; }
[[ -x .venv/bin/quotewire ]] || { echo "setup: .venv/bin/quotewire missing" >&2; exit 1; }
echo "setup: ready: .venv/bin/quotewire"
