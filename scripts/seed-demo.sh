#!/usr/bin/env bash
# seed-demo.sh — a realistic demo shard on the sandbox primary: four application schemas
# with data, and leftovers of every tool janitor knows, each built as that tool builds it.
# pt-online-schema-change runs for real; gh-ost's tables are created with the DDL of
# gh-ost v1.1.6's applier (gh-ost does not run on MariaDB). Idempotent: it rebuilds the demo
# schemas from scratch on every run.
#
#   scripts/seed-demo.sh [--flavor mariadb|mariadb-11.8|mysql]   (default: as scripts/sandbox.sh)
#
# On MySQL, which has no Sequence engine, the seq_1_to_N tables the SQL below reads from
# are real tables in a scratch schema, dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/sandbox.sh env "$@")"
FLAVOR=$JANITOR_TEST_FLAVOR
port_of() { local d=${1##*:}; echo "${d%%)*}"; } # the port of a tcp(127.0.0.1:P)/ DSN
PORT=$(port_of "$JANITOR_TEST_PRIMARY_DSN")
RPORT=$(port_of "$JANITOR_TEST_REPLICA_DSN")
sql() { mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uroot -psandbox-secret "$@"; }
rsql() { mariadb --no-defaults -h127.0.0.1 -P"$RPORT" -uroot -psandbox-secret "$@"; }
sql -e 'SELECT 1' >/dev/null 2>&1 || { echo "seed-demo: the sandbox primary ($FLAVOR, port $PORT) is not running: scripts/sandbox.sh up --flavor $FLAVOR" >&2; exit 1; }
if [ "$FLAVOR" = mysql ]; then
	# sql reads stdin, rewrites every SCHEMA.seq_1_to_N to demo_seq.seq_1_to_N and fills
	# those tables first.
	sql() {
		local in sizes
		if [ -t 0 ] || [ $# -gt 0 ]; then mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uroot -psandbox-secret "$@"; return; fi
		in=$(sed -E 's/\b[a-z_]+\.seq_1_to_([0-9]+)/demo_seq.seq_1_to_\1/g')
		sizes=$(grep -oE 'demo_seq\.seq_1_to_[0-9]+' <<<"$in" | sed 's/.*_//' | sort -u || true)
		for n in $sizes; do
			mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uroot -psandbox-secret -e "CREATE DATABASE IF NOT EXISTS demo_seq;
				CREATE TABLE IF NOT EXISTS demo_seq.seq_1_to_$n (seq INT PRIMARY KEY);
				SET SESSION cte_max_recursion_depth = $n;
				INSERT IGNORE INTO demo_seq.seq_1_to_$n WITH RECURSIVE c (seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM c WHERE seq < $n) SELECT seq FROM c"
		done
		mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uroot -psandbox-secret <<<"$in"
	}
fi

# UTC time stamps, as the tools write them.
past_gh=$(date -u -d '-5 days' +%Y%m%d%H%M%S)         # gh-ost --timestamp-old-table (host local time)
past_lhm=$(date -u -d '-9 days' +%Y_%m_%d_%H_%M_%S)   # LHM archive (host local time)
past_spirit=$(date -u -d '-3 days' +%Y%m%d_%H%M%S)    # Spirit old table (UTC)
past_unix=$(date -u -d '-4 days' +%s)                 # Bytebase (Unix seconds)
vt_due=$(date -u -d '-2 days' +%Y%m%d%H%M%S)          # Vitess: due two days ago
vt_later=$(date -u -d '+3 days' +%Y%m%d%H%M%S)        # Vitess: due in three days
vt_purge=$(date -u -d '-1 days' +%Y%m%d%H%M%S)

changelog() { # gh-ost v1.1.6 Applier.CreateChangelogTable
	echo "create /* gh-ost */ table \`$1\`.\`$2\` (
		id bigint unsigned auto_increment,
		last_update timestamp not null DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
		hint varchar(64) charset ascii not null,
		value varchar(4096) charset ascii not null,
		primary key(id),
		unique key hint_uidx(hint)
	) auto_increment=256 comment='gh-ost changelog';"
}

sql <<SQL
DROP DATABASE IF EXISTS shop; DROP DATABASE IF EXISTS billing; DROP DATABASE IF EXISTS analytics; DROP DATABASE IF EXISTS crm;
CREATE DATABASE shop; CREATE DATABASE billing; CREATE DATABASE analytics; CREATE DATABASE crm;

-- Application tables, with enough rows that sizes mean something.
CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), note VARCHAR(200), KEY (customer_id));
INSERT INTO shop.orders SELECT seq, seq % 5000, seq / 7, REPEAT('o', 150) FROM shop.seq_1_to_60000;
CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(100));
INSERT INTO shop.customers SELECT seq, CONCAT('customer ', seq) FROM shop.seq_1_to_5000;
CREATE TABLE shop.products (id INT PRIMARY KEY, title VARCHAR(200), body TEXT);
INSERT INTO shop.products SELECT seq, CONCAT('product ', seq), REPEAT('p', 400) FROM shop.seq_1_to_20000;
CREATE TABLE shop.items (id BIGINT PRIMARY KEY, order_id BIGINT, sku VARCHAR(40));
INSERT INTO shop.items SELECT seq, seq % 60000, CONCAT('sku-', seq) FROM shop.seq_1_to_40000;
CREATE TABLE shop.\`we\`\`ird name\` (id INT PRIMARY KEY);
CREATE TABLE billing.invoices (id BIGINT PRIMARY KEY, amount DECIMAL(10,2), memo VARCHAR(200));
INSERT INTO billing.invoices SELECT seq, seq / 3, REPEAT('i', 120) FROM billing.seq_1_to_30000;
CREATE TABLE billing.payments (id BIGINT PRIMARY KEY, invoice_id BIGINT, amount DECIMAL(10,2));
INSERT INTO billing.payments SELECT seq, seq, seq / 3 FROM billing.seq_1_to_30000;
CREATE TABLE analytics.events (id BIGINT PRIMARY KEY, kind VARCHAR(20), payload VARCHAR(300));
INSERT INTO analytics.events SELECT seq, 'click', REPEAT('e', 250) FROM analytics.seq_1_to_50000;
CREATE TABLE analytics.pageviews (id BIGINT PRIMARY KEY, url VARCHAR(200));
INSERT INTO analytics.pageviews SELECT seq, CONCAT('/page/', seq) FROM analytics.seq_1_to_30000;
CREATE TABLE crm.accounts (id INT PRIMARY KEY, name VARCHAR(100));
INSERT INTO crm.accounts SELECT seq, CONCAT('account ', seq) FROM crm.seq_1_to_10000;
CREATE TABLE crm.users (id INT PRIMARY KEY, email VARCHAR(100));
INSERT INTO crm.users SELECT seq, CONCAT('u', seq, '@example.com') FROM crm.seq_1_to_20000;
CREATE TABLE crm.sessions (id BIGINT PRIMARY KEY, user_id INT);
INSERT INTO crm.sessions SELECT seq, seq % 20000 FROM crm.seq_1_to_20000;
SQL

# --- pt-online-schema-change, for real -------------------------------------------------
pt() { # pt ALTER TABLE [options]: runs pt-online-schema-change on schema.table, quiet unless it fails
	local alter=$1 db=$2 table=$3 log
	shift 3
	log=$(mktemp)
	if ! pt-online-schema-change --execute --recursion-method=none --set-vars lock_wait_timeout=5 \
		--no-check-replication-filters --alter "$alter" "$@" "h=127.0.0.1,P=$PORT,u=root,p=sandbox-secret,D=$db,t=$table" >"$log" 2>&1; then
		cat "$log" >&2
		echo "seed-demo: pt-online-schema-change on $db.$table failed" >&2
		exit 1
	fi
	rm -f "$log"
}
# A finished run that kept the old table: shop._orders_old.
pt "ADD COLUMN gift BOOL NOT NULL DEFAULT 0" shop orders --no-drop-old-table
# A run that stopped after the copy and left its triggers, as a killed pt-osc does:
# billing._invoices_new, fed by pt_osc_billing_invoices_{ins,upd,del} on billing.invoices.
pt "ADD COLUMN paid_at DATETIME" billing invoices --no-swap-tables --no-drop-new-table --no-drop-triggers

sql <<SQL
-- --- gh-ost (v1.1.6 DDL) --------------------------------------------------------------
-- A dead migration on shop.items: ghost and changelog, heartbeat stopped 3 days ago.
CREATE /* gh-ost */ TABLE shop._items_gho LIKE shop.items;
INSERT INTO shop._items_gho SELECT * FROM shop.items WHERE id <= 30000;
$(changelog shop _items_ghc)
INSERT INTO shop._items_ghc (id, last_update, hint, value) VALUES
  (1, NOW() - INTERVAL 3 DAY, 'heartbeat', DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 3 DAY, '%Y-%m-%dT%H:%i:%sZ')),
  (2, NOW() - INTERVAL 3 DAY, 'state', 'Migrating');
-- A live migration on crm.users: the heartbeat is fresh (a running gh-ost refreshes it
-- every 100 ms; this one stays "live" for policy.heartbeat_stale_after after seeding).
CREATE /* gh-ost */ TABLE crm._users_gho LIKE crm.users;
$(changelog crm _users_ghc)
INSERT INTO crm._users_ghc (id, hint, value) VALUES (1, 'heartbeat', DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%sZ')), (2, 'state', 'Migrating');
-- Old tables after cut-over: one plain, one with --timestamp-old-table.
CREATE TABLE shop._products_del LIKE shop.products;
CREATE TABLE shop._products_${past_gh}_del LIKE shop.products;
INSERT INTO shop._products_${past_gh}_del SELECT * FROM shop.products;
-- The cut-over sentry exists only while a cut-over runs.
CREATE /* gh-ost */ TABLE analytics._events_del (id int auto_increment primary key) engine=InnoDB comment='ghost-cut-over-sentry';

-- --- Bytebase's gh-ost fork -----------------------------------------------------------
CREATE TABLE shop.\`~orders_${past_unix}_gho\` LIKE shop.orders;
INSERT INTO shop.\`~orders_${past_unix}_gho\` SELECT *, 0 FROM shop.\`_orders_old\` WHERE id <= 20000;
$(changelog shop "~orders_${past_unix}_ghc")
INSERT INTO shop.\`~orders_${past_unix}_ghc\` (id, last_update, hint, value) VALUES (1, NOW() - INTERVAL 4 DAY, 'heartbeat', 'x');
CREATE TABLE shop.\`~customers_${past_unix}_del\` LIKE shop.customers;

-- --- LHM ------------------------------------------------------------------------------
CREATE TABLE shop.lhma_${past_lhm}_000_products LIKE shop.products;
INSERT INTO shop.lhma_${past_lhm}_000_products SELECT * FROM shop.products;
-- A live LHM copy: its triggers on crm.accounts write into lhmn_accounts.
CREATE TABLE crm.lhmn_accounts LIKE crm.accounts;
CREATE TRIGGER crm.lhmt_ins_accounts AFTER INSERT ON crm.accounts FOR EACH ROW REPLACE INTO crm.lhmn_accounts (id, name) VALUES (NEW.id, NEW.name);
CREATE TRIGGER crm.lhmt_upd_accounts AFTER UPDATE ON crm.accounts FOR EACH ROW REPLACE INTO crm.lhmn_accounts (id, name) VALUES (NEW.id, NEW.name);
CREATE TRIGGER crm.lhmt_del_accounts AFTER DELETE ON crm.accounts FOR EACH ROW DELETE IGNORE FROM crm.lhmn_accounts WHERE crm.lhmn_accounts.id = OLD.id;

-- --- Spirit ---------------------------------------------------------------------------
CREATE TABLE crm._spirit_sentinel (id INT NOT NULL PRIMARY KEY);
CREATE TABLE crm._users_old_${past_spirit} LIKE crm.users;
INSERT INTO crm._users_old_${past_spirit} SELECT * FROM crm.users;
-- Fits both pt-osc and Spirit, and nothing tells which: ambiguous.
CREATE TABLE crm._sessions_old LIKE crm.sessions;
INSERT INTO crm._sessions_old SELECT * FROM crm.sessions;

-- --- Facebook OSC ---------------------------------------------------------------------
CREATE TABLE analytics.__osc_old_events LIKE analytics.events;
INSERT INTO analytics.__osc_old_events SELECT * FROM analytics.events;
CREATE TABLE analytics.\`o!pageviews\` LIKE analytics.pageviews;
INSERT INTO analytics.\`o!pageviews\` SELECT * FROM analytics.pageviews;

-- --- Vitess table GC ------------------------------------------------------------------
CREATE TABLE analytics._vt_drp_6ace8bcef73211ea87e9f875a4d24e90_${vt_due}_ LIKE analytics.events;
INSERT INTO analytics._vt_drp_6ace8bcef73211ea87e9f875a4d24e90_${vt_due}_ SELECT * FROM analytics.events WHERE id <= 25000;
CREATE TABLE analytics._vt_hld_7bce8bcef73211ea87e9f875a4d24e91_${vt_later}_ LIKE analytics.pageviews;
CREATE TABLE analytics._vt_PURGE_8cce8bcef73211ea87e9f875a4d24e92_${vt_purge} LIKE analytics.pageviews;

-- --- openark oak-online-alter-table (openarkkit 041f03b9, as the tool builds them) -------
-- Killed mid-copy on billing.payments: its ghost, fed by its three AFTER triggers.
CREATE TABLE billing.__oak_payments LIKE billing.payments;
ALTER TABLE billing.__oak_payments ADD COLUMN note VARCHAR(64) DEFAULT '';
CREATE TRIGGER billing.payments_AD_oak AFTER DELETE ON billing.payments
FOR EACH ROW
    DELETE FROM billing.__oak_payments WHERE (id) = (OLD.id);
DELIMITER ;;
CREATE TRIGGER billing.payments_AU_oak AFTER UPDATE ON billing.payments
FOR EACH ROW
BEGIN
    DELETE FROM billing.__oak_payments WHERE (id) = (OLD.id);
    REPLACE INTO billing.__oak_payments (\`id\`, \`invoice_id\`, \`amount\`) VALUES (NEW.\`id\`, NEW.\`invoice_id\`, NEW.\`amount\`);
END;;
DELIMITER ;
CREATE TRIGGER billing.payments_AI_oak AFTER INSERT ON billing.payments
FOR EACH ROW
    REPLACE INTO billing.__oak_payments (\`id\`, \`invoice_id\`, \`amount\`) VALUES (NEW.\`id\`, NEW.\`invoice_id\`, NEW.\`amount\`);
INSERT IGNORE INTO billing.__oak_payments (\`id\`, \`invoice_id\`, \`amount\`) (SELECT \`id\`, \`invoice_id\`, \`amount\` FROM billing.payments FORCE INDEX (PRIMARY) WHERE (id >= 1) AND (id <= 10000) LOCK IN SHARE MODE);
-- Killed before its triggers: a bare ghost of shop.customers.
CREATE TABLE shop.__oak_customers LIKE shop.customers;

-- --- Traps: look-alikes and leftovers something still uses ------------------------------
-- An application table whose name looks like a leftover; its "base" does not exist.
CREATE TABLE shop._audit_new (id INT PRIMARY KEY, what VARCHAR(100));
-- An old copy a report still reads through a view.
CREATE TABLE shop.__orders_archive_old LIKE shop.customers;
CREATE TABLE shop.orders_archive (id INT PRIMARY KEY);
CREATE VIEW shop.v_old_orders AS SELECT id, name FROM shop.__orders_archive_old;
-- An old copy a child table was re-pointed at after the rename.
CREATE TABLE shop.__customers_old LIKE shop.customers;
CREATE TABLE shop.customer_notes (id INT PRIMARY KEY, customer_id INT, FOREIGN KEY (customer_id) REFERENCES shop.__customers_old (id));
-- A hostile name.
CREATE TABLE shop.\`__we\`\`ird name_old\` (id INT PRIMARY KEY);
SQL

[ "$FLAVOR" != mysql ] || sql -e 'DROP DATABASE IF EXISTS demo_seq'
# Wait for the replica to apply all of it.
if [ "$FLAVOR" = mysql ]; then
	pos=$(sql -Nse 'SELECT @@gtid_executed' | tr -d '\n')
	r=$(rsql -Nse "SELECT WAIT_FOR_EXECUTED_GTID_SET('$pos', 120)")
else
	pos=$(sql -Nse 'SELECT @@gtid_binlog_pos')
	r=$(rsql -Nse "SELECT MASTER_GTID_WAIT('$pos', 120)")
fi
[ "$r" = 0 ] || { echo "seed-demo: the replica did not catch up with $pos" >&2; exit 1; }
# UPDATE_TIME is kept in memory only: restart the primary so the leftovers look as
# they would in production, untouched for longer than the server has been up (the
# seeding just wrote them all, and janitor treats a recent write as a sign of life).
scripts/sandbox.sh restart --flavor "$FLAVOR" primary
echo "seed-demo: schemas shop, billing, analytics, crm; $(sql -Nse "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('shop','billing','analytics','crm')") tables" >&2
