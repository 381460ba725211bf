#!/usr/bin/env bash
# bench.sh — janitor's benchmarks against the sandbox. Figures go to docs/benchmarks.md.
#
#   scripts/bench.sh incident   the 2023-11-07 query vs `janitor report` on 10,000 tables
#   scripts/bench.sh references what listing MERGE tables adds to `janitor report` on 10,000 tables
#   scripts/bench.sh usage      what reading every event and table grant costs, at 10 and 1,000 tables
#   scripts/bench.sh readsources what reading the sources of reads by name costs on 10,000 tables
#   scripts/bench.sh drops      sysbench oltp_read_write while `run --execute` holds ~480 MB
#                               (execute.hold's default: comment + RENAME), then a later run
#                               drops it; then a large table with strategy drop vs purge
#   scripts/bench.sh unlink     sysbench oltp_read_write while, every 4 s, a plain DROP of a
#                               ~60 MB table, a DROP of a 1,000-row one, or an rm of a file
#                               of the big table's size: where a DROP's cost to the load is
#   scripts/bench.sh fklocks    sysbench oltp_read_write while janitor holds, then drops, 8
#                               leftovers with a foreign key to the live sbtest1; a probe
#                               times reads of sbtest1 (issue 17: the live parent's stall)
#   scripts/bench.sh fleet      8 small MariaDB servers (JANITOR_BENCH_FLEET_SERVERS; ports
#                               31310+, dirs /var/tmp/sb-fleet-N) × 1,500 tables, 20 leftovers
#                               each, listed up to 2,048 times; a refused and a hanging shard;
#                               a concurrency sweep, partitioned runs, drops, and the
#                               indexed-execute overlay's own settings, its pods at once
#
#   scripts/bench.sh --flavor mysql incident     the same on MySQL 9.7 (see scripts/sandbox.sh);
#                                                drops works there too
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
flavor=()
if [ "${1:-}" = --flavor ]; then
	flavor=(--flavor "${2:?--flavor needs a value}")
	shift 2
fi
scripts/sandbox.sh up "${flavor[@]}"
eval "$(scripts/sandbox.sh env "${flavor[@]}")"
# sandbox.sh restart picks the flavor up from JANITOR_TEST_FLAVOR, which env exported.
export JANITOR_BENCH_RESTART="$PWD/scripts/sandbox.sh restart primary"
case "${1:-incident}" in
incident) go test -tags bench -count=1 -timeout 60m -run TestIncidentQueryVersusReport -v ./bench ;;
references) go test -tags bench -count=1 -timeout 60m -run TestReferenceListingCost -v ./bench ;;
usage) go test -tags bench -count=1 -timeout 60m -run TestEventAndGrantReadCost -v ./bench ;;
readsources) go test -tags bench -count=1 -timeout 60m -run TestReadSourceCost -v ./bench ;;
drops)
	# sysbench 1.0 from Debian; its MySQL driver is MariaDB Connector/C, which speaks
	# MySQL 9.7's caching_sha2_password (root@127.0.0.1 on the mysql flavor) too.
	command -v sysbench >/dev/null || { flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq &&
		flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq sysbench >/dev/null; }
	unset JANITOR_BENCH_RESTART
	go test -tags bench -count=1 -timeout 60m -run 'TestDropUnderLoad|TestLargeTableStrategies' -v ./bench
	;;
unlink)
	command -v sysbench >/dev/null || { flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq &&
		flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq sysbench >/dev/null; }
	unset JANITOR_BENCH_RESTART
	go test -tags bench -count=1 -timeout 60m -run TestUnlinkUnderLoad -v ./bench
	;;
fklocks)
	command -v sysbench >/dev/null || { flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq &&
		flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq sysbench >/dev/null; }
	unset JANITOR_BENCH_RESTART
	go test -tags bench -count=1 -timeout 60m -run TestLiveParentStallUnderLoad -v ./bench
	;;
fleet) go test -tags bench -count=1 -timeout 60m -run TestFleet -v ./bench ;;
*) echo "usage: scripts/bench.sh [--flavor mariadb|mariadb-11.8|mysql] incident|references|usage|readsources|drops|unlink|fklocks|fleet" >&2; exit 2 ;;
esac
