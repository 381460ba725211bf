package main

import (
	"context"
	"strings"
	"time"

	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// holds is `janitor holds`: the frequent look at janitor's holds (janitor.WatchHolds).
// A held table that an application asks for by its original name fails every statement
// with 1146 until it is restored, so this runs every few minutes (the holds CronJob,
// deploy/kustomize/components/holdwatch), apart from the nightly run: it lists names
// and reads the statement statistics, and opens nothing else.
//
// Its metrics, janitor_hold_restored_total and janitor_hold_restore_deferred_total, go
// to a Pushgateway group of its own (job metrics.job + "-holds"): a push replaces its
// whole group, and this run knows nothing of the nightly run's figures. It posts to
// Slack only when it restored something, or deferred a restore (the table is still
// missing).
func (a *app) holds(ctx context.Context, execute bool, format string) int {
	m := metrics.New()
	m.InitHolds(a.shardNames())
	g, gerr := a.gateway()
	g.Job += "-holds"
	push := !a.quiet && a.cfg.Metrics.PushgatewayURL != ""
	if push && gerr == nil {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := m.ResumeFrom(rctx, g, a.shardNames()); err != nil {
			a.log.Warn("carry janitor_hold_restored_total on from the pushgateway; it starts at zero this run", "err", err)
		}
		cancel()
	}
	j := janitor.New(a.cfg, a.log)
	j.Hooks.HoldMoved = m.HoldMoved
	j.Hooks.RestoreDeferred = m.RestoreDeferred
	r := j.WatchHolds(ctx, execute)
	if restoredAny(r) {
		a.postSlack(ctx, r)
	}
	if push {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := gerr
		if err == nil {
			err = metrics.PushTo(pctx, g, m, a.log)
		}
		cancel()
		if err != nil {
			a.log.Error("push metrics", "err", err)
		}
	}
	if err := report.Write(a.stdout, r, format); err != nil {
		a.log.Error("write report", "err", err)
		return exitFailed
	}
	if code, stopped := stoppedCode(ctx); stopped {
		return code
	}
	if r.Failed() {
		return exitFailed
	}
	return exitOK
}

// restoredAny reports whether a hold watch restored a table, or deferred a restore.
func restoredAny(r *report.Report) bool {
	for _, s := range r.Shards {
		for _, t := range s.Tables {
			if t.Outcome == report.OutcomeRestored || strings.HasPrefix(t.Reason, janitor.RestoreDeferredReason) {
				return true
			}
		}
	}
	return false
}
