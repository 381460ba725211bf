// Command janitor finds the tables online schema-change tools leave behind on MySQL and
// MariaDB shards, reports what they hold, and drops the dead ones under throttling.
//
//	janitor report [--config FILE] [--output text|json|markdown] [--shard NAME]
//	janitor run    [--config FILE] [--execute] [--output ...] [--shard NAME]
//	janitor serve  [--config FILE]
//	janitor holds  [--config FILE] [--execute] [--output ...] [--shard NAME]
//	janitor restore --config FILE --shard NAME SCHEMA.TABLE
//	janitor version | help [COMMAND]
//
// Each command's flags: janitor COMMAND --help. The configuration file is --config,
// or else $JANITOR_CONFIG.
//
// Exit status: 0 every shard answered (and, for run, nothing failed) — warnings, such
// as a configured schema the server does not have, are in the report and the log but
// do not change it; 1 a shard or a table failed, or serve could not listen; 2 bad
// configuration or usage; 143 (130 for SIGINT) stopped by a signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

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
  janitor report [flags]   inventory leftovers, drop nothing
  janitor run    [flags]   plan drops (dry run), or drop with --execute
  janitor serve  [flags]   run on a schedule, serve /metrics
  janitor holds  [flags]   restore held tables asked for by their original name (--execute); every few minutes
  janitor restore --config FILE --shard NAME SCHEMA.TABLE   undo a hold (execute.hold): rename a held table back
  janitor version
  janitor help [COMMAND]

Run 'janitor COMMAND --help' for a command's flags. The configuration file is
--config FILE, or else $JANITOR_CONFIG.
`

// options holds every flag; each command defines only the ones it takes.
type options struct {
	config, output, logLevel, logFormat string
	execute, notify, noNotify           bool
	shards                              shardList
	partition                           string
}

// flagDef is one flag: how it is written in help, what it does, and how to define it.
type flagDef struct {
	name, arg, help string
	define          func(fs *flag.FlagSet, o *options, name string)
}

func stringFlag(field func(*options) *string, def string) func(*flag.FlagSet, *options, string) {
	return func(fs *flag.FlagSet, o *options, name string) { fs.StringVar(field(o), name, def, "") }
}

func boolFlag(field func(*options) *bool) func(*flag.FlagSet, *options, string) {
	return func(fs *flag.FlagSet, o *options, name string) { fs.BoolVar(field(o), name, false, "") }
}

// flagDefs lists every flag once; commands name the ones they take. To add a flag,
// add it here and to the commands that take it.
var flagDefs = map[string]flagDef{
	"config": {"config", "FILE", "the YAML configuration (default: $JANITOR_CONFIG)",
		stringFlag(func(o *options) *string { return &o.config }, "")},
	"output": {"output", "FORMAT", "report format: text, json or markdown (default text)",
		stringFlag(func(o *options) *string { return &o.output }, "text")},
	"execute": {"execute", "", "act: run drops (and holds), holds restores (default: print the plan)",
		boolFlag(func(o *options) *bool { return &o.execute })},
	"shard": {"shard", "NAME", "visit only this shard (repeat, or separate names with commas); turns notifications off unless --notify",
		func(fs *flag.FlagSet, o *options, name string) { fs.Var(&o.shards, name, "") }},
	"partition": {"partition", "INDEX/COUNT", "visit only this pod's share of the shards (an Indexed Job: $(JOB_COMPLETION_INDEX)/COUNT; default $" + PartitionEnv + ")",
		stringFlag(func(o *options) *string { return &o.partition }, "")},
	"notify": {"notify", "", "post to Slack and push metrics even though --shard is given",
		boolFlag(func(o *options) *bool { return &o.notify })},
	"no-notify": {"no-notify", "", "post nothing to Slack and push no metrics",
		boolFlag(func(o *options) *bool { return &o.noNotify })},
	"log-level": {"log-level", "LEVEL", "debug, info, warn or error (default info)",
		stringFlag(func(o *options) *string { return &o.logLevel }, "info")},
	"log-format": {"log-format", "FORMAT", "text or json; logs go to stderr (default text)",
		stringFlag(func(o *options) *string { return &o.logFormat }, "text")},
}

// command is one subcommand: what it does and the flags it takes, in help order.
type command struct {
	summary string
	flags   []string
}

var commands = map[string]command{
	"report": {"inventory leftovers and their verdicts; drop nothing",
		[]string{"config", "output", "shard", "partition", "notify", "no-notify", "log-level", "log-format"}},
	"run": {"plan drops (dry run), or drop the dead leftovers with --execute",
		[]string{"config", "execute", "output", "shard", "partition", "notify", "no-notify", "log-level", "log-format"}},
	"serve": {"run on the schedule in serve.interval and serve /metrics, /healthz and /readyz",
		[]string{"config", "no-notify", "log-level", "log-format"}},
	"holds": {"look at janitor's holds only: with --execute, restore each held table a statement asked for by its original name (light: run it every few minutes)",
		[]string{"config", "execute", "output", "shard", "notify", "no-notify", "log-level", "log-format"}},
}

// commandHelp prints a command's usage and flags, in the double-dash form.
func commandHelp(w io.Writer, name string) {
	c := commands[name]
	fmt.Fprintf(w, "usage: janitor %s [flags]\n\n%s\n\nflags:\n", name, c.summary)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range c.flags {
		d := flagDefs[f]
		arg := "--" + d.name
		if d.arg != "" {
			arg += " " + d.arg
		}
		fmt.Fprintf(tw, "  %s\t%s\n", arg, d.help)
	}
	fmt.Fprintf(tw, "  --help\tprint this help\n")
	_ = tw.Flush()
}

// parse reads args for cmd. A flag another command takes is named as such.
func parse(cmd string, args []string) (*options, bool, error) {
	o := &options{}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	takes := map[string]bool{}
	for _, f := range commands[cmd].flags {
		takes[f] = true
		flagDefs[f].define(fs, o, f)
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if _, known := flagDefs[name]; known && !takes[name] {
			var by []string
			for _, c := range []string{"report", "run", "serve", "holds"} {
				if slices.Contains(commands[c].flags, name) {
					by = append(by, c)
				}
			}
			return nil, false, fmt.Errorf("--%s is not a %s flag (it is for %s)", name, cmd, strings.Join(by, " and "))
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, true, nil
		}
		return nil, false, errors.New(strings.Replace(err.Error(), "provided but not defined: -", "provided but not defined: --", 1))
	}
	if fs.NArg() > 0 {
		return nil, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, false, nil
}

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
	case "help", "-h", "-help", "--help":
		if len(args) > 0 {
			if args[0] == "restore" {
				fmt.Fprint(stdout, restoreUsage)
				return exitOK
			}
			if _, ok := commands[args[0]]; ok {
				commandHelp(stdout, args[0])
				return exitOK
			}
			fmt.Fprintf(stderr, "janitor help: unknown command %q\n%s", args[0], usage)
			return exitUsage
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	case "restore":
		return restoreCmd(ctx, args, stdout, stderr)
	}
	if _, ok := commands[cmd]; !ok {
		fmt.Fprintf(stderr, "janitor: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
	o, help, err := parse(cmd, args)
	if help {
		commandHelp(stdout, cmd)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "janitor %s: %v\nRun 'janitor %s --help' for its flags.\n", cmd, err, cmd)
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
	app := &app{cfg: cfg, log: log, stdout: stdout, version: buildVersion(), configPath: configPath, fleet: cfg.Shards}
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
	m := metrics.New(a.version)
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
