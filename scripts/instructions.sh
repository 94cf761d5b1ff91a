#!/usr/bin/env bash
# Instruction counts of fixed workloads under valgrind (callgrind): repeatable to a fraction of a
# percent where wall-clock benchmarks on these shared machines move by ±10 %. Run it on two
# versions (two checkouts, or before and after a change) and compare the figures.
#
#   bash scripts/instructions.sh                 both workloads
#   bash scripts/instructions.sh analysis        the streaming analysis (per sample)
#   bash scripts/instructions.sh series50        the bridge's Series 50 decoding (per frame)
#
# Installs valgrind (Debian) if it is missing. Needs ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
  as_root=""
  if [ "$(id -u)" != 0 ]; then as_root="sudo"; fi
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends valgrind
fi
cargo build --release --quiet --example instructions
mkdir -p target/bench
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then workloads=(analysis series50); fi
for workload in "${workloads[@]}"; do
  out="target/bench/callgrind.$workload.out"
  log=$(valgrind --tool=callgrind --callgrind-out-file="$out" target/release/examples/instructions "$workload" 2>&1)
  units=$(grep -oP '^units \K[0-9]+' <<<"$log")
  instructions=$(grep -oP 'Collected : \K[0-9]+' <<<"$log")
  per=$(awk -v i="$instructions" -v u="$units" 'BEGIN { printf "%.0f", i / u }')
  echo "$workload: $instructions instructions for $units units = $per per unit ($(git rev-parse --short HEAD 2>/dev/null || echo '?'); profile: callgrind_annotate $out)"
done
