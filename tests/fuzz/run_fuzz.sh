#!/bin/sh
# run_fuzz.sh <fuzzer> <seed dir> <seconds> [FUZZ_SECONDS overrides seconds]: runs the
# fuzzer from the seeds for that long; fails on a crash, a sanitizer report, a leak, an
# input slower than 5 s or more than 2 GB. Findings are left in $FUZZ_OUT (or a temp dir).
set -eu
fuzzer=$1 seeds=$2 secs=${FUZZ_SECONDS:-$3}
out=${FUZZ_OUT:-$(mktemp -d)}
mkdir -p "$out/corpus" "$out/artifacts"
exec "$fuzzer" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$out/artifacts/" "$out/corpus" "$seeds"
