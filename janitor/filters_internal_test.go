package janitor

import (
	"strings"
	"testing"

	"github.com/janitorhq/janitor/discovery"
)

func TestWildMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{`shop.%`, "shop.orders", true},
		{`shop.%`, "shopx.orders", false},
		{`shop.\_\_%`, "shop.__orders_old", true},
		{`shop.\_\_%`, "shop._janitor_hold_x", false},
		{`shop.__%`, "shop.ab", true}, // _ is any one character
		{`shop.__%`, "shop.a", false},
		{`sh_p.%old`, "shop._orders_old", true},
		{`SHOP.%`, "shop.orders", true}, // case-insensitive, as the server compares
		{`shop.%\%`, "shop.a%", true},
		{`shop.%\%`, "shop.ab", false},
		{`%`, "", true},
		{`shop.orders`, "shop.orders", true},
		{`shop.orders`, "shop.orders2", false},
	} {
		if got := wildMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestFilterEvaluation: the server's order — database rules by the default database,
// then the first table rule any of the statement's tables matches.
func TestFilterEvaluation(t *testing.T) {
	old := qualifiedTable{"shop", "__orders_old"}
	hold := qualifiedTable{"shop", "_janitor_hold_x"}
	for _, tc := range []struct {
		name   string
		f      replicaFilters
		db     string
		tables []qualifiedTable
		want   bool
		rule   string
	}{
		{"none", replicaFilters{}, "", []qualifiedTable{old}, true, ""},
		{"do-db, no default database", replicaFilters{doDB: []string{"shop"}}, "", []qualifiedTable{old}, false, "replicate_do_db=shop"},
		{"do-db, USE shop", replicaFilters{doDB: []string{"shop"}}, "shop", []qualifiedTable{old}, true, ""},
		{"do-db, other", replicaFilters{doDB: []string{"shop"}}, "crm", []qualifiedTable{{"crm", "t"}}, false, "replicate_do_db=shop"},
		{"ignore-db, no default database", replicaFilters{ignoreDB: []string{"shop"}}, "", []qualifiedTable{old}, true, ""},
		{"ignore-db, USE shop", replicaFilters{ignoreDB: []string{"shop"}}, "shop", []qualifiedTable{old}, false, "replicate_ignore_db=shop"},
		{"do-table hit", replicaFilters{doTable: []string{"shop.__orders_old"}}, "shop", []qualifiedTable{old}, true, "replicate_do_table=shop.__orders_old"},
		{"do-table miss", replicaFilters{doTable: []string{"shop.orders"}}, "shop", []qualifiedTable{old}, false, "no replicate_do_table or replicate_wild_do_table rule matches (shop.orders)"},
		{"ignore-table", replicaFilters{ignoreTable: []string{"shop.__orders_old"}}, "shop", []qualifiedTable{old, hold}, false, "replicate_ignore_table=shop.__orders_old"},
		{"first table decides", replicaFilters{wildIgnoreTable: []string{`shop.\_\_%`}}, "shop", []qualifiedTable{old, hold}, false, `replicate_wild_ignore_table=shop.\_\_%`},
		{"hold name alone passes", replicaFilters{wildIgnoreTable: []string{`shop.\_\_%`}}, "shop", []qualifiedTable{hold}, true, ""},
		{"wild-do", replicaFilters{wildDoTable: []string{`shop.%`}}, "shop", []qualifiedTable{hold}, true, `replicate_wild_do_table=shop.%`},
		{"ignore-server-ids", replicaFilters{ignoreServerIDs: []string{"1"}}, "shop", []qualifiedTable{old}, false, "replicate_ignore_server_ids=1"},
	} {
		v := tc.f.evaluate(tc.db, tc.tables, false, "1")
		if v.applied != tc.want || v.rule != tc.rule {
			t.Errorf("%s: applied %v by %q, want %v by %q", tc.name, v.applied, v.rule, tc.want, tc.rule)
		}
	}
}

func TestStatementsOn(t *testing.T) {
	tb := &discovery.Table{Schema: "Shop", Name: "__orders_old"}
	drop := []plannedStatement{{"DROP", []qualifiedTable{{"Shop", "__orders_old"}}}}
	hold := []plannedStatement{
		{"ALTER", []qualifiedTable{{"Shop", "__orders_old"}}},
		{"RENAME", []qualifiedTable{{"Shop", "__orders_old"}, {"Shop", "_janitor_hold_x"}}},
		{"ALTER held", []qualifiedTable{{"Shop", "_janitor_hold_x"}}},
	}
	for _, tc := range []struct {
		name    string
		filters []replicaFilters
		stmts   []plannedStatement
		has     bool
		want    string // "" or a part of the reason
	}{
		{"plain", []replicaFilters{{}}, drop, true, ""},
		{"missing", []replicaFilters{{}}, drop, false, "does not have"},
		{"filtered and missing", []replicaFilters{{ignoreDB: []string{"Shop"}}}, drop, false, ""},
		{"filtered but there", []replicaFilters{{ignoreDB: []string{"Shop"}}}, drop, true, "would keep it"},
		{"mixed", []replicaFilters{{wildIgnoreTable: []string{`Shop.\_\_%`}}}, hold, false, "some of janitor's statements"},
		{"letter case", []replicaFilters{{doDB: []string{"shop"}}}, drop, true, "letter case"},
		{"rewrite", []replicaFilters{{unsupported: []string{"replicate_rewrite_db=(Shop,b)"}}}, drop, true, "does not evaluate"},
		{"two channels", []replicaFilters{{}, {doDB: []string{"crm"}}}, drop, true, "some of janitor's statements"},
		{"another source's channel", []replicaFilters{{sourceID: "1"}, {sourceID: "7", doDB: []string{"crm"}}}, drop, true, ""},
		{"no replication", nil, drop, true, ""},
	} {
		got := statementsOn("r1", tc.filters, tc.stmts, tb, tc.has, false, 1)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestIgnoreReplicasValidation(t *testing.T) {
	if err := validateIgnoreReplicas("shards[0]", []string{"3", "4294967295", "3E11FA47-71CA-11E1-9E33-C80AA9429562"}); err != nil {
		t.Errorf("valid entries refused: %v", err)
	}
	err := validateIgnoreReplicas("shards_dir /s: file \"a\"", []string{"db-3:3306", "0", "4294967296"})
	for _, want := range []string{`shards_dir /s: file "a".ignore_replicas[0]: "db-3:3306" is not a server_id`, `ignore_replicas[1]: "0"`, `ignore_replicas[2]: "4294967296"`, "SHOW REPLICAS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
}
