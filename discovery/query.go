package discovery

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// memo keeps what one read of every object of a kind on the server gave (the rows, or
// why they could not be read) for an Inspector's life: every candidate asks, the server
// is asked once.
type memo[T any] struct {
	rows []T
	err  error
}

// get returns the kept answer, or calls read for one. read says whether a failure is
// kept too (a body hidden from the account stays hidden) or the next caller reads again.
// Rows are never nil once read, so that an empty answer is kept as well.
func (m *memo[T]) get(read func() (keepErr bool, rows []T, err error)) ([]T, error) {
	if m.rows != nil || m.err != nil {
		return m.rows, m.err
	}
	keep, rows, err := read()
	if err != nil {
		if keep {
			m.err = err
		}
		return nil, err
	}
	if rows == nil {
		rows = []T{}
	}
	m.rows = rows
	return rows, nil
}

// storedKind says how to read every stored object of one kind (triggers, routines,
// events) from its information_schema view.
type storedKind[T any] struct {
	// hidden is why the account sees none: it lacks the privilege to.
	hidden string
	// what names the kind in the error of a failed read.
	what string
	// view is the information_schema view; columns, the columns read, the object's
	// schema first, each row turned into a T by scan.
	view, columns string
	scan          func(*sqlx.Rows) (T, error)
	// bodyHidden, when set, says why the server hides an object's body from the account
	// (nil when it does not). A hidden body fails the read, and is kept: every candidate
	// does not ask again.
	bodyHidden func(T) error
	// keepReadErr keeps a failed read too, for the Inspector's life.
	keepReadErr bool
}

// readStored reads every stored object of kind k (storedObjectsWhere), once per
// Inspector, keeping the answer in m. sees false (the account lacks the privilege that
// shows them) is an error: an empty answer would prove nothing.
func readStored[T any](ctx context.Context, in *Inspector, m *memo[T], sees bool, k storedKind[T]) ([]T, error) {
	if !sees {
		return nil, errors.New(k.hidden)
	}
	return m.get(func() (bool, []T, error) {
		schemaColumn, _, _ := strings.Cut(k.columns, ",")
		where, args := storedObjectsWhere(schemaColumn)
		out, err := queryAll(ctx, in, `SELECT /* janitor */ `+k.columns+`
			FROM information_schema.`+k.view+` WHERE `+where, args, k.scan)
		if err != nil {
			return k.keepReadErr, nil, fmt.Errorf("read %s: %w", k.what, err)
		}
		if k.bodyHidden != nil {
			for _, o := range out {
				if err := k.bodyHidden(o); err != nil {
					return true, nil, err
				}
			}
		}
		return k.keepReadErr, out, nil
	})
}
