package discovery

import (
	"fmt"
	"regexp"
	"strings"
)

// viewName returns schema/table as a dictionary view spells it: in the server's filename
// encoding or plain, as the flavor's dialect says for that view. A #sql orphan's table
// part is its raw file name in every view. An error means janitor cannot be sure of the
// spelling, so a lookup by it would prove nothing.
func (in *Inspector) viewName(encoded bool, schema, table string, orphan bool) (string, error) {
	if lc := in.server.LowerCaseTableNames; lc != 0 {
		// The server folds case with its own Unicode tables; janitor folds only ASCII,
		// where the two cannot differ.
		if !isASCII(schema) || !isASCII(table) {
			return "", fmt.Errorf("lower_case_table_names=%d and a non-ASCII name: janitor cannot fold its case exactly as the server does", lc)
		}
		schema, table = strings.ToLower(schema), strings.ToLower(table)
	}
	if !encoded {
		return schema + "/" + table, nil
	}
	s, ok := EncodeFilename(schema)
	if !ok {
		return "", fmt.Errorf("schema %q: %w", schema, ErrNoFilename)
	}
	if orphan {
		return s + "/" + table, nil
	}
	t, ok := EncodeFilename(table)
	if !ok {
		return "", fmt.Errorf("table %q: %w", table, ErrNoFilename)
	}
	return s + "/" + t, nil
}

func (in *Inspector) spaceName(schema, table string, orphan bool) (string, error) {
	return in.viewName(in.server.Flavor.dialect().tablespacesEncoded, schema, table, orphan)
}

// spaceSchema is a schema's part of its tables' tablespace names.
func (in *Inspector) spaceSchema(schema string) (string, error) {
	n, err := in.spaceName(schema, "", false)
	return strings.TrimSuffix(n, "/"), err
}

func (in *Inspector) tableName(schema, table string, orphan bool) (string, error) {
	return in.viewName(in.server.Flavor.dialect().tablesEncoded, schema, table, orphan)
}

func (in *Inspector) foreignName(schema, table string, orphan bool) (string, error) {
	return in.viewName(in.server.Flavor.dialect().foreignEncoded, schema, table, orphan)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// spaceOf tells what a tablespace row is to the table whose tablespace name is name:
// its own tablespace, one of its partitions', or neither. The views' collation folds
// case (general_ci), so the SQL filter may return other tables' rows: this compares
// exactly.
func spaceOf(name, row, partitionSep string) (own, partition bool) {
	if row == name {
		return true, false
	}
	return false, len(row) > len(name)+len(partitionSep) && row[:len(name)] == name &&
		strings.EqualFold(row[len(name):len(name)+len(partitionSep)], partitionSep)
}

// ftsAux matches the tablespace of a FULLTEXT index's auxiliary table by the table part
// of its name: FTS_<table id, 16 hex digits>_ and a fixed suffix (MySQL 8 spells it in
// lower case).
var ftsAux = regexp.MustCompile(`^(?:FTS|fts)_([0-9a-f]{16})_(?:[0-9a-f]{16}_(?:INDEX|index)_\d+|BEING_DELETED|BEING_DELETED_CACHE|CONFIG|DELETED|DELETED_CACHE|being_deleted|being_deleted_cache|config|deleted|deleted_cache)$`)
