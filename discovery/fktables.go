package discovery

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// FKTable is a table that a foreign key joins to the table asked about. On MySQL 8 and
// later a DROP, RENAME or ALTER of a table takes an exclusive metadata lock on each of
// them too (measured on 9.7.4; docs/dropping.md, Locks), so a session reading one of
// them stalls the statement, and everyone queued behind it on that live table.
type FKTable struct {
	Schema, Table string
	// Parent: the table asked about references this one (it is the child); else this
	// one references the table asked about.
	Parent bool
	Key    string // the constraint, as schema/name for people
}

// Role names the table's side of the key for people.
func (f FKTable) Role() string {
	if f.Parent {
		return "foreign-key parent"
	}
	return "foreign-key child"
}

// ForeignKeyTables lists the tables joined to n by a foreign key, in either direction,
// with one query on the InnoDB dictionary view (which answers from memory and opens no
// table; the same view foreignKeys reads). A key of the table on itself is left out: it
// joins the table to nothing else. A key whose other end names a table that does not
// exist (created under foreign_key_checks=0, or whose parent was dropped so) is listed
// all the same: a metadata lock on a missing table's name has no holder to find.
//
// An error means the set cannot be known exactly, and the caller must not send DDL: a
// name the view spells in a way janitor cannot read back, or one the view cuts to its
// column width (MariaDB's INNODB_SYS_FOREIGN holds 193 characters of an encoded name).
func (in *Inspector) ForeignKeyTables(ctx context.Context, n Name) ([]FKTable, error) {
	d := in.server.Flavor.dialect()
	name, err := in.foreignName(n.Schema, n.Table, n.Orphan)
	if err != nil {
		return nil, fmt.Errorf("spell %s as %s does: %w", n.Schema+"."+n.Table, d.foreign, err)
	}
	width, err := in.refNameWidth(ctx)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(name) >= width {
		return nil, fmt.Errorf("%s cuts names to %d characters and this table's is %d long: its foreign keys cannot be told from another table's",
			d.foreign, width, utf8.RuneCountInString(name))
	}
	// FOR_NAME and REF_NAME are as wide (193 on MariaDB 10.11, measured) and compared in
	// the view's case-folding collation: rows of another table whose name differs only in
	// case come back too and are left out below by an exact comparison.
	keys, err := queryAll(ctx, in, "SELECT /* janitor */ ID, FOR_NAME, REF_NAME FROM "+d.foreign+" WHERE FOR_NAME = ? OR REF_NAME = ?", []any{name, name},
		func(r *sqlx.Rows) (k fkRow, err error) { return k, r.Scan(&k.id, &k.from, &k.to) })
	if err != nil {
		return nil, fmt.Errorf("read the foreign keys of %s from %s: %w", n.Schema+"."+n.Table, d.foreign, err)
	}
	var out []FKTable
	seen := map[[3]string]bool{}
	for _, k := range keys {
		var other string
		var parent bool
		switch {
		case k.from == name && k.to == name:
			continue // on itself
		case k.from == name:
			other, parent = k.to, true
		case k.to == name:
			other = k.from
		default:
			continue // another table's, matched by the collation's case folding
		}
		if utf8.RuneCountInString(other) >= width {
			return nil, fmt.Errorf("foreign key %s names %q, which %s may have cut to %d characters: the table it joins cannot be known",
				decodeDict(d.foreignEncoded, k.id), other, d.foreign, width)
		}
		splits := splitDictName(d.foreignEncoded, other)
		if len(splits) == 0 {
			return nil, fmt.Errorf("foreign key %s names %q in %s, which janitor cannot read back as schema and table", decodeDict(d.foreignEncoded, k.id), other, d.foreign)
		}
		for _, sp := range splits {
			key := [3]string{sp[0], sp[1], fmt.Sprint(parent)}
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, FKTable{Schema: sp[0], Table: sp[1], Parent: parent, Key: decodeDict(d.foreignEncoded, k.id)})
		}
	}
	return out, nil
}

// splitDictName reads a dictionary view's schema/table back as the two names. An
// encoded name has exactly one '/' (the encoding spells a '/' inside a name as @002f).
// A plain one (MySQL's INNODB_FOREIGN) with more than one cannot be split for certain —
// MySQL takes a '/' in a schema's name as in a table's — so every split is returned: a
// lock looked for on a name that is not the table finds no holder, and the real one is
// among them. None: the name cannot be read back.
func splitDictName(encoded bool, s string) [][2]string {
	if encoded {
		if strings.Count(s, "/") != 1 {
			return nil
		}
		db, rest, _ := strings.Cut(s, "/")
		schema, ok1 := DecodeFilename(db)
		table, ok2 := DecodeFilename(rest)
		if !ok1 || !ok2 || schema == "" || table == "" {
			return nil
		}
		return [][2]string{{schema, table}}
	}
	var out [][2]string
	for i := 0; i < len(s); i++ {
		if s[i] == '/' && i > 0 && i < len(s)-1 {
			out = append(out, [2]string{s[:i], s[i+1:]})
		}
	}
	return out
}
