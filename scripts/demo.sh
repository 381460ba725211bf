#!/usr/bin/env bash
# demo.sh — from a fresh Debian machine to a janitor report: installs MariaDB and
# percona-toolkit if missing, starts a primary and a replica on loopback, seeds a demo
# shard with leftovers of every tool (running the real pt-online-schema-change), builds
# janitor and runs the report. Nothing is dropped.
#
#   scripts/demo.sh [--flavor mariadb|mariadb-11.8|mysql] [janitor report flags]
#
# --flavor mysql runs it on MySQL 9.7 (a chroot built once, see scripts/sandbox.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "demo: Go is not installed (want /usr/local/go/bin/go)" >&2; exit 1; }
flavor=()
if [ "${1:-}" = --flavor ]; then
	[ $# -ge 2 ] || { echo "demo: --flavor needs a value: mariadb, mariadb-11.8 or mysql" >&2; exit 2; }
	flavor=(--flavor "$2")
	shift 2
fi
scripts/sandbox.sh up "${flavor[@]}"
scripts/seed-demo.sh "${flavor[@]}"
mkdir -p bin
go build -trimpath -o bin/janitor ./cmd/janitor
# examples/demo.yaml names the default sandbox's ports; another flavor (or
# JANITOR_PRIMARY_PORT/JANITOR_REPLICA_PORT) gets a copy with its own.
eval "$(scripts/sandbox.sh env "${flavor[@]}")"
config=examples/demo.yaml
if ! grep -qF "$JANITOR_TEST_PRIMARY_DSN" "$config" || ! grep -qF "$JANITOR_TEST_REPLICA_DSN" "$config"; then
	config=bin/demo-$JANITOR_TEST_FLAVOR.yaml
	sed -e "s|root:sandbox-secret@tcp(127.0.0.1:23306)/|$JANITOR_TEST_PRIMARY_DSN|" \
		-e "s|root:sandbox-secret@tcp(127.0.0.1:23307)/|$JANITOR_TEST_REPLICA_DSN|" examples/demo.yaml >"$config"
fi
echo "demo: bin/janitor report --config $config" >&2
bin/janitor report --config "$config" "$@"
