#!/usr/bin/env bash
# Analyses every shared recording (CTU-UHB, FHRMA-FS, FHRMA) with the current release build and
# writes each JSON report to OUTDIR: `NAME.jsog.json` (default profile, with the baseline curve)
# and `NAME.figo.json` (FIGO profile). Run it on two versions and compare the directories to
# check that a change meant to be behaviour-neutral (speed work, refactoring, ADVANCE_EVERY) leaves
# every report byte-identical:
#
#   bash scripts/analyze-all.sh /tmp/before      # on the old version
#   bash scripts/analyze-all.sh /tmp/after       # on the new one
#   diff -rq /tmp/before /tmp/after && echo identical
#
# Uses every core; about 10 s on 2 cores. Needs ../shared/data.
set -euo pipefail
out=${1:?usage: analyze-all.sh OUTDIR}
cd "$(dirname "$0")/.."
cargo build --release --quiet
mkdir -p "$out"
data=../shared/data
jobs=$(nproc)
count=0
for f in "$data"/ctu-uhb/wfdb/*.hea "$data"/fhrma-fs/*/Train/*.fhrm "$data"/fhrma/*/*.fhr; do
  [ -e "$f" ] || continue
  name=$(basename "$f"); name=${name%.*}
  (
    target/release/mimamori analyze "$f" --json --curve > "$out/$name.jsog.json"
    target/release/mimamori analyze "$f" --json --profile figo > "$out/$name.figo.json"
  ) &
  count=$((count + 1))
  if [ $((count % 200)) -eq 0 ]; then echo "  $count recordings" >&2; fi
  while [ "$(jobs -r | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait
echo "$count recordings analysed into $out ($(ls "$out" | wc -l) reports)" >&2
