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
	check := func(what, got string, err error, want string) {
		t.Helper()
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", what, got, err, want)
		}
	}
	n, err := maria.spaceName("shop", "_café_old", false)
	check("MariaDB tablespace", n, err, "shop/_caf@0p_old")
	n, err = maria.foreignName("shop", "_we`ird_old", false)
	check("MariaDB foreign key", n, err, "shop/_we@0060ird_old")
	n, err = mysql.spaceName("shop", "_we`ird_old", false)
	check("MySQL tablespace", n, err, "shop/_we`ird_old")
	n, err = mysql.foreignName("shop", "_café_old", false)
	check("MySQL foreign key", n, err, "shop/_café_old")
	n, err = mysql.tableName("shop", "_we`ird_old", false)
	check("MySQL table", n, err, "shop/_we@0060ird_old")
	n, err = maria.tableName("my shop", "#sql-ib12-34", true)
	check("orphan", n, err, "my@0020shop/#sql-ib12-34")
	n, err = folded.spaceName("Shop", "_Orders_old", false)
	check("lower_case_table_names=1, ASCII", n, err, "shop/_orders_old")
	if n, err := folded.spaceName("shop", "_Café_old", false); err == nil {
		t.Errorf("lower_case_table_names=1, non-ASCII: %q, want an error", n)
	}
	if n, err := maria.spaceName("shop", "_x😀_old", false); !errors.Is(err, ErrNoFilename) {
		t.Errorf("a 4-byte character: %q, %v; want ErrNoFilename", n, err)
	}
}
