package discovery

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/github/gh-ost/go/base"
)

// TestClassifyAgreesWithGhost uses gh-ost's own naming code as the oracle: every name
// gh-ost v1.1.6 generates must classify as gh-ost with the right role and base.
func TestClassifyAgreesWithGhost(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.Local)
	bases := []string{"orders", "a", "user_events", "order_items_v2", "x_del", "t_ghc_gho", "with space", "tab`tick",
		strings.Repeat("long", 15) + "x"}
	for _, tableName := range bases {
		for _, force := range []string{"", "forced"} {
			for _, stamped := range []bool{false, true} {
				mc := base.NewMigrationContext()
				mc.DatabaseName = "app"
				mc.OriginalTableName = tableName
				mc.ForceTmpTableName = force
				mc.TimestampOldTable = stamped
				mc.StartTime = start
				wantBase := tableName
				if force != "" {
					wantBase = force
				}
				for name, role := range map[string]Role{
					mc.GetGhostTableName():     RoleGhost,
					mc.GetChangelogTableName(): RoleChangelog,
					mc.GetOldTableName():       RoleOld,
				} {
					m := findTool(Classify(name), ToolGhost)
					if m == nil {
						t.Errorf("%q (from base %q): not classified as gh-ost; got %+v", name, tableName, Classify(name))
						continue
					}
					if m.Role != role {
						t.Errorf("%q: role %q, want %q", name, m.Role, role)
					}
					if len(name) < MaxNameLength && m.Base != wantBase {
						t.Errorf("%q: base %q, want %q", name, m.Base, wantBase)
					}
					if len(name) >= MaxNameLength && !strings.HasPrefix(wantBase, m.Base) {
						t.Errorf("%q: truncated base %q is not a prefix of %q", name, m.Base, wantBase)
					}
					if stamped && role == RoleOld {
						want := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
						if !m.Stamp.Equal(want) || m.StampZone != StampHostLocal {
							t.Errorf("%q: stamp %v zone %v, want %v host-local", name, m.Stamp, m.StampZone, want)
						}
					}
				}
			}
		}
	}
}

func findTool(ms []Match, tool Tool) *Match {
	for i := range ms {
		if ms[i].Tool == tool {
			return &ms[i]
		}
	}
	return nil
}

func TestClassify(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	type want struct {
		tool  Tool
		role  Role
		base  string
		stamp time.Time
	}
	cases := []struct {
		name string
		want []want
	}{
		{"orders", nil},
		{"_orders", nil},
		{"lhm", nil},
		{"order_new", nil}, // no leading underscore: an application table
		{"_orders_gho", []want{{ToolGhost, RoleGhost, "orders", time.Time{}}}},
		{"_orders_ghc", []want{{ToolGhost, RoleChangelog, "orders", time.Time{}}}},
		{"_orders_ghk", []want{{ToolGhost, RoleCheckpoint, "orders", time.Time{}}}},
		{"_orders_del", []want{{ToolGhost, RoleOld, "orders", time.Time{}}}},
		{"_orders_20240102030405_del", []want{{ToolGhost, RoleOld, "orders", utc("2024-01-02 03:04:05")}}},
		{"~orders_1700000000_gho", []want{{ToolBytebase, RoleGhost, "orders", time.Unix(1700000000, 0).UTC()}}},
		{"~orders_1700000000_del", []want{{ToolBytebase, RoleOld, "orders", time.Unix(1700000000, 0).UTC()}}},
		{"_orders_new", []want{{ToolPTOSC, RoleNew, "orders", time.Time{}}, {ToolSpirit, RoleNew, "orders", time.Time{}}}},
		{"__orders_old", []want{{ToolPTOSC, RoleOld, "orders", time.Time{}}, {ToolSpirit, RoleOld, "_orders", time.Time{}}}},
		{"lhmn_accounts", []want{{ToolLHM, RoleNew, "accounts", time.Time{}}}},
		{"lhma_2024_01_02_03_04_05_123_products", []want{{ToolLHM, RoleArchive, "products", utc("2024-01-02 03:04:05")}}},
		{"_users_chkpnt", []want{{ToolSpirit, RoleCheckpoint, "users", time.Time{}}}},
		{"_users_old_20240102_030405", []want{{ToolSpirit, RoleOld, "users", utc("2024-01-02 03:04:05")}}},
		{"_spirit_sentinel", []want{{ToolSpirit, RoleControl, "", time.Time{}}}},
		{"_vt_vrp_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", []want{{ToolVitess, RoleControl, "", time.Time{}}}},
		{"__osc_old_events", []want{{ToolFBOSC, RoleOld, "events", time.Time{}}}},
		{"__osc_chg_events", []want{{ToolFBOSC, RoleDelta, "events", time.Time{}}}},
		{"o!pageviews", []want{{ToolFBOSC, RoleOld, "pageviews", time.Time{}}}},
		{"n!pageviews", []want{{ToolFBOSC, RoleNew, "pageviews", time.Time{}}}},
		{"_vt_drp_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", []want{{ToolVitess, RoleDrop, "", utc("2020-09-15 12:04:10")}}},
		{"_vt_hld_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", []want{{ToolVitess, RoleHold, "", utc("2020-09-15 12:04:10")}}},
		{"_vt_PURGE_6ace8bcef73211ea87e9f875a4d24e90_20200915120410", []want{{ToolVitess, RolePurge, "", utc("2020-09-15 12:04:10")}}},
		{"_vt_drp_6ACE8bcef73211ea87e9f875a4d24e90_20200915120410_", nil}, // uppercase hex: not Vitess'
		{"#sql-ib1234-5678", []want{{ToolOrphan, RoleOrphan, "", time.Time{}}}},
		{"#sql-5c1d_2a", []want{{ToolOrphan, RoleOrphan, "", time.Time{}}}},
		{"#sql2-5c1d-2a", []want{{ToolOrphan, RoleOrphan, "", time.Time{}}}},
		{"#sql-alter-5c1d-2a", []want{{ToolOrphan, RoleOrphan, "", time.Time{}}}},
		{"lhma_2024_13_02_03_04_05_123_products", nil}, // month 13: not a time, not LHM's
	}
	for _, c := range cases {
		got := Classify(c.name)
		if len(got) != len(c.want) {
			t.Errorf("Classify(%q) = %+v, want %d readings", c.name, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			g := got[i]
			if g.Tool != w.tool || g.Role != w.role || g.Base != w.base || !g.Stamp.Equal(w.stamp) {
				t.Errorf("Classify(%q)[%d] = %s/%s base %q stamp %v, want %s/%s base %q stamp %v",
					c.name, i, g.Tool, g.Role, g.Base, g.Stamp, w.tool, w.role, w.base, w.stamp)
			}
		}
	}
}

// likeAny evaluates the simple LIKE patterns used in NamePrefixes.
func likeAny(s string, patterns []string) bool {
	for _, p := range patterns {
		p = strings.TrimSuffix(p, "%")
		if strings.HasPrefix(p, `\_`) {
			if strings.HasPrefix(s, "_") {
				return true
			}
			continue
		}
		if len(p) == 2 && p[0] == '_' {
			if len(s) >= 2 && s[1] == p[1] {
				return true
			}
			continue
		}
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TestFilenameEncoding pins encodings measured on MariaDB 10.11 (file names of tables
// created there); TestFilenameEncodingMatchesServer checks every character on a server.
func TestFilenameEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"orders": "orders", "we`ird name": "we@0060ird@0020name", "~orders_1_gho": "@007eorders_1_gho", "a-b": "a@002db",
		"_café_old": "_caf@0p_old", "über": "@1ober", "straße": "stra@1je", "Äpfel": "@0Kpfel", "Ω": "@7P", "Ж": "@M0",
		"中": "@4e2d", "a.b@c#d%e/f\\g:h$i": "a@002eb@0040c@0023d@0025e@002ff@005cg@003ah@0024i", "Ⅰ": "@G9",
	} {
		got, ok := EncodeFilename(in)
		if !ok || got != want {
			t.Errorf("EncodeFilename(%q) = %q, %v, want %q", in, got, ok, want)
		}
		if got, ok := DecodeFilename(want); !ok || got != in {
			t.Errorf("DecodeFilename(%q) = %q, %v, want %q", want, got, ok, in)
		}
	}
	// What the server's encoding cannot hold exactly is refused, not guessed.
	for _, in := range []string{"emoji😀", "nul\x00", "#mysql50#old", "bad\xff"} {
		if got, ok := EncodeFilename(in); ok {
			t.Errorf("EncodeFilename(%q) = %q, want refused", in, got)
		}
	}
	// Upper-case hex, a cut sequence and the server's NUL do not decode.
	for _, in := range []string{"a@00E9", "a@00e", "a@", "a@@@", "a b"} {
		if got, ok := DecodeFilename(in); ok {
			t.Errorf("DecodeFilename(%q) = %q, want refused", in, got)
		}
	}
}

// TestSpiritLockNames pins the names to Spirit's computeLockName (pkg/dbconn): the
// expected values were computed from its format with SHA-1 by hand.
func TestSpiritLockNames(t *testing.T) {
	got := SpiritLocks("app", "users")
	if got[0] != "app.users-4ae74a78" { // hashlib.sha1(b"appusers").hexdigest()[:8]
		t.Errorf("per-table lock %q", got[0])
	}
	if !strings.HasPrefix(got[1], "app.atomic-multi-table-") || len(got[1]) != len("app.atomic-multi-table-")+8 {
		t.Errorf("multi-table lock %q", got[1])
	}
	long := SpiritLocks(strings.Repeat("s", 30), strings.Repeat("t", 60))
	if !strings.HasPrefix(long[0], strings.Repeat("s", 20)+"."+strings.Repeat("t", 32)+"-") {
		t.Errorf("long names are cut: %q", long[0])
	}
	if long[0] != strings.Repeat("s", 20)+"."+strings.Repeat("t", 32)+"-"+sha1hex(strings.Repeat("s", 30)+strings.Repeat("t", 56)) {
		t.Errorf("the hash covers the schema and the table cut to 56: %q", long[0])
	}
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

func TestFlavorOf(t *testing.T) {
	for _, c := range []struct {
		version, comment string
		want             Flavor
	}{
		{"10.11.19-MariaDB-0+deb12u1-log", "Debian 12", FlavorMariaDB},
		{"5.5.5-10.6.12-MariaDB", "MariaDB Server", FlavorMariaDB},
		{"5.7.12", "MySQL Community Server (GPL)", FlavorMySQL57},
		{"5.7.12-log", "Source distribution", FlavorMySQL57}, // Aurora MySQL 2
		{"8.0.36", "MySQL Community Server - GPL", FlavorMySQL8},
		{"8.4.3", "MySQL Community Server - GPL", FlavorMySQL8},
	} {
		if got := FlavorOf(c.version, c.comment); got != c.want {
			t.Errorf("FlavorOf(%q, %q) = %s, want %s", c.version, c.comment, got, c.want)
		}
	}
}

func TestMentions(t *testing.T) {
	cases := []struct {
		body, schema, table string
		same, qualified     bool
	}{
		{"INSERT INTO `_orders_old` VALUES (1)", "shop", "_orders_old", true, false},
		{"INSERT INTO _orders_old VALUES (1)", "shop", "_orders_old", true, false},
		{"INSERT INTO _orders_old_2 VALUES (1)", "shop", "_orders_old", false, false},
		{"INSERT INTO shop._orders_old VALUES (1)", "shop", "_orders_old", true, true},
		{"INSERT INTO `shop`.`_orders_old` VALUES (1)", "shop", "_orders_old", true, true},
		{"INSERT INTO `shop` . _orders_old VALUES (1)", "shop", "_orders_old", true, true},
		{"INSERT INTO myshop._orders_old VALUES (1)", "shop", "_orders_old", true, false},
		{"INSERT INTO `we``ird` VALUES (1)", "s", "we`ird", true, false},
		// Unquoted non-ASCII names, ANSI_QUOTES, comments around the dot (a review).
		{"INSERT INTO _café_old VALUES (1)", "shop", "_café_old", true, false},
		{"INSERT INTO _café_old_2 VALUES (1)", "shop", "_café_old", false, false},
		{"INSERT INTO boutique._café_old VALUES (1)", "boutique", "_café_old", true, true},
		{`INSERT INTO "app"."_orders_new" VALUES (1)`, "app", "_orders_new", true, true},
		{"INSERT INTO app/**/._orders_new VALUES (1)", "app", "_orders_new", true, true},
		{"INSERT INTO app /* x */ . /* y */ `_orders_new` VALUES (1)", "app", "_orders_new", true, true},
		{"INSERT INTO xapp._orders_new VALUES (1)", "app", "_orders_new", true, false},
	}
	for _, c := range cases {
		if got := mentions(c.body, c.schema, c.table); got != c.same {
			t.Errorf("mentions(%q, %s) = %v", c.body, c.table, got)
		}
		if got := mentionsQualified(c.body, c.schema, c.table); got != c.qualified {
			t.Errorf("mentionsQualified(%q, %s.%s) = %v", c.body, c.schema, c.table, got)
		}
		if got := Mentions(c.body, c.schema, c.table); got != (c.same || c.qualified) {
			t.Errorf("Mentions(%q, %s.%s) = %v", c.body, c.schema, c.table, got)
		}
	}
}

func TestCandidatesOf(t *testing.T) {
	sizes := map[string]tablespaceSize{"shop/_orders_old": {}, "shop/we@0023ird_old": {}, "shop/t": {}, "shop/t#p#x": {}}
	for _, c := range []struct {
		row, sep string
		want     []string
	}{
		{"shop/_orders_old", "#P#", []string{"shop/_orders_old"}},
		{"shop/_orders_old#P#p0", "#P#", []string{"shop/_orders_old"}},        // MariaDB, MySQL 5.7
		{"shop/_orders_old#p#p0", "#p#", []string{"shop/_orders_old"}},        // MySQL 8
		{"shop/_orders_old#p#p1#sp#sp0", "#p#", []string{"shop/_orders_old"}}, // MySQL 8 subpartition
		{"shop/we@0023ird_old#P#p2", "#P#", []string{"shop/we@0023ird_old"}},  // an encoded '#' is not a separator
		// MySQL 8 spells names plain: a table named t#p#x, or partition x of t.
		{"shop/t#p#x", "#p#", []string{"shop/t#p#x", "shop/t"}},
		{"shop/other#p#p0", "#p#", nil},
	} {
		if got := candidatesOf(c.row, c.sep, sizes); !slices.Equal(got, c.want) {
			t.Errorf("candidatesOf(%q) = %q, want %q", c.row, got, c.want)
		}
	}
}

func TestCleansOrphans(t *testing.T) {
	for _, c := range []struct {
		flavor  Flavor
		version string
		want    bool
	}{
		{FlavorMariaDB, "10.5.23-MariaDB", false},
		{FlavorMariaDB, "10.6.0-MariaDB", true},
		{FlavorMariaDB, "10.11.19-MariaDB-0+deb12u1-log", true},
		{FlavorMariaDB, "11.4.2-MariaDB", true},
		{FlavorMySQL57, "5.7.44-log", false},
		{FlavorMySQL8, "8.0.36", true},
	} {
		if got := (Server{Flavor: c.flavor, Version: c.version}).CleansOrphans(); got != c.want {
			t.Errorf("%s %s: CleansOrphans = %v, want %v", c.flavor, c.version, got, c.want)
		}
	}
}

func TestDDLDetection(t *testing.T) {
	for info, want := range map[string]bool{
		"ALTER TABLE t FORCE": true,
		"SET STATEMENT lock_wait_timeout=5 FOR ALTER TABLE big FORCE": true,
		"-- migration 42\nALTER TABLE t ADD c INT":                    true,
		"# x\nalter table t engine=InnoDB":                            true,
		"/* " + strings.Repeat("x", 300) + " */ OPTIMIZE TABLE t":     true,
		"CREATE UNIQUE INDEX i ON t (c)":                              true,
		"SELECT * FROM alter_log":                                     false,
		"INSERT INTO t VALUES (1)":                                    false,
	} {
		if got := ddlStatement.MatchString(info); got != want {
			t.Errorf("%q: DDL = %v, want %v", info, got, want)
		}
	}
}

// TestPtoscTriggerNames pins the names to pt-online-schema-change's own construction
// ('pt_osc_' . db . '_' . tbl, s/\W/_/g, cut to 60).
func TestPtoscTriggerNames(t *testing.T) {
	for _, c := range []struct {
		schema, base, trigger string
		want                  bool
	}{
		{"shop", "orders", "pt_osc_shop_orders_ins", true},
		{"shop", "orders", "pt_osc_shop_orders_upd", true},
		{"shop", "orders", "pt_osc_shop_orders_x", false},
		{"my-app", "orders", "pt_osc_my_app_orders_del", true},
		{"shop", "order items", "pt_osc_shop_order_items_ins", true},
		{"boutique", "café", "pt_osc_boutique_caf___ins", true}, // é as two bytes, each made _
		{"boutique", "café", "pt_osc_boutique_café_ins", true},  // é as a word character
		{"app", "परीक्षा", "pt_osc_app_परीक्षा_ins", true},      // combining marks are \w to Perl
		{strings.Repeat("s", 30), strings.Repeat("t", 40), "pt_osc_" + strings.Repeat("s", 30) + "_" + strings.Repeat("t", 22) + "_ins", true},
	} {
		if got := ptoscTrigger(c.schema, c.base).MatchString(c.trigger); got != c.want {
			t.Errorf("%s.%s: %q matched %v, want %v", c.schema, c.base, c.trigger, got, c.want)
		}
	}
}
