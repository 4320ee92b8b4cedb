#!/usr/bin/env bash
# Installs what is missing, builds medcode and runs the main job: fetch the ICD-10-CM FY2023 code set
# (from the mirror in MEDCODE_MIRROR, default ../shared/data/cms, else from CMS over HTTPS), import it and
# look a code up, and build an offline dataset of description → code pairs from CMS text. The store is
# ./medcode.db unless MEDCODE_DB says otherwise.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" -DMEDCODE_BUILD_TESTS=OFF
medcode="${MEDCODE_BUILD_DIR:-$root/build}/src/cli/medcode"
if [ -z "${MEDCODE_MIRROR:-}" ] && [ -d "$root/../shared/data/cms" ]; then
  export MEDCODE_MIRROR="$root/../shared/data/cms"
fi
year="${MEDCODE_YEAR:-2023}"
fetch_options=()
if [ -n "${MEDCODE_MIRROR:-}" ]; then fetch_options+=(--offline); fi  # a mirror given: no network at all
"$medcode" fetch icd10cm --year "$year" "${fetch_options[@]}"
"$medcode" import icd10cm --year "$year"
"$medcode" codes show S06.0X1A
"$medcode" generate --task cms-terms --limit 1000
echo "billable ICD-10-CM $year codes: $("$medcode" codes export --system icd10cm --year "$year" --billable-only | wc -l)"
