package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// Environment the Kubernetes manifests set (deploy/kustomize); not configuration keys.
const (
	envJobUID      = "JANITOR_JOB_UID"          // the Job's uid, from the downward API
	envMaxAttempts = "JANITOR_JOB_MAX_ATTEMPTS" // backoffLimit (or backoffLimitPerIndex) + 1
)

// jobAttempt is one attempt of a Kubernetes Job run. Kubernetes retries a Job whose pod
// exits 1 (backoffLimit): each attempt adds only its own drops and waits to the running
// totals it reads from the Pushgateway, so those are never counted twice, but a failing
// shard would be counted once per attempt and each attempt would post to Slack. The
// attempts therefore count their failures in the Pushgateway group, keyed by the Job's
// uid, and only the attempt that ends the Job run (it succeeds, or no retry is left)
// posts to Slack and counts shard errors.
type jobAttempt struct {
	uid   string
	max   int
	prior int  // failed attempts of this Job run before this one
	known bool // prior was read from the Pushgateway
}

// readJobAttempt reads the Job's identity from the environment; outside a Job (or with
// a bad JANITOR_JOB_MAX_ATTEMPTS) every attempt is the last.
func (a *app) readJobAttempt(m *metrics.Metrics) jobAttempt {
	j := jobAttempt{uid: strings.TrimSpace(os.Getenv(envJobUID))}
	if j.uid == "" {
		return j
	}
	if v := os.Getenv(envMaxAttempts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			a.log.Warn("ignoring a bad "+envMaxAttempts+": want a whole number ≥ 1 (the Job's backoffLimit + 1); every attempt posts to Slack",
				"value", v)
		} else {
			j.max = n
		}
	}
	j.prior, j.known = m.PriorFailures(j.uid)
	return j
}

// retryFollowsFailure says whether Kubernetes retries this attempt if it fails. When
// janitor cannot tell (no Pushgateway, or it did not answer) it says no: a second Slack
// post is better than none.
func (j jobAttempt) retryFollowsFailure() bool {
	return j.uid != "" && j.known && j.max > 1 && j.prior+1 < j.max
}

// record counts this attempt's failure for the next attempt to read.
func (j jobAttempt) record(m *metrics.Metrics, failed bool) {
	if j.uid == "" {
		return
	}
	n := j.prior
	if failed {
		n++
	}
	m.SetJobFailures(j.uid, n)
}

// stoppedCode is the exit status of a run a signal stopped: 128 + the signal's number,
// as a shell reports a process the signal killed, so that an evicted or deadline-killed
// run never reads as a success. ok is false when no signal stopped the run.
func stoppedCode(ctx context.Context) (code int, ok bool) {
	if ctx.Err() == nil {
		return 0, false
	}
	cause := fmt.Sprint(context.Cause(ctx))
	for _, s := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT} {
		if strings.HasPrefix(cause, s.String()+" signal") {
			return 128 + int(s), true
		}
	}
	return 128 + int(syscall.SIGTERM), true
}

// logStop logs the moment a signal arrives, so that the log tells it apart from the
// end of the statement in flight, which janitor lets finish. It returns the function
// that stops watching.
func (a *app) logStop(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() {
		a.log.Warn("signal received: the statement in flight finishes, the rest is deferred", "cause", context.Cause(ctx))
	})
}

// failedAttempt says whether a finished report makes this attempt exit 1.
func failedAttempt(r *report.Report) bool { return r.Failed() }
