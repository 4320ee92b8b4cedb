#!/usr/bin/env bash
# Installs what is missing, builds medcode and runs the main job: `medcode run` on its defaults, offline —
# fetch the ICD-10-CM FY2023 code set (from the mirror in MEDCODE_MIRROR, default ../shared/data/cms, else
# from CMS over HTTPS), import it, generate description → code pairs from CMS text, score them with BM25,
# export the JSONL datasets and write the HTML report. The store is ./medcode.db unless MEDCODE_DB says
# otherwise; the datasets and index.html go to ./medcode-output.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" -DMEDCODE_BUILD_TESTS=OFF
medcode="${MEDCODE_BUILD_DIR:-$root/build}/src/cli/medcode"
if [ -z "${MEDCODE_MIRROR:-}" ] && [ -d "$root/../shared/data/cms" ]; then
  export MEDCODE_MIRROR="$root/../shared/data/cms"
fi
"$medcode" run --target-size "${MEDCODE_TARGET_SIZE:-200}" --year "${MEDCODE_YEAR:-2023}"
"$medcode" codes show S06.0X1A | head -3
# The same store serves coders over HTTP; say how, rather than block a script that should end.
echo "Next: '$medcode' serve --coder index   # REST API and web page on http://127.0.0.1:8080/ (docs/serve.md)"
