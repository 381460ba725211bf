#!/usr/bin/env bash
# sandbox.sh — a local MariaDB primary and replica for janitor's demo and tests.
#
#   scripts/sandbox.sh up              install MariaDB if missing, start both, replicate (idempotent)
#   scripts/sandbox.sh down [--purge]  stop both (--purge also deletes their data)
#   scripts/sandbox.sh restart primary|replica
#   scripts/sandbox.sh status
#   scripts/sandbox.sh env             print export lines for the tests' DSNs
#
# Both servers listen on 127.0.0.1 only, with row-based binlogs and GTID replication.
#
# JANITOR_SANDBOX_TLS_DIR=DIR (opt-in) makes a self-signed CA and a server certificate
# for 127.0.0.1/localhost in DIR (once) and starts the primary with TLS on; the replica
# stays without TLS, so tests see both kinds of server. `env` then also prints
# JANITOR_TEST_TLS_CA. Changing it needs `down` then `up`.
set -euo pipefail

DIR=${JANITOR_SANDBOX_DIR:-/var/tmp/janitor-sandbox}
PRIMARY_PORT=${JANITOR_PRIMARY_PORT:-23306}
REPLICA_PORT=${JANITOR_REPLICA_PORT:-23307}
PASSWORD=sandbox-secret
TLS_DIR=${JANITOR_SANDBOX_TLS_DIR:-}

die() { echo "sandbox: $*" >&2; exit 1; }

install_packages() {
	local missing=()
	command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
	command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
	command -v pt-online-schema-change >/dev/null 2>&1 || missing+=(percona-toolkit)
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]} (or install them yourself)"
	echo "sandbox: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
		|| die "apt-get install ${missing[*]} failed"
}

port_of() { [ "$1" = primary ] && echo "$PRIMARY_PORT" || echo "$REPLICA_PORT"; }
sock_of() { echo "$DIR/$1/mysqld.sock"; }
cli() { local who=$1; shift; mariadb --no-defaults -uroot -S "$(sock_of "$who")" "$@"; }

alive() { cli "$1" -Nse 'SELECT 1' >/dev/null 2>&1; }

write_cnf() {
	local who=$1 id=$2 extra=$3
	mkdir -p "$DIR/$who/data" "$DIR/$who/tmp"
	cat >"$DIR/$who/my.cnf" <<CNF
[mariadbd]
datadir=$DIR/$who/data
tmpdir=$DIR/$who/tmp
socket=$(sock_of "$who")
pid-file=$DIR/$who/mysqld.pid
log-error=$DIR/$who/error.log
port=$(port_of "$who")
bind-address=127.0.0.1
user=mysql
server-id=$id
log-bin=$DIR/$who/data/binlog
binlog_format=ROW
log_slave_updates=ON
gtid_strict_mode=ON
innodb_file_per_table=ON
innodb_buffer_pool_size=256M
innodb_log_file_size=128M
# No buffer-pool dump/load: it warms the pool in the background after a restart and
# would blur the benchmark's server-memory figures.
innodb_buffer_pool_dump_at_shutdown=OFF
innodb_buffer_pool_load_at_startup=OFF
# Off by default (MariaDB's default); JANITOR_SANDBOX_PFS=ON at "up" turns it on (MySQL's
# default), to test what janitor sees of a held table's reads with it.
performance_schema=${JANITOR_SANDBOX_PFS:-OFF}
skip-name-resolve
max_connections=300
table_open_cache=4000
table_definition_cache=2000
open_files_limit=20000
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
$extra
CNF
}

start_one() {
	local who=$1
	if alive "$who"; then return 0; fi
	# Only what mysql does not own yet: MariaDB reports an InnoDB table's CREATE_TIME
	# from its .frm file's ctime, so a blanket chown -R on every start would make every
	# table on the server look created just now.
	find "$DIR/$who" \( ! -user mysql -o ! -group mysql \) -exec chown mysql:mysql {} +
	if [ ! -d "$DIR/$who/data/mysql" ]; then
		mariadb-install-db --defaults-file="$DIR/$who/my.cnf" --auth-root-authentication-method=socket \
			--skip-test-db >"$DIR/$who/install.log" 2>&1 || die "mariadb-install-db for $who failed: see $DIR/$who/install.log"
	fi
	(setsid mariadbd --defaults-file="$DIR/$who/my.cnf" </dev/null >>"$DIR/$who/error.log" 2>&1 &)
	for _ in $(seq 1 300); do
		alive "$who" && return 0
		sleep 0.1
	done
	tail -20 "$DIR/$who/error.log" >&2
	die "$who did not start on port $(port_of "$who")"
}

# users are created with binary logging off, on each server, so that replication
# starts from an empty GTID history on both.
create_users() {
	local who=$1
	cli "$who" <<SQL
SET SESSION sql_log_bin = 0;
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
ALTER USER 'repl'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
SQL
}

setup_replication() {
	if [ -z "$(cli replica -e 'SHOW SLAVE STATUS')" ]; then
		cli replica -e "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PRIMARY_PORT, MASTER_USER='repl', \
			MASTER_PASSWORD='$PASSWORD', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
	fi
	cli replica -e "START SLAVE" 2>/dev/null || true
	for _ in $(seq 1 200); do
		local io sql
		io=$(cli replica -e "SHOW SLAVE STATUS\G" | awk '/Slave_IO_Running:/ {print $2}')
		sql=$(cli replica -e "SHOW SLAVE STATUS\G" | awk '/Slave_SQL_Running:/ {print $2}')
		[ "$io" = Yes ] && [ "$sql" = Yes ] && return 0
		sleep 0.1
	done
	cli replica -e "SHOW SLAVE STATUS\G" >&2
	die "replication did not start"
}

# tls_files makes the CA and the server's certificate and key in $TLS_DIR, once.
tls_files() {
	[ -f "$TLS_DIR/server-cert.pem" ] && return 0
	mkdir -p "$TLS_DIR"
	(
		cd "$TLS_DIR"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=janitor sandbox CA" \
			-keyout ca-key.pem -out ca.pem 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
			-extfile san.ext -out server-cert.pem 2>/dev/null
		rm -f server.csr san.ext
	) || die "openssl could not make the TLS files in $TLS_DIR"
	chown mysql:mysql "$TLS_DIR"/server-key.pem "$TLS_DIR"/server-cert.pem "$TLS_DIR"/ca.pem
	chmod 0600 "$TLS_DIR"/server-key.pem
}

up() {
	install_packages
	mkdir -p "$DIR"
	id mysql >/dev/null 2>&1 || die "no mysql user: is mariadb-server installed?"
	local primary_tls=""
	if [ -n "$TLS_DIR" ]; then
		tls_files
		primary_tls="ssl_ca=$TLS_DIR/ca.pem
ssl_cert=$TLS_DIR/server-cert.pem
ssl_key=$TLS_DIR/server-key.pem"
	fi
	write_cnf primary 1 "$primary_tls"
	write_cnf replica 2 "read_only=ON
relay-log=$DIR/replica/data/relay"
	start_one primary
	start_one replica
	create_users primary
	create_users replica
	setup_replication
}

stop_one() {
	local who=$1
	[ -f "$DIR/$who/mysqld.pid" ] || return 0
	local pid
	pid=$(cat "$DIR/$who/mysqld.pid" 2>/dev/null || true)
	if alive "$who"; then
		timeout 60 mariadb-admin --no-defaults -uroot -S "$(sock_of "$who")" shutdown >/dev/null 2>&1 || true
	fi
	if [ -n "$pid" ]; then
		for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$DIR/$who/mysqld.pid"
}

status() {
	for who in primary replica; do
		if alive "$who"; then
			echo "$who: up on 127.0.0.1:$(port_of "$who") ($(cli "$who" -Nse 'SELECT VERSION()'))"
		else
			echo "$who: down"
		fi
	done
	if alive replica; then
		cli replica -e "SHOW SLAVE STATUS\G" | grep -E "Slave_(IO|SQL)_Running:|Seconds_Behind_Master:|Last_(IO|SQL)_Error:" || true
	fi
}

case "${1:-}" in
up) up ;;
down)
	stop_one replica
	stop_one primary
	[ "${2:-}" = --purge ] && rm -rf "$DIR"
	true
	;;
restart)
	case "${2:-}" in primary | replica) ;; *) die "usage: sandbox.sh restart primary|replica" ;; esac
	stop_one "$2"
	start_one "$2"
	[ "$2" = replica ] && setup_replication
	true
	;;
status) status ;;
env)
	echo "export JANITOR_TEST_PRIMARY_DSN='root:$PASSWORD@tcp(127.0.0.1:$PRIMARY_PORT)/'"
	echo "export JANITOR_TEST_REPLICA_DSN='root:$PASSWORD@tcp(127.0.0.1:$REPLICA_PORT)/'"
	if [ -n "$TLS_DIR" ]; then echo "export JANITOR_TEST_TLS_CA='$TLS_DIR/ca.pem'"; fi
	;;
*) die "usage: sandbox.sh up|down [--purge]|restart primary|replica|status|env" ;;
esac
