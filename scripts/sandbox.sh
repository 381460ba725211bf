#!/usr/bin/env bash
# sandbox.sh — a local primary and replica for janitor's demo and tests, in one of three
# flavors:
#
#   mariadb       MariaDB 10.11 from the host's own Debian packages (the default: fast)
#   mysql         MySQL 9.7 from Debian sid's mysql-server, run in a chroot
#   mariadb-11.8  MariaDB 11.8 from Debian trixie's mariadb-server, run in a chroot
#
#   scripts/sandbox.sh up [--flavor F]              install/build if missing, start both, replicate (idempotent)
#   scripts/sandbox.sh down [--flavor F] [--purge]  stop both (--purge also deletes their data)
#   scripts/sandbox.sh restart [--flavor F] primary|replica
#   scripts/sandbox.sh replica2 [--flavor F] [primary|replica]
#                                                   start a second replica (port primary+2, server_id 3)
#                                                   fed by the primary (default) or, chained, by the replica;
#                                                   janitor's tests of unlisted replicas start it themselves
#   scripts/sandbox.sh status [--flavor F]
#   scripts/sandbox.sh env [--flavor F]             print export lines for the tests
#   scripts/sandbox.sh chroot --flavor F            only build the flavor's cached chroot
#
# Without --flavor, the flavor is $JANITOR_TEST_FLAVOR (which `env` prints, so a test that
# restarts the server restarts the right one), else mariadb.
#
# Each flavor has its own default directory and ports; JANITOR_SANDBOX_DIR,
# JANITOR_PRIMARY_PORT and JANITOR_REPLICA_PORT override them:
#
#   mariadb       /var/tmp/janitor-sandbox               23306 23307
#   mysql         /var/tmp/janitor-sandbox-mysql         23406 23407
#   mariadb-11.8  /var/tmp/janitor-sandbox-mariadb-11.8  23506 23507
#
# The chroot flavors run the server inside a Debian tree cached under
# $JANITOR_CHROOT_CACHE (default /var/tmp/janitor-chroot): sid/ for mysql, trixie/ for
# mariadb-11.8. It is built once with debootstrap (from the mirror in the host's own apt
# sources) into SUITE.tmp and renamed to SUITE only when the server package is installed, so
# a half-built tree is never used; a lock serialises concurrent builders. The sandbox
# directory is a path inside the chroot: the server's files are at FSROOT/DIR on the host,
# and `env` prints FSROOT (empty for the host flavor) so tests can find tablespace files at
# FSROOT + @@datadir. /proc is mounted inside the chroot while a server runs there (mysqld
# reads it) and unmounted by `down` once no server is left in that chroot; /dev is the
# static one debootstrap creates. Both servers listen on 127.0.0.1 only, with row-based
# binary logs and GTID replication. Users on each: root@127.0.0.1 and repl@127.0.0.1, both
# with password sandbox-secret; root over the socket needs none.
#
# JANITOR_SANDBOX_TLS=ON (opt-in, at `up`) makes a self-signed CA and a server certificate
# for 127.0.0.1/localhost in DIR/tls (once) and starts the primary with TLS on; the replica
# is started with TLS off, so tests see both kinds of server. `env` then also prints
# JANITOR_TEST_TLS_CA. JANITOR_SANDBOX_PFS=ON (at `up`) turns MariaDB's performance_schema
# on (MySQL's is always on, its default). An `up` with either changed restarts the servers
# whose configuration it changes (their data stays): `scripts/demo.sh` then
# `scripts/test.sh` gets the tests' TLS primary.
set -euo pipefail

PASSWORD=sandbox-secret
TLS=${JANITOR_SANDBOX_TLS:-OFF}
die() { echo "sandbox: $*" >&2; exit 1; }

FLAVOR=${JANITOR_TEST_FLAVOR:-mariadb}
CMD=
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--flavor) [ $# -ge 2 ] || die "--flavor needs a value: mariadb, mariadb-11.8 or mysql"; FLAVOR=$2; shift 2 ;;
	--flavor=*) FLAVOR=${1#--flavor=}; shift ;;
	*) if [ -z "$CMD" ]; then CMD=$1; else ARGS+=("$1"); fi; shift ;;
	esac
done

CACHE=${JANITOR_CHROOT_CACHE:-/var/tmp/janitor-chroot}
case "$FLAVOR" in
mariadb) SUITE= PKG= dflt_dir=/var/tmp/janitor-sandbox dflt_port=23306 ;;
mysql) SUITE=sid PKG=mysql-server dflt_dir=/var/tmp/janitor-sandbox-mysql dflt_port=23406 ;;
mariadb-11.8) SUITE=trixie PKG=mariadb-server dflt_dir=/var/tmp/janitor-sandbox-mariadb-11.8 dflt_port=23506 ;;
*) die "unknown flavor '$FLAVOR' (from --flavor or JANITOR_TEST_FLAVOR): want mariadb, mariadb-11.8 or mysql" ;;
esac
# A test that restarts a server runs this script without --flavor, with what `env` printed:
# it must reach the sandbox its DSNs name, not this flavor's default one.
if [ "$FLAVOR" = "${JANITOR_TEST_FLAVOR:-}" ]; then
	dflt_dir=${JANITOR_TEST_SANDBOX_DIR:-$dflt_dir}
	dflt_port=${JANITOR_TEST_PRIMARY_PORT:-$dflt_port}
fi
DIR=${JANITOR_SANDBOX_DIR:-$dflt_dir}
PRIMARY_PORT=${JANITOR_PRIMARY_PORT:-$dflt_port}
REPLICA_PORT=${JANITOR_REPLICA_PORT:-$((PRIMARY_PORT + 1))}
REPLICA2_PORT=$((PRIMARY_PORT + 2))
case "$DIR" in /*) ;; *) die "JANITOR_SANDBOX_DIR must be an absolute path, not '$DIR'" ;; esac
# FSROOT is the chroot the server runs in ("" for the host's MariaDB): the server sees DIR,
# the host sees FSROOT/DIR.
FSROOT=
[ -z "$SUITE" ] || FSROOT=$CACHE/$SUITE

is_mysql() { [ "$FLAVOR" = mysql ]; }

# in_root runs a command as the server sees the world: inside the chroot, or on the host.
in_root() { if [ -n "$FSROOT" ]; then chroot "$FSROOT" "$@"; else "$@"; fi; }

# apt_locked runs the host's apt-get one at a time: two of janitor's scripts installing at
# once (test.sh builds both chroots in the background) would otherwise fail on apt's lock,
# and DPkg::Lock::Timeout waits out anyone else's apt, such as a fresh machine's first
# unattended upgrade.
apt_locked() {
	flock /var/lock/janitor-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}

host_packages() {
	local missing=()
	if [ "$FLAVOR" = mariadb ]; then
		command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
		# The engines whose tables can name a leftover (CONNECT, SPIDER): the tests of
		# link_reference load them into the sandbox only.
		[ -f /usr/lib/mysql/plugin/ha_connect.so ] || missing+=(mariadb-plugin-connect)
		[ -f /usr/lib/mysql/plugin/ha_spider.so ] || missing+=(mariadb-plugin-spider)
	else
		command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
	fi
	# The host's client (bookworm's MariaDB 10.11) serves every flavor, MySQL 9.7 included.
	command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
	command -v pt-online-schema-change >/dev/null 2>&1 || missing+=(percona-toolkit)
	[ "$TLS" != ON ] || command -v openssl >/dev/null 2>&1 || missing+=(openssl)
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]} (or install them yourself)"
	echo "sandbox: installing ${missing[*]}" >&2
	# Serialised: test.sh builds both chroots at once, and each may install here.
	apt_locked update -qq >/dev/null
	apt_locked install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
		|| die "apt-get install ${missing[*]} failed"
}

# mirror prints the Debian archive URL of the host's own apt sources (deb822 or one-line).
mirror() {
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}')
	[ -n "$m" ] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {if ($i !~ /security/) {print $i; exit}; break}}')
	[ -n "$m" ] || die "cannot find a Debian mirror in /etc/apt/sources.list{,.d}: needed to build the $SUITE chroot"
	echo "$m"
}

# mount_proc mounts /proc inside the chroot tree $1 unless it is already mounted.
mount_proc() { mountpoint -q "$1/proc" || mount -t proc proc "$1/proc"; }

# hosts_file gives the chroot tree $1 an /etc/hosts naming localhost: debootstrap leaves
# none, and mariadb-install-db refuses to run when it cannot resolve the host name.
hosts_file() {
	grep -qs localhost "$1/etc/hosts" || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >>"$1/etc/hosts"
}

# build_chroot builds $FSROOT (Debian $SUITE with $PKG) once. A crashed build leaves only
# $FSROOT.tmp, which the next build resumes: debootstrap is rerun unless its log says it
# finished, apt-get install is idempotent.
build_chroot() {
	[ -n "$FSROOT" ] || return 0
	[ -x "$FSROOT/usr/sbin/mysqld" ] || [ -x "$FSROOT/usr/sbin/mariadbd" ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to build the $SUITE chroot in $FSROOT"
	mkdir -p "$CACHE"
	exec 9>"$CACHE/$SUITE.lock"
	flock 9
	if [ ! -d "$FSROOT" ]; then
		local tmp=$FSROOT.tmp log=$CACHE/$SUITE.log
		local t0=$SECONDS
		if ! grep -q "debootstrap ok" "$log" 2>/dev/null; then
			echo "sandbox: building the $SUITE chroot for $FLAVOR in $tmp (a few minutes, once; log $log)" >&2
			rm -rf "$tmp"
			debootstrap --variant=minbase "$SUITE" "$tmp" "$(mirror)" >"$log" 2>&1 ||
				{ tail -20 "$log" >&2; die "debootstrap $SUITE failed: see $log"; }
			echo "$SUITE debootstrap ok" >>"$log"
		fi
		echo "sandbox: installing $PKG in the $SUITE chroot (log $CACHE/$SUITE-install.log)" >&2
		# No service may start inside the chroot while the package installs.
		printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
		chmod +x "$tmp/usr/sbin/policy-rc.d"
		mount_proc "$tmp"
		local ok=0
		hosts_file "$tmp"
		{
			chroot "$tmp" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -o Acquire::Check-Valid-Until=false update &&
				chroot "$tmp" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get install -y --no-install-recommends "$PKG" &&
				chroot "$tmp" apt-get clean
		} >"$CACHE/$SUITE-install.log" 2>&1 || ok=$?
		umount "$tmp/proc" 2>/dev/null || true
		[ $ok -eq 0 ] || { tail -20 "$CACHE/$SUITE-install.log" >&2; die "installing $PKG in $tmp failed: see $CACHE/$SUITE-install.log"; }
		mv "$tmp" "$FSROOT"
		echo "sandbox: $SUITE chroot ready in $((SECONDS - t0))s" >&2
	fi
	flock -u 9
	exec 9>&-
}

port_of() {
	case "$1" in
	primary) echo "$PRIMARY_PORT" ;;
	replica2) echo "$REPLICA2_PORT" ;;
	*) echo "$REPLICA_PORT" ;;
	esac
}
sock_of() { echo "$DIR/$1/mysqld.sock"; } # as the server sees it
host() { echo "$FSROOT$1"; }              # a server path, as the host sees it
cli() { local who=$1; shift; mariadb --no-defaults -uroot -S "$(host "$(sock_of "$who")")" "$@"; }

alive() { cli "$1" -Nse 'SELECT 1' >/dev/null 2>&1; }

write_cnf() {
	local who=$1 id=$2 extra=$3 d=$DIR/$1
	mkdir -p "$(host "$d/data")" "$(host "$d/tmp")"
	local common="datadir=$d/data
tmpdir=$d/tmp
socket=$(sock_of "$who")
pid-file=$d/mysqld.pid
log-error=$d/error.log
port=$(port_of "$who")
bind-address=127.0.0.1
user=mysql
server-id=$id
log-bin=$d/data/binlog
innodb_file_per_table=ON
innodb_buffer_pool_size=256M
# No buffer-pool dump/load: it warms the pool in the background after a restart and
# would blur the benchmark's server-memory figures.
innodb_buffer_pool_dump_at_shutdown=OFF
innodb_buffer_pool_load_at_startup=OFF
skip-name-resolve
max_connections=300
table_open_cache=4000
table_definition_cache=2000
open_files_limit=20000
character-set-server=utf8mb4"
	if is_mysql; then
		# MySQL keeps its own default collation (utf8mb4_0900_ai_ci), as production does,
		# and performance_schema on: the replica-lag applier timestamps and the benchmark's
		# memory summary live there.
		cat >"$(host "$d/my.cnf")" <<CNF
[mysqld]
$common
gtid_mode=ON
enforce_gtid_consistency=ON
log_replica_updates=ON
mysqlx=OFF
innodb_redo_log_capacity=256M
performance_schema=ON
$extra
CNF
	else
		cat >"$(host "$d/my.cnf")" <<CNF
[mariadbd]
$common
collation-server=utf8mb4_general_ci
binlog_format=ROW
log_slave_updates=ON
gtid_strict_mode=ON
innodb_log_file_size=128M
# Off by default (MariaDB's default); JANITOR_SANDBOX_PFS=ON turns it on (MySQL's
# default), to test what janitor sees of a held table's reads with it.
performance_schema=${JANITOR_SANDBOX_PFS:-OFF}
# Who holds a table's metadata lock (information_schema.METADATA_LOCK_INFO): janitor
# refuses to drop on a shard whose replica cannot say (docs/dropping.md). Both servers,
# as a fleet's shared config would; the tests that need a replica without it unload it
# for themselves.
plugin_load_add=metadata_lock_info
$extra
CNF
	fi
}

start_one() {
	local who=$1 d=$DIR/$1
	if alive "$who"; then
		# A server started with another configuration (the demo's, without TLS, before
		# the tests' `up` with JANITOR_SANDBOX_TLS=ON; performance_schema switched) is
		# restarted with the one just written; its data stays.
		cmp -s "$(host "$d/my.cnf")" "$(host "$d/my.cnf.started")" && return 0
		echo "sandbox: the $who's configuration changed since it started: restarting it" >&2
		stop_one "$who"
	fi
	if [ -n "$FSROOT" ]; then
		mount_proc "$FSROOT"
		hosts_file "$FSROOT"
	fi
	# Only what mysql does not own yet: MariaDB reports an InnoDB table's CREATE_TIME
	# from its .frm file's ctime, so a blanket chown -R on every start would make every
	# table on the server look created just now. Run inside the chroot: its mysql user is
	# not the host's.
	in_root find "$d" \( ! -user mysql -o ! -group mysql \) -exec chown mysql:mysql {} +
	if [ ! -d "$(host "$d/data/mysql")" ]; then
		if is_mysql; then
			in_root mysqld --defaults-file="$d/my.cnf" --initialize-insecure >"$(host "$d/install.log")" 2>&1 ||
				die "mysqld --initialize-insecure for $who failed: see $(host "$d/install.log")"
		else
			in_root mariadb-install-db --defaults-file="$d/my.cnf" --auth-root-authentication-method=socket \
				--skip-test-db >"$(host "$d/install.log")" 2>&1 || die "mariadb-install-db for $who failed: see $(host "$d/install.log")"
		fi
	fi
	local server=(mariadbd)
	is_mysql && server=(mysqld)
	[ -z "$FSROOT" ] || server=(chroot "$FSROOT" "${server[@]}")
	(setsid "${server[@]}" --defaults-file="$d/my.cnf" </dev/null >>"$(host "$d/error.log")" 2>&1 &)
	for _ in $(seq 1 600); do
		alive "$who" && cp "$(host "$d/my.cnf")" "$(host "$d/my.cnf.started")" && return 0
		sleep 0.1
	done
	tail -20 "$(host "$d/error.log")" >&2
	die "$who ($FLAVOR) did not start on port $(port_of "$who")"
}

# users are created with binary logging off, on each server, so that replication
# starts from an empty GTID history on both.
create_users() {
	local who=$1 anon="DELETE FROM mysql.global_priv WHERE User = ''; FLUSH PRIVILEGES;"
	is_mysql && anon="" # mysqld --initialize creates no anonymous user
	cli "$who" <<SQL
SET SESSION sql_log_bin = 0;
$anon
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
ALTER USER 'repl'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
SQL
}

replica_status() {
	local who=${1:-replica}
	if is_mysql; then cli "$who" -e "SHOW REPLICA STATUS\G"; else cli "$who" -e "SHOW SLAVE STATUS\G"; fi
}

# setup_replication [WHO [SOURCE_PORT]]: WHO (default replica) replicates from the server
# on SOURCE_PORT (default the primary).
setup_replication() {
	local who=${1:-replica} src=${2:-$PRIMARY_PORT} ssl=""
	# MariaDB 11.8's replica runs without TLS (skip-ssl), and its client requires TLS
	# unless told otherwise: a server chained behind it must say so.
	[ "$FLAVOR" != mariadb-11.8 ] || [ "$src" != "$REPLICA_PORT" ] || ssl=", MASTER_SSL=0"
	if [ -z "$(replica_status "$who")" ]; then
		if is_mysql; then
			# GET_SOURCE_PUBLIC_KEY: repl authenticates with caching_sha2_password over a
			# connection without TLS. SOURCE_RETRY_COUNT: MySQL gives up after 10 attempts
			# by default, and a restarted primary takes longer than 10 s to come back.
			cli "$who" -e "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=$src, \
				SOURCE_USER='repl', SOURCE_PASSWORD='$PASSWORD', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, \
				SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=86400"
		else
			cli "$who" -e "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$src, MASTER_USER='repl', \
				MASTER_PASSWORD='$PASSWORD', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1$ssl"
		fi
	fi
	if is_mysql; then cli "$who" -e "START REPLICA" 2>/dev/null || true; else cli "$who" -e "START SLAVE" 2>/dev/null || true; fi
	for _ in $(seq 1 200); do
		local st io sql
		st=$(replica_status "$who")
		io=$(awk '/(Slave|Replica)_IO_Running:/ {print $2}' <<<"$st")
		sql=$(awk '/(Slave|Replica)_SQL_Running:/ {print $2}' <<<"$st")
		[ "$io" = Yes ] && [ "$sql" = Yes ] && return 0
		sleep 0.1
	done
	replica_status "$who" >&2
	die "replication did not start on $who"
}

# replica2 starts a second replica fed by $1 (primary or replica): the tests of replicas
# that are not in janitor's configuration attach it. It starts at the source's current
# GTID position, with no copy of the data: it has what is created after it attached (the
# tests create their schemas then).
replica2() {
	local from=${1:-primary}
	case "$from" in primary | replica) ;; *) die "usage: sandbox.sh replica2 [primary|replica]" ;; esac
	alive primary || die "the primary is not running: scripts/sandbox.sh up first"
	if ! alive replica2; then
		write_cnf replica2 3 "read_only=ON
relay-log=$DIR/replica2/data/relay
$([ "$FLAVOR" != mariadb-11.8 ] || echo skip-ssl)"
		start_one replica2
		create_users replica2
		lock_plugin replica2
	fi
	# Pointed at the wanted source, from its current position, each time: a test may
	# move it from one to the other.
	local port pos
	port=$(port_of "$from")
	if is_mysql; then
		pos=$(cli "$from" -Nse 'SELECT @@GLOBAL.gtid_executed' | tr -d '\n')
		cli replica2 -e "STOP REPLICA; RESET REPLICA ALL; RESET BINARY LOGS AND GTIDS; SET GLOBAL gtid_purged = '$pos'"
	else
		pos=$(cli "$from" -Nse 'SELECT @@GLOBAL.gtid_current_pos')
		cli replica2 -e "STOP SLAVE; RESET SLAVE ALL; RESET MASTER; SET GLOBAL gtid_slave_pos = '$pos'"
	fi
	setup_replication replica2 "$port"
}

# tls_files makes the CA and the server's certificate and key in DIR/tls, once, owned by
# the server's own mysql user (inside the chroot for the chroot flavors).
tls_files() {
	local t
	t=$(host "$DIR/tls")
	[ -f "$t/server-cert.pem" ] && return 0
	mkdir -p "$t"
	(
		cd "$t"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=janitor sandbox CA" \
			-keyout ca-key.pem -out ca.pem 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
			-extfile san.ext -out server-cert.pem 2>/dev/null
		rm -f server.csr san.ext
	) || die "openssl could not make the TLS files in $t"
	in_root chown mysql:mysql "$DIR/tls/server-key.pem" "$DIR/tls/server-cert.pem" "$DIR/tls/ca.pem"
	chmod 0600 "$t/server-key.pem"
}

up() {
	host_packages
	build_chroot
	id mysql >/dev/null 2>&1 || [ -n "$FSROOT" ] || die "no mysql user: is mariadb-server installed?"
	mkdir -p "$(host "$DIR")"
	local primary_tls="" replica_tls=""
	if [ "$TLS" = ON ]; then
		command -v openssl >/dev/null 2>&1 || die "JANITOR_SANDBOX_TLS=ON needs openssl: apt-get install openssl"
		tls_files
		primary_tls="ssl_ca=$DIR/tls/ca.pem
ssl_cert=$DIR/tls/server-cert.pem
ssl_key=$DIR/tls/server-key.pem"
	fi
	# MariaDB 11.4+ makes its own certificate and serves TLS unless told not to: its
	# replica is the sandbox's server without TLS. MySQL's replica keeps the TLS MySQL
	# sets up by itself (turning it off changed how its replication channel behaves
	# under the stalled-receiver test); the TLS tests skip their no-TLS cases there.
	[ "$FLAVOR" != mariadb-11.8 ] || replica_tls="skip-ssl"
	write_cnf primary 1 "$primary_tls"
	write_cnf replica 2 "read_only=ON
relay-log=$DIR/replica/data/relay
$replica_tls"
	start_one primary
	start_one replica
	create_users primary
	create_users replica
	lock_plugin primary
	lock_plugin replica
	setup_replication
}

# lock_plugin loads MariaDB's metadata_lock_info plugin into a server started before the
# config named it (a sandbox `up` finds running keeps running). INSTALL SONAME also
# records it in mysql.plugin; with plugin_load_add as well, a restart only logs a Note.
lock_plugin() {
	is_mysql && return 0
	local n
	n=$(cli "$1" -Nse "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'")
	[ "$n" = 1 ] || cli "$1" -e "SET SESSION sql_log_bin = 0; INSTALL SONAME 'metadata_lock_info'"
}

stop_one() {
	local who=$1 pidf
	pidf=$(host "$DIR/$who/mysqld.pid")
	[ -f "$pidf" ] || return 0
	local pid
	pid=$(cat "$pidf" 2>/dev/null || true)
	if alive "$who"; then
		# SHUTDOWN, not mariadb-admin: the statement works on every flavor.
		timeout 60 mariadb --no-defaults -uroot -S "$(host "$(sock_of "$who")")" -e SHUTDOWN >/dev/null 2>&1 || true
	fi
	if [ -n "$pid" ]; then
		for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidf"
}

# release_proc unmounts the chroot's /proc once no process runs inside that chroot any more
# (another sandbox directory may share the chroot).
release_proc() {
	[ -n "$FSROOT" ] && mountpoint -q "$FSROOT/proc" || return 0
	local root want
	want=$(readlink -f "$FSROOT")
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$root" = "$want" ] && return 0
	done
	umount "$FSROOT/proc" 2>/dev/null || true
}

status() {
	echo "flavor: $FLAVOR (sandbox $(host "$DIR"))"
	for who in primary replica; do
		if alive "$who"; then
			echo "$who: up on 127.0.0.1:$(port_of "$who") ($(cli "$who" -Nse 'SELECT VERSION()'))"
		else
			echo "$who: down"
		fi
	done
	if alive replica; then
		replica_status | grep -E "(Slave|Replica|Source|Master)_(IO|SQL)_Running:|Seconds_Behind_(Master|Source):|Last_(IO|SQL)_Error:" || true
	fi
}

case "$CMD" in
up) up ;;
down)
	stop_one replica2
	stop_one replica
	stop_one primary
	release_proc
	[ "${ARGS[0]:-}" = --purge ] && rm -rf "$(host "$DIR")"
	true
	;;
restart)
	case "${ARGS[0]:-}" in primary | replica) ;; *) die "usage: sandbox.sh restart [--flavor F] primary|replica" ;; esac
	stop_one "${ARGS[0]}"
	start_one "${ARGS[0]}"
	[ "${ARGS[0]}" = replica ] && setup_replication
	true
	;;
status) status ;;
replica2) replica2 "${ARGS[0]:-}" ;;
chroot) host_packages; build_chroot ;;
env)
	echo "export JANITOR_TEST_PRIMARY_DSN='root:$PASSWORD@tcp(127.0.0.1:$PRIMARY_PORT)/'"
	echo "export JANITOR_TEST_REPLICA_DSN='root:$PASSWORD@tcp(127.0.0.1:$REPLICA_PORT)/'"
	# Up only once a test has run `sandbox.sh replica2`.
	echo "export JANITOR_TEST_REPLICA2_DSN='root:$PASSWORD@tcp(127.0.0.1:$REPLICA2_PORT)/'"
	echo "export JANITOR_TEST_FLAVOR='$FLAVOR'"
	echo "export JANITOR_TEST_PRIMARY_FSROOT='$FSROOT'"
	echo "export JANITOR_TEST_REPLICA_FSROOT='$FSROOT'"
	# The tests that restart a server run this script: they must reach the same sandbox.
	echo "export JANITOR_TEST_SANDBOX_DIR='$DIR' JANITOR_TEST_PRIMARY_PORT='$PRIMARY_PORT'"
	if [ "$TLS" = ON ]; then echo "export JANITOR_TEST_TLS_CA='$(host "$DIR/tls")/ca.pem'"; fi
	;;
*) die "usage: sandbox.sh up|down [--purge]|restart primary|replica|replica2 [primary|replica]|status|env|chroot [--flavor mariadb|mariadb-11.8|mysql]" ;;
esac
