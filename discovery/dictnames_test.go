package discovery

import (
	"errors"
	"testing"
)

// TestViewNames: each view gets the spelling its flavor uses, and a name janitor cannot
// spell exactly is an error, never a guess.
func TestViewNames(t *testing.T) {
	maria := NewInspector(nil, Server{Flavor: FlavorMariaDB}, Options{}, nil)
	mysql := NewInspector(nil, Server{Flavor: FlavorMySQL8}, Options{}, nil)
	folded := NewInspector(nil, Server{Flavor: FlavorMariaDB, LowerCaseTableNames: 1}, Options{}, nil)
	for _, c := range []struct {
		what          string
		name          func(schema, table string, orphan bool) (string, error)
		schema, table string
		orphan        bool
		want          string
	}{
		{"MariaDB tablespace", maria.spaceName, "shop", "_café_old", false, "shop/_caf@0p_old"},
		{"MariaDB foreign key", maria.foreignName, "shop", "_we`ird_old", false, "shop/_we@0060ird_old"},
		{"MySQL tablespace", mysql.spaceName, "shop", "_we`ird_old", false, "shop/_we`ird_old"},
		{"MySQL foreign key", mysql.foreignName, "shop", "_café_old", false, "shop/_café_old"},
		{"MySQL table", mysql.tableName, "shop", "_we`ird_old", false, "shop/_we@0060ird_old"},
		{"orphan", maria.tableName, "my shop", "#sql-ib12-34", true, "my@0020shop/#sql-ib12-34"},
		{"lower_case_table_names=1, ASCII", folded.spaceName, "Shop", "_Orders_old", false, "shop/_orders_old"},
	} {
		if got, err := c.name(c.schema, c.table, c.orphan); err != nil || got != c.want {
			t.Errorf("%s = %q, %v; want %q", c.what, got, err, c.want)
		}
	}
	if n, err := folded.spaceName("shop", "_Café_old", false); err == nil {
		t.Errorf("lower_case_table_names=1, non-ASCII: %q, want an error", n)
	}
	if n, err := maria.spaceName("shop", "_x😀_old", false); !errors.Is(err, ErrNoFilename) {
		t.Errorf("a 4-byte character: %q, %v; want ErrNoFilename", n, err)
	}
}
