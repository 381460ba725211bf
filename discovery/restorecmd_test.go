package discovery_test

import (
	"testing"

	"github.com/janitorhq/janitor/discovery"
)

func TestRestoreCommand(t *testing.T) {
	for _, c := range []struct{ shard, schema, table, want string }{
		{"shard-1", "shop", "__orders_old", "janitor restore --shard shard-1 shop.__orders_old"},
		// A name that holds the words a reason once carried as a placeholder stays as it is.
		{"s1", "shop", "_x --shard SHARD_old", "janitor restore --shard s1 'shop._x --shard SHARD_old'"},
		{"eu 1", "sh'op", "a;b", `janitor restore --shard 'eu 1' 'sh'\''op.a;b'`},
		{"$(reboot)", "shop", "`t`", "janitor restore --shard '$(reboot)' 'shop.`t`'"},
	} {
		if got := discovery.RestoreCommand(c.shard, c.schema, c.table); got != c.want {
			t.Errorf("RestoreCommand(%q, %q, %q) = %s, want %s", c.shard, c.schema, c.table, got, c.want)
		}
	}
}

func TestJanitorHold(t *testing.T) {
	h := &discovery.Hold{Table: "__orders_old"}
	for _, c := range []struct {
		t    *discovery.Table
		want *discovery.Hold
	}{
		{nil, nil},
		{&discovery.Table{Tool: discovery.ToolJanitor, Hold: h}, h},
		{&discovery.Table{Tool: discovery.ToolJanitor}, nil},
		{&discovery.Table{Tool: discovery.ToolPTOSC, Hold: h}, nil},
	} {
		if got := c.t.JanitorHold(); got != c.want {
			t.Errorf("%+v: JanitorHold() = %v, want %v", c.t, got, c.want)
		}
	}
}
