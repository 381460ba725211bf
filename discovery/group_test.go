package discovery_test

import (
	"context"
	"slices"
	"testing"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestSiblingsWithHostileNames: the pre-DROP re-check finds a migration's other tables
// by name (LIKE) whatever its base holds: LIKE's wildcards, a backslash (LIKE's escape),
// quotes and a backtick. Decoys that an unescaped pattern would also match, and another
// migration whose base only contains this one's, are not its tables.
func TestSiblingsWithHostileNames(t *testing.T) {
	db, s := primarySchema(t)
	base := "o%r_d\\e'r`s"
	testdb.Exec(t, db, "CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY)")
	for _, n := range []string{"_" + base + "_gho", "_" + base + "_ghc", "_" + base + "_ghk",
		"_oXrYd\\e'r`s_ghc", "_x" + base + "_ghc", "_" + base + "_20200102030405_del"} {
		testdb.Exec(t, db, "CREATE TABLE "+q(s, n)+" (id INT PRIMARY KEY)")
	}
	in := inspector(t, db, s)
	gho, err := in.Inspect(context.Background(), discovery.Name{Schema: s, Table: "_" + base + "_gho"})
	if err != nil {
		t.Fatal(err)
	}
	if gho.Base != base {
		t.Fatalf("%s: base %q; want %q", gho.Name, gho.Base, base)
	}
	sibs, err := in.Siblings(context.Background(), gho)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range sibs {
		got = append(got, n.Table)
	}
	slices.Sort(got)
	want := []string{"_" + base + "_20200102030405_del", "_" + base + "_ghc", "_" + base + "_ghk"}
	if !slices.Equal(got, want) {
		t.Errorf("siblings of %s: %q; want %q", gho.Name, got, want)
	}
}
