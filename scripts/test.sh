#!/usr/bin/env bash
# Installs what is missing, builds medcode with its tests and runs the whole suite under ctest.
# Extra arguments go to ctest (e.g. -L unit, -R Icd10cm).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
# The reference tokenizers for the BPE conformance tests (skipped, with a message, when node is missing).
"$root/scripts/install-npm-tools.sh"
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
"$root/scripts/build.sh" -DMEDCODE_BUILD_TESTS=ON -DMEDCODE_WERROR="$werror"
ctest --test-dir "${MEDCODE_BUILD_DIR:-$root/build}" --output-on-failure -j "$(nproc)" "$@"
