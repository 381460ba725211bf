package discovery

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// queryAll runs one query under the Inspector's query timeout and turns each row into a
// T. Every multi-row read of discovery goes through here.
func queryAll[T any](ctx context.Context, in *Inspector, query string, args []any, row func(*sqlx.Rows) (T, error)) ([]T, error) {
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	rows, err := in.q.QueryxContext(qctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := row(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanString reads a one-column row.
func scanString(r *sqlx.Rows) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}
