package config

import (
	"strings"
	"testing"

	"github.com/janitorhq/janitor/policies"
)

func TestPolicyKeep(t *testing.T) {
	body := good + "  keep:\n    - {schema: shop, table: \"orders.2024_old\"}\n    - schema: \"a.b\"\n      table: \"`x`y\"\n    - {schema: scratch, all_tables: true}\n"
	cfg, err := Load(write(t, "c.yaml", body))
	if err != nil {
		t.Fatal(err)
	}
	want := []policies.KeepEntry{{Schema: "shop", Table: "orders.2024_old"}, {Schema: "a.b", Table: "`x`y"}, {Schema: "scratch", AllTables: true}}
	if len(cfg.Policy.Keep) != len(want) {
		t.Fatalf("keep = %+v", cfg.Policy.Keep)
	}
	for i := range want {
		if cfg.Policy.Keep[i] != want[i] {
			t.Errorf("keep[%d] = %+v, want %+v", i, cfg.Policy.Keep[i], want[i])
		}
	}
}

// TestPolicyKeepErrors: an entry that can never match keeps nothing, the one way a keep
// list fails open, so each is refused at load time with the key, the value and the file.
func TestPolicyKeepErrors(t *testing.T) {
	cases := []struct{ name, keep, want string }{
		{"a string", "    - shop.orders_old\n", `policy.keep[0]: "shop.orders_old" is not a {schema, table} entry; write {schema: shop, table: orders_old}`},
		{"no schema", "    - {table: orders_old}\n", "policy.keep[0].schema: required"},
		{"no table", "    - {schema: shop}\n", "policy.keep[0].table: required: write {schema: s, table: t}, or {schema: s, all_tables: true}"},
		{"both", "    - {schema: shop, table: t, all_tables: true}\n", `policy.keep[0]: has both table "t" and all_tables: true`},
		{"too long", "    - {schema: shop, table: " + strings.Repeat("x", 65) + "}\n", "policy.keep[0].table: \"" + strings.Repeat("x", 65) + "\" is 65 characters"},
		{"trailing space", "    - {schema: \"shop \", table: t}\n", `policy.keep[0].schema: "shop " ends with a space`},
		{"backticks", "    - {schema: shop, table: \"`orders_old`\"}\n", "is in backticks"},
		{"second entry", "    - {schema: shop, table: t}\n    - {schema: shop, tabel: t}\n", "tabel"},
		{"bad switch", "    - {schema: shop, all_tables: maybe}\n", "policy.keep[0].all_tables"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, "c.yaml", good+"  keep:\n"+c.keep))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "c.yaml") {
				t.Errorf("error %q does not mention %q and the file", err, c.want)
			}
			t.Log(err)
		})
	}
}
