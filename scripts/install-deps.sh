#!/usr/bin/env bash
# Installs the Debian packages that medcode's build, tests and demo need; skips what is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates python3
  libsqlite3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libzip-dev
  nlohmann-json3-dev libcli11-dev libpugixml-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  libtorch-dev libopenblas0-pthread libsentencepiece-dev libstemmer-dev
  libpcre2-dev libutf8proc-dev
  libxgboost0
  libpoppler-cpp-dev poppler-utils qpdf wrk
  chromium
)

# Node.js runs the reference tokenizers of the conformance tests (scripts/install-npm-tools.sh). A machine that
# has node and npm from elsewhere keeps them; Debian's packages only where they are missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
