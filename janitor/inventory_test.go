package janitor_test

import (
	"reflect"
	"testing"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/janitor"
)

// TestShardDefaultsReachEveryShard fails when a field is added to ShardDefaults and not
// to ResolveShards: every shard would silently run without it. Each field is set alone
// (over what it needs, such as a user for a password) and must change the resolved shard.
func TestShardDefaultsReachEveryShard(t *testing.T) {
	cases := map[string]struct {
		needs, set func(*janitor.ShardDefaults)
		edge       string // why ResolveShards does not read it, when it does not
	}{
		"User":         {set: func(d *janitor.ShardDefaults) { d.User = "jan" }},
		"Password":     {needs: func(d *janitor.ShardDefaults) { d.User = "jan" }, set: func(d *janitor.ShardDefaults) { d.Password = "pw" }},
		"PasswordFile": {edge: "read at the edge (cmd/config) into Password"},
		"TLS":          {set: func(d *janitor.ShardDefaults) { d.TLS = dbconn.TLS{Mode: dbconn.TLSRequired} }},
		"MinReaders":   {set: func(d *janitor.ShardDefaults) { d.MinReaders = 2 }},
	}
	resolve := func(t *testing.T, d janitor.ShardDefaults) janitor.ShardConfig {
		t.Helper()
		c := janitor.Config{ShardDefaults: d, Shards: []janitor.ShardConfig{{Name: "a", Addr: "h:1"}}}
		register := func(key string, _ dbconn.TLS) (string, error) { return "tls-" + key, nil }
		if err := c.ResolveShards(register); err != nil {
			t.Fatal(err)
		}
		return c.Shards[0]
	}
	typ := reflect.TypeOf(janitor.ShardDefaults{})
	for i := 0; i < typ.NumField(); i++ {
		name := typ.Field(i).Name
		t.Run(name, func(t *testing.T) {
			c, ok := cases[name]
			if !ok {
				t.Fatalf("ShardDefaults.%s: make ResolveShards apply it to every shard, and add it to this test", name)
			}
			if c.edge != "" {
				t.Skip(c.edge)
			}
			var d janitor.ShardDefaults
			if c.needs != nil {
				c.needs(&d)
			}
			before := resolve(t, d)
			c.set(&d)
			if after := resolve(t, d); reflect.DeepEqual(before, after) {
				t.Errorf("setting shard_defaults' %s changed nothing in the shard: %+v", name, after)
			}
		})
	}
}
