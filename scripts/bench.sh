#!/usr/bin/env bash
# bench.sh — janitor's benchmarks against the sandbox. Figures go to docs/benchmarks.md.
#
#   scripts/bench.sh incident   the 2023-11-07 query vs `janitor report` on 10,000 tables
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/sandbox.sh up
eval "$(scripts/sandbox.sh env)"
export JANITOR_BENCH_RESTART="$PWD/scripts/sandbox.sh restart primary"
case "${1:-incident}" in
incident) go test -tags bench -count=1 -timeout 60m -run TestIncidentQueryVersusReport -v ./bench ;;
*) echo "usage: scripts/bench.sh incident" >&2; exit 2 ;;
esac
