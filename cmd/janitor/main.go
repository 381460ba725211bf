// Command janitor finds the tables online schema-change tools leave behind on MySQL and
// MariaDB shards, reports what they hold, and drops the dead ones under throttling.
//
//	janitor report --config FILE [--output text|json|markdown]
//	janitor run    --config FILE [--execute] [--output text|json|markdown]
//	(report and run: --shard NAME[,NAME] visits only those shards)
//	janitor serve  --config FILE
//	janitor version
//
// Exit status: 0 every shard answered (and, for run, nothing failed); 1 a shard or a
// table failed; 2 bad configuration or usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"

	"github.com/janitorhq/janitor/cmd/config"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

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

const usage = `usage:
  janitor report --config FILE [--output text|json|markdown]   inventory leftovers, drop nothing
  janitor run    --config FILE [--execute] [--output ...]       plan drops (dry run), or drop with --execute
                 report and run take --shard NAME[,NAME] (repeatable) to visit only those shards
  janitor serve  --config FILE                                  run on a schedule, serve /metrics
  janitor version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(stdout, "janitor", buildVersion())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "report", "run", "serve":
	default:
		fmt.Fprintf(stderr, "janitor: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the YAML configuration (required)")
	output := fs.String("output", "text", "report format: text, json or markdown")
	execute := fs.Bool("execute", false, "run: really drop (default: print the plan)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json (logs go to stderr)")
	var only shardList
	fs.Var(&only, "shard", "report, run: only this shard (repeat, or separate names with commas)")
	partition := fs.String("partition", "", "report, run: only this pod's share of the shards, INDEX/COUNT (default $"+PartitionEnv+")")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "janitor %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return exitUsage
	}
	if *configPath == "" {
		fmt.Fprintf(stderr, "janitor %s: --config FILE is required\n", cmd)
		return exitUsage
	}
	if !validFormat(*output) {
		fmt.Fprintf(stderr, "janitor %s: --output %q: want one of %s\n", cmd, *output, strings.Join(report.Formats, ", "))
		return exitUsage
	}
	if len(only) > 0 && cmd == "serve" {
		fmt.Fprintf(stderr, "janitor serve: --shard belongs to report and run; serve visits every configured shard\n")
		return exitUsage
	}
	if *execute && cmd != "run" {
		fmt.Fprintf(stderr, "janitor %s: --execute belongs to run\n", cmd)
		return exitUsage
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "janitor %s: %v\n", cmd, err)
		return exitUsage
	}
	// The MySQL driver logs on its own to stderr ("[mysql] … closing bad idle
	// connection"); route it through the same logger, so --log-format json stays JSON.
	_ = mysql.SetLogger(driverLog{log})
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "janitor: %v\n", err)
		return exitUsage
	}
	app := &app{cfg: cfg, log: log, stdout: stdout, version: buildVersion(), configPath: *configPath, fleet: cfg.Shards}
	if len(only) > 0 {
		if app.cfg.Shards, err = selectShards(cfg.Shards, only); err != nil {
			fmt.Fprintf(stderr, "janitor %s: %v\n", cmd, err)
			return exitUsage
		}
	}
	if err := app.partitionFrom(cmd, *partition); err != nil {
		fmt.Fprintf(stderr, "janitor %s: %v\n", cmd, err)
		return exitUsage
	}
	switch cmd {
	case "report":
		return app.once(ctx, report.ModeReport, *output)
	case "run":
		mode := report.ModeDryRun
		if *execute {
			mode = report.ModeExecute
		}
		return app.once(ctx, mode, *output)
	default:
		return app.serve(ctx)
	}
}

// shardList collects --shard values.
type shardList []string

func (l *shardList) String() string { return strings.Join(*l, ",") }

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

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "unknown"
}

// app carries what every command needs.
type app struct {
	cfg        janitor.Config
	log        *slog.Logger
	stdout     io.Writer
	version    string
	configPath string
	// fleet is every configured shard; cfg.Shards may be fewer (--shard). Metrics
	// carry the whole fleet so that a partial run's push keeps the others' figures.
	fleet []janitor.ShardConfig
	// partition is this pod's share of an Indexed Job (--partition), nil otherwise.
	partition *janitor.Partition
}

// once runs one job (a CronJob's run), pushes its metrics, writes the report and picks
// the exit code.
func (a *app) once(ctx context.Context, mode, format string) int {
	m := metrics.New(a.version)
	if a.partition != nil {
		m.InPartition(fmt.Sprint(a.partition.Index))
	}
	if len(a.cfg.Shards) < len(a.fleet) {
		m.Partial()
	}
	m.Init(a.shardNames())
	a.resume(ctx, m)
	r := a.job(ctx, m, mode)
	if ctx.Err() != nil {
		a.log.Warn("stopped by signal: the report is partial; tables not reached are deferred")
	}
	a.push(ctx, m)
	if err := report.Write(a.stdout, r, format); err != nil {
		a.log.Error("write report", "err", err)
		return exitFailed
	}
	if r.Failed() {
		return exitFailed
	}
	return exitOK
}
