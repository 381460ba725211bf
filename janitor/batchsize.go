package janitor

import "time"

// Defaults of the purge's batch sizing, also used when a LargeTableConfig built in code
// leaves them zero.
const (
	DefaultBatchMinRows = 100
	DefaultBatchTarget  = 500 * time.Millisecond
)

// batchSizer picks how many rows the next purge batch deletes. A batch's cost is paid
// twice: on the primary, and again, serially with the rest of the replicated load, on
// every replica's applier; a replica is behind by about as long as it takes to apply one
// batch. A fixed size cannot fit both a quiet and a loaded replica (5,000 rows took a
// loaded MariaDB replica 3-6 s against a 2 s max_replica_lag), so the size follows what
// each batch took, from its start on the primary until every replica had applied it:
//
//   - the first batch is small (min rows);
//   - a batch over the target shrinks the next in proportion, and at least by half;
//   - a batch under half the target grows the next, at most twice as large;
//   - a batch the throttle held back (lag, load or memory unhealthy before it) halves
//     the next, whatever the last one took;
//   - the size stays within [min, max] rows.
//
// Growth is bounded by the last measured rate, so one step can overshoot the target by
// little; shrinking is faster than growing, so a replica slowing down is followed within
// a batch or two.
type batchSizer struct {
	min, max int
	target   time.Duration
	rows     int
}

// newBatchSizer returns a sizer for lt; zero bounds take the defaults (and a min over
// max is max).
func newBatchSizer(lt LargeTableConfig) *batchSizer {
	maxRows := lt.BatchRows
	if maxRows < 1 {
		maxRows = 1
	}
	minRows := lt.BatchMinRows
	if minRows < 1 {
		minRows = DefaultBatchMinRows
	}
	minRows = min(minRows, maxRows)
	target := lt.BatchTarget
	if target <= 0 {
		target = DefaultBatchTarget
	}
	return &batchSizer{min: minRows, max: maxRows, target: target, rows: minRows}
}

// Next is the size of the next batch.
func (b *batchSizer) Next() int { return b.rows }

// Observe learns from a batch that asked for asked rows, deleted deleted, and took took
// (start on the primary to applied on every replica). held says the throttle held the
// purge back before the batch.
func (b *batchSizer) Observe(asked int, deleted int64, took time.Duration, held bool) {
	switch {
	case held:
		b.rows /= 2
	case took > b.target:
		// Proportional, and at least halved: 0.8 leaves room for the next batch to be
		// a little slower still.
		f := min(0.5, 0.8*float64(b.target)/float64(took))
		b.rows = int(float64(b.rows) * f)
	case deleted < int64(asked):
		// The table's last rows: the time says nothing about a full batch.
	case took < b.target/2:
		f := 2.0
		if took > 0 {
			f = min(f, 0.8*float64(b.target)/float64(took))
		}
		b.rows = int(float64(b.rows) * f)
	}
	b.rows = max(b.min, min(b.max, b.rows))
}
