#!/usr/bin/env bash
# test.sh — every test, against a real primary and replica (started here), and a real
# Prometheus, node_exporter and Pushgateway (started by the tests that use them), on each
# server flavor in turn. Installs what is missing.
#
#   scripts/test.sh                          gofmt and vet, the release build (scripts/release.sh
#                                            --check), then all tests on every flavor:
#                                            MariaDB 10.11, MySQL 9.7, MariaDB 11.8
#   scripts/test.sh --flavor mysql [args]    one flavor (mariadb, mysql or mariadb-11.8);
#                                            any go test arguments, e.g. ./janitor -run X
#   scripts/test.sh ./janitor                one flavor: $JANITOR_TEST_FLAVOR, else MariaDB 10.11
#
# JANITOR_TEST_FLAVORS (space separated) chooses the flavors of the full run. The chroot
# flavors are built once and cached (scripts/sandbox.sh explains where); on a fresh machine
# both chroots are built in the background while MariaDB 10.11's run goes on. In a full run
# each flavor's sandbox is stopped after its tests, so flavors never share memory or, if
# JANITOR_PRIMARY_PORT/JANITOR_REPLICA_PORT are set, ports.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "test: Go is not installed (want /usr/local/go/bin/go)" >&2; exit 1; }

flavor=
if [ "${1:-}" = --flavor ]; then
	[ $# -ge 2 ] || { echo "test: --flavor needs a value: mariadb, mysql or mariadb-11.8" >&2; exit 2; }
	flavor=$2
	shift 2
fi
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(./...)

need=()
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
if [ ${#need[@]} -gt 0 ]; then
	echo "test: installing ${need[*]}" >&2
	# The same lock as scripts/sandbox.sh's installs, which may run at the same time.
	flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
	flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

unformatted=$(gofmt -l .)
[ -z "$unformatted" ] || { echo "test: not gofmt-ed: $unformatted" >&2; exit 1; }
go vet ./...
go vet -tags bench ./bench
# staticcheck, pinned (a version that knows this Go); seconds of CPU with a warm module and
# build cache, minutes on a fresh machine.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags bench ./bench

# The primary serves TLS with a sandbox CA, for dbconn's TLS tests (the replica does not).
export JANITOR_SANDBOX_TLS=ON

# run_flavor F: the sandbox of flavor F up, then go test. -p 1: the packages share one
# server; tests that restart it or read its global counters must not overlap with another
# package's.
run_flavor() {
	local f=$1
	# MariaDB's performance_schema is off by default, and 10.11 runs that way; 11.8 runs
	# with it on, so the held tables' read counters (and their tests) run on MariaDB
	# too. JANITOR_SANDBOX_PFS set by the caller wins.
	[ "$f" != mariadb-11.8 ] || export JANITOR_SANDBOX_PFS=${JANITOR_SANDBOX_PFS:-ON}
	scripts/sandbox.sh up --flavor "$f"
	(
		eval "$(scripts/sandbox.sh env --flavor "$f")"
		go test -p 1 -count=1 -timeout 30m "${args[@]}"
	)
}

if [ -n "$flavor" ] || [ $# -gt 0 ]; then
	run_flavor "${flavor:-${JANITOR_TEST_FLAVOR:-mariadb}}"
	exit
fi

# The release build, twice: both platforms' binaries and the OCI image, identical
# checksums (reproducible); nothing is pushed. ~40 s with a warm build cache.
scripts/release.sh --check

read -r -a flavors <<<"${JANITOR_TEST_FLAVORS:-mariadb mysql mariadb-11.8}"
builds=()
for f in "${flavors[@]}"; do
	[ "$f" = mariadb ] && continue
	# Build the chroots meanwhile (a no-op once cached): mostly download and unpack.
	scripts/sandbox.sh chroot --flavor "$f" >"/tmp/janitor-chroot-$f.log" 2>&1 &
	builds+=("$f:$!")
done
failed=()
summary=()
for f in "${flavors[@]}"; do
	for b in "${builds[@]}"; do
		[ "${b%%:*}" = "$f" ] || continue
		wait "${b#*:}" || { cat "/tmp/janitor-chroot-$f.log" >&2; echo "test: building the $f chroot failed" >&2; exit 1; }
	done
	t0=$SECONDS
	echo "test: === flavor $f ===" >&2
	if run_flavor "$f"; then r=ok; else r=FAIL; failed+=("$f"); fi
	scripts/sandbox.sh down --flavor "$f"
	summary+=("$f: $r in $((SECONDS - t0))s")
done
printf 'test: %s\n' "${summary[@]}" >&2
[ ${#failed[@]} -eq 0 ] || { echo "test: failed on ${failed[*]}" >&2; exit 1; }
