// Command janitor finds the tables online schema-change tools leave behind on MySQL and
// MariaDB shards, reports what they hold, and drops the dead ones under throttling.
//
//	janitor report [--config FILE] [--output text|json|markdown] [--shard NAME]
//	janitor run    [--config FILE] [--execute | --dry-run] [--output ...] [--shard NAME]
//	janitor serve  [--config FILE]
//	janitor holds  [--config FILE] [--execute] [--output ...] [--shard NAME]
//	janitor restore --config FILE --shard NAME SCHEMA.TABLE
//	janitor version | completion bash|zsh|fish | help [COMMAND]
//
// Each command's flags: janitor COMMAND --help (cli.go builds the cobra commands). The
// configuration file is --config, or else $JANITOR_CONFIG.
//
// Exit status: 0 every shard answered (and, for run, nothing failed) — warnings, such
// as a configured schema the server does not have, are in the report and the log but
// do not change it; 1 a shard or a table failed, or serve could not listen; 2 bad
// configuration or usage; 143 (130 for SIGINT) stopped by a signal.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/common/version"

	"github.com/janitorhq/janitor/cmd/config"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runCommand runs report, run or serve with the options cobra parsed (cli.go).
func runCommand(ctx context.Context, cmd string, o *options, stdout, stderr io.Writer) int {
	if o.dryRun && o.execute {
		fmt.Fprintf(stderr, "janitor %s: --dry-run and --execute contradict each other: give one (without either, run prints the plan)\n", cmd)
		return exitUsage
	}
	configPath := o.config
	if configPath == "" {
		configPath = os.Getenv("JANITOR_CONFIG")
	}
	if configPath == "" {
		fmt.Fprintf(stderr, "janitor %s: --config FILE is required (or set JANITOR_CONFIG)\n", cmd)
		return exitUsage
	}
	if !validFormat(o.output) && slices.Contains(commands[cmd].flags, "output") {
		fmt.Fprintf(stderr, "janitor %s: --output %q: want one of %s\n", cmd, o.output, strings.Join(report.Formats, ", "))
		return exitUsage
	}
	if o.notify && o.noNotify {
		fmt.Fprintf(stderr, "janitor %s: --notify and --no-notify contradict each other: give one\n", cmd)
		return exitUsage
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "janitor %s: %v\n", cmd, err)
		return exitUsage
	}
	// The MySQL driver logs on its own to stderr ("[mysql] … closing bad idle
	// connection"); route it through the same logger, so --log-format json stays JSON.
	_ = mysql.SetLogger(driverLog{log})
	cfg, err := config.Load(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "janitor: %v\n", err)
		return exitUsage
	}
	if cfg.Policy.MinAge < minAgeFloor && cmd != "report" {
		// Allowed (tests and a DBA's one-off need it), but worth a word: min_age also
		// guards the window between a trigger-based tool's CREATE TABLE and its CREATE
		// TRIGGER, and it bounds recent_write.
		log.Warn("policy.min_age is under 1h: a migration's copy table is a drop candidate from its first second, before its tool's triggers exist, and recent_write only looks back as far",
			"policy.min_age", cfg.Policy.MinAge.String())
	}
	app := &app{cfg: cfg, log: log, stdout: stdout, configPath: configPath, fleet: cfg.Shards}
	if len(o.shards) > 0 {
		if app.cfg.Shards, err = selectShards(cfg.Shards, o.shards); err != nil {
			fmt.Fprintf(stderr, "janitor %s: %v\n", cmd, err)
			return exitUsage
		}
	}
	if err := app.partitionFrom(cmd, o.partition); err != nil {
		fmt.Fprintf(stderr, "janitor %s: %v\n", cmd, err)
		return exitUsage
	}
	// A DBA's run on a few shards is theirs: it must not post to the team's channel or
	// move the fleet's metrics unless asked (--notify).
	switch {
	case o.noNotify:
		app.quiet = true
		log.Info("--no-notify: nothing is posted to Slack or pushed to the Pushgateway")
	case len(o.shards) > 0 && !o.notify:
		app.quiet = true
		log.Info("--shard: nothing is posted to Slack or pushed to the Pushgateway; add --notify to do so")
	}
	switch cmd {
	case "report":
		return app.once(ctx, report.ModeReport, o.output)
	case "run":
		mode := report.ModeDryRun
		if o.execute {
			mode = report.ModeExecute
		}
		return app.once(ctx, mode, o.output)
	case "holds":
		return app.holds(ctx, o.execute, o.output)
	default:
		return app.serve(ctx)
	}
}

// minAgeFloor is the policy.min_age below which run and serve warn.
const minAgeFloor = time.Hour

// shardList collects --shard values.
type shardList []string

func (l *shardList) String() string { return strings.Join(*l, ",") }

// Type names the value in pflag's messages.
func (l *shardList) Type() string { return "NAME" }

func (l *shardList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*l = append(*l, name)
		}
	}
	return nil
}

// selectShards keeps the named shards, in the configuration's order; a name the
// configuration does not have is an error that lists the ones it has.
func selectShards(all []janitor.ShardConfig, names []string) ([]janitor.ShardConfig, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var kept []janitor.ShardConfig
	var known []string
	for _, s := range all {
		known = append(known, s.Name)
		if want[s.Name] {
			kept = append(kept, s)
			delete(want, s.Name)
		}
	}
	if len(want) > 0 {
		var missing []string
		for _, n := range names {
			if want[n] {
				missing = append(missing, n)
				delete(want, n)
			}
		}
		return nil, fmt.Errorf("--shard %s: no such shard in the configuration (it has: %s)", strings.Join(missing, ", "), strings.Join(known, ", "))
	}
	return kept, nil
}

// driverLog adapts slog to the MySQL driver's Logger.
type driverLog struct{ log *slog.Logger }

func (d driverLog) Print(v ...any) {
	d.log.Warn("mysql driver", "detail", strings.TrimSpace(fmt.Sprint(v...)))
}

func validFormat(f string) bool {
	for _, x := range report.Formats {
		if x == f {
			return true
		}
	}
	return false
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// The release build (scripts/release.sh, deploy/Dockerfile) stamps version, revision and
// build date into prometheus/common/version with -ldflags -X; janitor_build_info and the
// JSON report read them there. A plain `go build` or `go install` stamps nothing:
// fillVersion takes what Go's build information knows instead (the module version
// of `go install …@v0.1.0`, else "(devel)"; the commit time, when built with VCS
// stamping), so that no build reports an empty version.
func init() { fillVersion() }

func fillVersion() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if version.Version == "" {
		version.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" && version.BuildDate == "" {
			version.BuildDate = s.Value
		}
	}
	if version.Version == "" {
		version.Version = "unknown"
	}
}

// printVersion is `janitor version`.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "janitor %s\n  revision:   %s\n  build date: %s\n  go version: %s\n  platform:   %s/%s\n",
		version.Version, version.GetRevision(), orUnknown(version.BuildDate), version.GoVersion, version.GoOS, version.GoArch)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// app carries what every command needs.
type app struct {
	cfg        janitor.Config
	log        *slog.Logger
	stdout     io.Writer
	configPath string
	// fleet is every configured shard; cfg.Shards may be fewer (--shard). Metrics
	// carry the whole fleet so that a partial run's push keeps the others' figures.
	fleet []janitor.ShardConfig
	// partition is this pod's share of an Indexed Job (--partition), nil otherwise.
	partition *janitor.Partition
	// quiet turns off the Slack post and the Pushgateway push (--no-notify, or --shard
	// without --notify).
	quiet bool
	// retryFollows: a Kubernetes Job attempt that is retried if it fails (jobrun.go).
	retryFollows bool
	// watch is serve's schedule-loop watch for /healthz (health.go); nil in one-shot runs.
	watch *loopWatch
}

// once runs one job (a CronJob's run), pushes its metrics, writes the report and picks
// the exit code.
func (a *app) once(ctx context.Context, mode, format string) int {
	m := metrics.New()
	if a.partition != nil {
		m.InPartition(fmt.Sprint(a.partition.Index))
	}
	if len(a.cfg.Shards) < len(a.fleet) {
		m.Partial()
	}
	m.Init(a.shardNames())
	if !a.quiet {
		a.resume(ctx, m)
	}
	defer a.logStop(ctx)()
	attempt := a.readJobAttempt(m)
	if attempt.retryFollowsFailure() {
		m.RetryFollowsFailure()
		a.retryFollows = true
	}
	r := a.job(ctx, m, mode)
	stopCode, stopped := stoppedCode(ctx)
	if stopped {
		a.log.Warn("stopped by signal: the report is partial; tables not reached are deferred", "exit", stopCode)
	}
	attempt.record(m, failedAttempt(r) && !stopped)
	if !a.quiet {
		a.push(ctx, m)
	}
	if err := report.Write(a.stdout, r, format); err != nil {
		a.log.Error("write report", "err", err)
		return exitFailed
	}
	if stopped {
		return stopCode
	}
	if r.Failed() {
		return exitFailed
	}
	return exitOK
}
