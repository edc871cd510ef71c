#!/usr/bin/env bash
# The whole test suite: pure Swift tests, kernel tests (real BPF programs on this kernel) and
# integration tests (network namespaces made by the tests, a real DNS server).
# Kernel/integration tests skip with a reason when they cannot run; with CI=true a skip is a
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
