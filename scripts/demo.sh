#!/usr/bin/env bash
# demo.sh — from a fresh Debian machine to a janitor report: installs MariaDB and
# percona-toolkit if missing, starts a primary and a replica on loopback, seeds a demo
# shard with leftovers of every tool (running the real pt-online-schema-change), builds
# janitor and runs the report. Nothing is dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "demo: Go is not installed (want /usr/local/go/bin/go)" >&2; exit 1; }
scripts/sandbox.sh up
scripts/seed-demo.sh
mkdir -p bin
go build -trimpath -o bin/janitor ./cmd/janitor
echo "demo: bin/janitor report --config examples/demo.yaml" >&2
bin/janitor report --config examples/demo.yaml "$@"
