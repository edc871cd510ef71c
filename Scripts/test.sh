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
# The kernel matrix (Documentation/KernelMatrix.md): every program verified on Debian's 5.10,
# 6.1, 6.12 and 7.2 under qemu plus this kernel, the parser's and the datapath's differential
# cases in each. On in CI (CI=true), off otherwise (it downloads the kernels on its first run and
# costs 2-4.5 CPU-minutes); FQDN_KERNEL_MATRIX=1 or 0 decides either way.
matrix=${FQDN_KERNEL_MATRIX:-$([[ "${CI:-}" == true ]] && echo 1 || echo 0)}
if [[ "$matrix" == 1 ]]; then
    Scripts/kernel-matrix.sh --fqdnctl .build/debug/fqdnctl --out .build-kmatrix/ci
fi
