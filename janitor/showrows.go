package janitor

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// showRows runs a SHOW statement whose columns differ by flavor and version (SHOW
// REPLICA STATUS, SHOW REPLICAS and their older names) and calls fn for each row with
// col, which reads a column by any of its names: the first of keys the row has, as text
// ("" when it has none of them, or NULL).
func showRows(ctx context.Context, q sqlx.QueryerContext, stmt string, fn func(col func(keys ...string) string) error) error {
	rows, err := q.QueryxContext(ctx, stmt)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.TrimPrefix(stmt, "SHOW /* janitor */ "), err)
	}
	defer rows.Close()
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			return err
		}
		col := func(keys ...string) string {
			for _, k := range keys {
				switch v := m[k].(type) {
				case []byte:
					return string(v)
				case string:
					return v
				case nil:
				default:
					return fmt.Sprint(v)
				}
			}
			return ""
		}
		if err := fn(col); err != nil {
			return err
		}
	}
	return rows.Err()
}
