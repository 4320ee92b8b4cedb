#!/usr/bin/env bash
# Configures and builds medcode in ./build (Release with debug info); extra arguments go to CMake.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${MEDCODE_BUILD_DIR:-$root/build}"
jobs="${MEDCODE_JOBS:-$(nproc)}"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$build_dir" -j "$jobs"
