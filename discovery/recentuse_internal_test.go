package discovery

import (
	"testing"
	"time"
)

// TestDigestIdents: a digest quotes every identifier; a qualified name is `s` . `t`, and
// a backtick inside a name is doubled.
func TestDigestIdents(t *testing.T) {
	got := digestIdents("SELECT `id` FROM `shop` . `_orders_old` JOIN `we``ird` . `t` ON `t` . `x` = ?")
	want := []ident{{"id", ""}, {"shop", ""}, {"_orders_old", "shop"}, {"we`ird", ""}, {"t", "we`ird"}, {"t", ""}, {"x", "t"}}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestReadsData: definitions, maintenance, metadata reads, janitor's renames to hold
// names and its own heartbeat read are no use of a table's data; CREATE … SELECT is.
func TestReadsData(t *testing.T) {
	for digest, want := range map[string]bool{
		"SELECT * FROM `s` . `_t_old` WHERE `id` = ?": true,
		"INSERT INTO `_t_old` VALUES (?)":             true,
		"CALL `p` ( )":                                true,
		"RENAME TABLE `s` . `_t_old` TO `s` . `_janitor_hold_0123456789abcdef_20261207000000_`": false,
		"ALTER TABLE `s` . `_t_old` COMMENT = ? , ALGORITHM = INSTANT":                          false,
		"CREATE TABLE `_t_new` LIKE `t`":                                                        false,
		"CREATE TABLE `x` AS SELECT * FROM `_t_old`":                                            true,
		"SHOW CREATE TABLE `_t_old`":                                                            false,
		"SELECT `TIMESTAMPDIFF` ( MICROSECOND , MAX ( `last_update` ) , NOW ( ? ) ) / ? FROM `s` . `_t_ghc` WHERE `hint` = ?": false,
		"SELECT TIMESTAMPDIFF ( MICROSECOND , MAX ( `last_update` ) , NOW ( ? ) ) / ? FROM `s` . `_t_ghc` WHERE `hint` = ?":   false,
		"CREATE TABLE `app_select_log` . `x` LIKE `_t_old`":                                                                   false,
		// janitor's purge, as MySQL 9.7 and MariaDB 10.11 digest it (janitor/purge.go),
		// and statements of the same shape without its alias, an application's.
		"SELECT ? AS `janitor_purge` FROM `s` . `__t_old` LIMIT ?":                        false,
		"DELETE FROM `s` . `__t_old` WHERE ( SELECT ? AS `janitor_purge` ) LIMIT ?":       false,
		"DELETE FROM `__t_old` WHERE ( SELECT ? AS `janitor_purge` ) LIMIT ?":             false,
		"DELETE FROM `s` . `__t_old` WHERE ( SELECT ? AS `janitor_purge` ) AND ? LIMIT ?": true,
		"SELECT ? FROM `s` . `__t_old` LIMIT ?":                                           true,
		"DELETE FROM `s` . `__t_old` LIMIT ?":                                             true,
		"DELETE FROM `__t_old` LIMIT ?":                                                   true,
		"SELECT ? FROM `s` . `__t_old` WHERE `id` = ? LIMIT ?":                            true,
		"DELETE FROM `s` . `__t_old` WHERE `id` < ? LIMIT ?":                              true,
		"SELECT `v` FROM `s` . `__t_old` LIMIT ?":                                         true,
		"SELECT ? FROM `s` . `__t_old` JOIN `s` . `t` LIMIT ?":                            true,
	} {
		if got := readsData(digest); got != want {
			t.Errorf("readsData(%q) = %t, want %t", digest, got, want)
		}
	}
}

// TestAsksFor: during a hold, a data statement naming the original name asks for the
// table whenever it ran since the hold began; a definition, maintenance or metadata
// statement only when it failed since (a tool's succeeds on a name it created again);
// a DROP, or a change of the comment alone (janitor's own hold record), never.
func TestAsksFor(t *testing.T) {
	since := time.Date(2026, 12, 8, 1, 0, 10, 500_000_000, time.UTC)
	after := since.Add(time.Minute)
	for _, tc := range []struct {
		text   string
		errors int64
		want   bool
	}{
		{"SELECT ? FROM `s` . `_t_old` LIMIT ?", 0, true},
		{"DELETE FROM `s` . `_t_old` LIMIT ?", 1, true},
		{"SHOW FULL FIELDS FROM `s` . `_t_old`", 1, true},
		{"SHOW FULL FIELDS FROM `s` . `_t_old`", 0, false},
		{"TRUNCATE TABLE `s` . `_t_old`", 1, true},
		{"RENAME TABLE `s` . `_t_old` TO `s` . `_t_2026_11`", 1, true},
		{"RENAME TABLE `s` . `t` TO `s` . `_t_old` , `s` . `_t_new` TO `s` . `t`", 0, false},
		{"CREATE TABLE `s` . `_t_old` LIKE `s` . `t`", 0, false},
		{"DROP TABLE `s` . `_t_old`", 1, false},
		{"ALTER TABLE `s` . `_t_old` COMMENT = ? , ALGORITHM = INSTANT", 1, false},
		{"ALTER TABLE `s` . `_t_old` COMMENT = ? , ALGORITHM = `INPLACE` , LOCK = NONE", 1, false},
		{"ALTER TABLE `s` . `_t_old` ADD COLUMN `c` INT", 1, true},
	} {
		d := digestRow{text: tc.text, errors: tc.errors, count: 1, last: after}
		if got := d.asksFor(since); got != tc.want {
			t.Errorf("asksFor(%q, %d errors) = %t, want %t", tc.text, tc.errors, got, tc.want)
		}
		d.last = since.Add(-time.Minute)
		if d.asksFor(since) {
			t.Errorf("asksFor(%q) before the hold = true", tc.text)
		}
	}
}

// TestMissingTable reads the table out of error 1146's message.
func TestMissingTable(t *testing.T) {
	if n, ok := missingTable("Table 'shop._orders_old' doesn't exist"); !ok || n != "shop._orders_old" {
		t.Errorf("%q %t", n, ok)
	}
	if _, ok := missingTable("Unknown column 'x'"); ok {
		t.Error("matched another error")
	}
}

// TestErrGateQuietSince: the error summary's gate skips the scan only when its row was
// read and shows no 1146 after since, a second's margin included (both sources keep
// whole seconds); a gate not read, or not found, never does.
func TestErrGateQuietSince(t *testing.T) {
	since := time.Date(2026, 12, 8, 1, 0, 10, 500_000_000, time.UTC)
	for _, tc := range []struct {
		name string
		g    errGate
		want bool
	}{
		{"not read", errGate{}, false},
		{"read, no row", errGate{read: true}, false},
		{"none raised", errGate{read: true, ok: true}, true},
		{"raised long before", errGate{read: true, ok: true, raised: 3, last: since.Add(-time.Minute)}, true},
		{"raised a second before", errGate{read: true, ok: true, raised: 3, last: since.Add(-time.Second)}, true},
		{"raised in the same second", errGate{read: true, ok: true, raised: 3, last: since.Truncate(time.Second)}, false},
		{"raised after", errGate{read: true, ok: true, raised: 3, last: since.Add(time.Second)}, false},
	} {
		if got := tc.g.quietSince(since); got != tc.want {
			t.Errorf("%s: quietSince %t, want %t", tc.name, got, tc.want)
		}
	}
}
