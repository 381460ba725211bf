// Package throttle decides when janitor may drop the next table. Each health signal
// (replica lag, Aurora reader lag, freeable memory, server load) is a small Signal; a
// Throttler polls them all until every one is healthy or the wait runs out.
//
// A signal that cannot be read is unhealthy: janitor waits rather than guess (fail
// closed). A NULL Seconds_Behind_Master is "replication broken", never 0.
//
// It keeps only signals: what a server says about replication (SHOW REPLICA STATUS,
// replica_host_status) is read by package replica, which the dropper uses too; the
// signals judge it.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Reading is one observation of a signal.
type Reading struct {
	Signal  string
	Healthy bool
	// Value is the observed value as a human reads it ("lag 12s", "NULL", "3.1 GiB").
	Value string
	// Err is set when the signal could not be read; Healthy is then false.
	Err error
}

func (r Reading) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s: unreadable: %v", r.Signal, r.Err)
	}
	return fmt.Sprintf("%s: %s", r.Signal, r.Value)
}

// Signal is one health check.
type Signal interface {
	// Name identifies the signal in output and metric labels; it must be bounded
	// (a kind and a configured name, never a value).
	Name() string
	Check(ctx context.Context) Reading
}

// Noop is always healthy. It exists for tests and for shards with no signals configured.
type Noop struct{}

var _ Signal = Noop{}

// Name implements Signal.
func (Noop) Name() string { return "noop" }

// Check implements Signal.
func (Noop) Check(context.Context) Reading {
	return Reading{Signal: "noop", Healthy: true, Value: "ok"}
}

// Throttler waits for a set of signals to be healthy together.
type Throttler struct {
	signals  []Signal
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	// OnWait, when set, is told how long each unhealthy signal held janitor back.
	OnWait func(signal string, d time.Duration)

	mu   sync.Mutex
	last []Reading
}

// New returns a Throttler polling signals every interval; each check is bounded by
// timeout.
func New(signals []Signal, interval, timeout time.Duration, log *slog.Logger) *Throttler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Throttler{signals: signals, interval: interval, timeout: timeout, log: log}
}

// ErrMaxWait is returned when the signals stayed unhealthy for the whole wait.
var ErrMaxWait = errors.New("throttled for the whole max_wait")

// Blocked describes why a wait ended without health.
type Blocked struct {
	Waited   time.Duration
	Readings []Reading // the unhealthy readings at the end of the wait
}

func (b *Blocked) Error() string {
	var parts []string
	for _, r := range b.Readings {
		parts = append(parts, r.String())
	}
	return fmt.Sprintf("throttled for %s: %s", b.Waited.Round(time.Second), strings.Join(parts, "; "))
}

func (b *Blocked) Unwrap() error { return ErrMaxWait }

// Check reads every signal once and returns the unhealthy readings.
func (t *Throttler) Check(ctx context.Context) []Reading {
	readings := make([]Reading, len(t.signals))
	var wg sync.WaitGroup
	for i, s := range t.signals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, t.timeout)
			defer cancel()
			r := s.Check(cctx)
			r.Signal = s.Name()
			if r.Err != nil {
				r.Healthy = false
			}
			readings[i] = r
		}()
	}
	wg.Wait()
	t.mu.Lock()
	t.last = readings
	t.mu.Unlock()
	var bad []Reading
	for _, r := range readings {
		if !r.Healthy {
			bad = append(bad, r)
		}
	}
	return bad
}

// Last returns the readings of the latest check.
func (t *Throttler) Last() []Reading {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Reading(nil), t.last...)
}

// Wait returns nil once every signal is healthy in the same check. It returns a
// *Blocked (errors.Is ErrMaxWait) after maxWait, or ctx's error.
func (t *Throttler) Wait(ctx context.Context, maxWait time.Duration) error {
	start := time.Now()
	deadline := start.Add(maxWait)
	ticker := time.NewTicker(t.interval)
	defer ticker.Stop()
	prev := time.Now()
	for {
		bad := t.Check(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(bad) == 0 {
			return nil
		}
		now := time.Now()
		if t.OnWait != nil {
			for _, r := range bad {
				t.OnWait(r.Signal, now.Sub(prev))
			}
		}
		prev = now
		if !now.Before(deadline) {
			return &Blocked{Waited: now.Sub(start), Readings: bad}
		}
		t.log.InfoContext(ctx, "throttled", "signals", readingsString(bad))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

func readingsString(rs []Reading) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, "; ")
}
