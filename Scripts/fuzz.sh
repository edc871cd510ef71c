#!/usr/bin/env bash
# Fuzz the DNSWire parser with libFuzzer for SECONDS (default 60).
#   Scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
# Builds Fuzz/ (a separate package) with -sanitize=fuzzer,address on every module, seeds
# Fuzz/corpus-work/ from the knot corpus, and runs under `nice` (FUZZ_NICE, default 10).
# Crashing inputs land in Fuzz/artifacts/; add each one to FuzzRegressions in
# Tests/DNSWireTests/RobustnessTests.swift once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
nice_level="${FUZZ_NICE:-10}"
flags=(-c release --package-path Fuzz --scratch-path Fuzz/.build -Xswiftc -sanitize=fuzzer,address)

nice -n "$nice_level" swift build "${flags[@]}" --product DNSWireFuzz
bin="$(swift build "${flags[@]}" --show-bin-path)/DNSWireFuzz"

mkdir -p Fuzz/corpus-work Fuzz/artifacts
cp -n Tests/Fixtures/dns-corpus/knot/*.bin Fuzz/corpus-work/ 2>/dev/null || true

exec nice -n "$nice_level" "$bin" \
  -max_total_time="$seconds" \
  -max_len=17000 \
  -timeout=10 \
  -print_final_stats=1 \
  -artifact_prefix=Fuzz/artifacts/ \
  "$@" \
  Fuzz/corpus-work
