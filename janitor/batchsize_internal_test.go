package janitor

import (
	"testing"
	"time"
)

// replicaModel is a replica that applies rowsPerSec rows a second: a batch of n rows
// takes n/rowsPerSec from its start to applied everywhere (pure arithmetic, no clock).
type replicaModel struct{ rowsPerSec float64 }

func (m replicaModel) took(n int) time.Duration {
	return time.Duration(float64(n) / m.rowsPerSec * float64(time.Second))
}

func sizer(minRows, maxRows int, target time.Duration) *batchSizer {
	return newBatchSizer(LargeTableConfig{BatchMinRows: minRows, BatchRows: maxRows, BatchTarget: target})
}

// TestBatchSizerStartsSmallAndGrows: the first batch is min rows; fast batches grow the
// size at most twofold a batch, up to max rows and no further.
func TestBatchSizerStartsSmallAndGrows(t *testing.T) {
	b := sizer(100, 5000, 500*time.Millisecond)
	if b.Next() != 100 {
		t.Fatalf("first batch %d, want min rows 100", b.Next())
	}
	prev := b.Next()
	for i := 0; i < 20; i++ {
		b.Observe(b.Next(), int64(b.Next()), time.Millisecond, false)
		if b.Next() > 2*prev {
			t.Fatalf("grew from %d to %d in one batch, want at most twice", prev, b.Next())
		}
		prev = b.Next()
	}
	if b.Next() != 5000 {
		t.Fatalf("after 20 fast batches: %d, want max rows 5000", b.Next())
	}
}

// TestBatchSizerConverges: against a replica that applies a fixed rate, the size settles
// where a batch takes between half the target and the target, and no batch after the
// first few is over the target by more than the growth's margin.
func TestBatchSizerConverges(t *testing.T) {
	for _, rate := range []float64{500, 2000, 10000} {
		m := replicaModel{rate}
		target := 500 * time.Millisecond
		b := sizer(10, 100000, target)
		var took time.Duration
		for i := 0; i < 40; i++ {
			n := b.Next()
			took = m.took(n)
			if i > 10 && took > target {
				t.Errorf("rate %.0f rows/s: batch %d of %d rows took %s, over the target %s", rate, i, n, took, target)
			}
			b.Observe(n, int64(n), took, false)
		}
		if took < target/2 || took > target {
			t.Errorf("rate %.0f rows/s: settled at %d rows, %s a batch, want between %s and %s", rate, b.Next(), took, target/2, target)
		}
	}
}

// TestBatchSizerShrinksFast: a replica that slows down tenfold is followed within one
// batch: the next batch is sized from the slow one's rate, not halved step by step.
func TestBatchSizerShrinksFast(t *testing.T) {
	target := 500 * time.Millisecond
	b := sizer(10, 100000, target)
	fast, slow := replicaModel{10000}, replicaModel{1000}
	for i := 0; i < 30; i++ {
		b.Observe(b.Next(), int64(b.Next()), fast.took(b.Next()), false)
	}
	before := b.Next()
	b.Observe(before, int64(before), slow.took(before), false)
	if got := slow.took(b.Next()); got > target {
		t.Errorf("after one slow batch of %d rows (%s) the next has %d rows and would take %s, over the target %s",
			before, slow.took(before), b.Next(), got, target)
	}
	// Even a batch barely over the target halves the next.
	b = sizer(10, 100000, target)
	b.rows = 1000
	b.Observe(1000, 1000, target+time.Millisecond, false)
	if b.Next() > 500 {
		t.Errorf("a batch just over the target: next %d rows, want at most half of 1000", b.Next())
	}
}

// TestBatchSizerHeldHalves: a batch the throttle held back halves the next, however fast
// the last one was; a batch within the target band keeps the size.
func TestBatchSizerHeldHalves(t *testing.T) {
	b := sizer(100, 5000, 500*time.Millisecond)
	b.rows = 4000
	b.Observe(4000, 4000, time.Millisecond, true)
	if b.Next() != 2000 {
		t.Errorf("held: next %d, want 2000", b.Next())
	}
	b.Observe(2000, 2000, 300*time.Millisecond, false)
	if b.Next() != 2000 {
		t.Errorf("within the band (300ms of 500ms): next %d, want 2000 kept", b.Next())
	}
}

// TestBatchSizerBounds: the size never leaves [min, max], and the table's last, short
// batch teaches nothing.
func TestBatchSizerBounds(t *testing.T) {
	b := sizer(100, 5000, 500*time.Millisecond)
	for i := 0; i < 10; i++ {
		b.Observe(b.Next(), int64(b.Next()), time.Minute, true)
	}
	if b.Next() != 100 {
		t.Errorf("after slow, held batches: %d, want min rows 100", b.Next())
	}
	b.rows = 1000
	b.Observe(1000, 3, time.Microsecond, false)
	if b.Next() != 1000 {
		t.Errorf("a short last batch changed the size to %d", b.Next())
	}
	// Zero settings (a LargeTableConfig built in code) take the defaults; min over max is max.
	z := newBatchSizer(LargeTableConfig{BatchRows: 50})
	if z.min != 50 || z.max != 50 || z.target != DefaultBatchTarget {
		t.Errorf("zero settings: min %d max %d target %s", z.min, z.max, z.target)
	}
}
