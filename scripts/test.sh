#!/usr/bin/env bash
# Installs what is missing, builds and runs the whole test suite.
#   scripts/test.sh            default build
#   scripts/test.sh --asan     ASan+UBSan build (leak detection on)
#   scripts/test.sh --fuzz     build the fuzz targets, run each for a short smoke
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-default}
scripts/setup.sh
case "$mode" in
  default|"")
    scripts/build.sh default
    ctest --preset default -j 2
    ;;
  --asan)
    scripts/build.sh asan
    ctest --preset asan -j 2
    ;;
  --fuzz)
    scripts/build.sh fuzz
    scripts/fuzz-smoke.sh build-fuzz/bin "${SBX_FUZZ_SECONDS:-20}"
    ;;
  *)
    echo "usage: scripts/test.sh [--asan|--fuzz]" >&2
    exit 2
    ;;
esac
