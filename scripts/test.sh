#!/usr/bin/env bash
# Runs every check Mimamori has, on a fresh machine: it installs what the tests need first.
#
#   bash scripts/test.sh            everything (what CI runs)
#   FUZZ_SECONDS=0 bash scripts/test.sh    skip the fuzz smoke run
#
# Needs: the Rust toolchain (rustup), python3 with venv and pip, Node.js with npm, apt (Debian,
# for chromium), and ../shared/data beside the repository (or MIMAMORI_SHARED_DATA pointing at it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fuzz_seconds=${FUZZ_SECONDS:-15}

step() { printf '\n== %s\n' "$*"; }

step "tools: Python test environment (PhysioNet wfdb, the reference WFDB reader; python-hl7, an independent MLLP client)"
venv="$root/target/test-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/test-requirements.txt
export MIMAMORI_PYTHON="$venv/bin/python"

step "tools: Debian chromium and Japanese fonts (the viewer's browser test), systemd (systemd-analyze verify of the deploy units); playwright-core and typescript (npm)"
if ! command -v chromium >/dev/null 2>&1 || ! { command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi "Noto Sans CJK"; } || ! command -v systemd-analyze >/dev/null 2>&1; then
  as_root=""
  if [ "$(id -u)" != 0 ]; then as_root="sudo"; fi
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk systemd
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)

step "tools: rustfmt, clippy, cargo-fuzz"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if [ "$fuzz_seconds" != 0 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi

step "style: cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check

step "lint: cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests: cargo test --workspace"
cargo test --workspace

step "portability: the mimamori binary (bridge, hub, analyze, decode) builds for Windows delivery-room PCs (x86_64-pc-windows-gnu, mingw-w64)"
rustup target add x86_64-pc-windows-gnu >/dev/null 2>&1
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  as_root=""
  if [ "$(id -u)" != 0 ]; then as_root="sudo"; fi
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends gcc-mingw-w64-x86-64
fi
cargo check --bin mimamori --target x86_64-pc-windows-gnu --quiet

step "viewer: type check of the embedded JavaScript (tsc, JSDoc types)"
(cd tests/browser && npx tsc -p ../../crates/hub/assets/jsconfig.json)

step "viewer: Debian chromium (playwright-core) against a running demo with 32 beds"
(cd tests/browser && MIMAMORI_BIN="$root/target/debug/mimamori" node viewer.test.mjs)

if [ "$fuzz_seconds" != 0 ]; then
  step "fuzz: every target for ${fuzz_seconds}s, seeded from the golden vectors"
  fuzz/seed-corpus.sh
  for target in $(cargo fuzz list); do
    cargo fuzz run "$target" -s none -- -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 2>&1 \
      | grep -E '^Done|ERROR|panicked' || true
    if [ -n "$(ls -A "fuzz/artifacts/$target" 2>/dev/null)" ]; then
      echo "fuzz target $target found a crash: see fuzz/artifacts/$target" >&2
      exit 1
    fi
  done
fi
step "all checks passed"
