#!/usr/bin/env bash
# test.sh — every test, against a real MariaDB primary and replica (started here), and a
# real Prometheus, node_exporter and Pushgateway (started by the tests that use them).
# Installs what is missing.
#
#   scripts/test.sh            all tests
#   scripts/test.sh ./janitor  one package (any go test arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "test: Go is not installed (want /usr/local/go/bin/go)" >&2; exit 1; }

need=()
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
if [ ${#need[@]} -gt 0 ]; then
	echo "test: installing ${need[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The primary serves TLS with a sandbox CA, for dbconn's TLS tests.
export JANITOR_SANDBOX_TLS_DIR="${JANITOR_SANDBOX_TLS_DIR:-${JANITOR_SANDBOX_DIR:-/var/tmp/janitor-sandbox}-tls}"
scripts/sandbox.sh up
eval "$(scripts/sandbox.sh env)"

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(./...)
# -p 1: the packages share one MariaDB; tests that restart it or read its global
# counters must not overlap with another package's.
unformatted=$(gofmt -l .)
[ -z "$unformatted" ] || { echo "test: not gofmt-ed: $unformatted" >&2; exit 1; }
go vet ./...
go vet -tags bench ./bench
# staticcheck, pinned (a version that knows this Go); about 10 s of CPU with a warm
# module and build cache.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags bench ./bench
exec go test -p 1 -count=1 -timeout 20m "${args[@]}"
