package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janitorhq/janitor/cmd/config"
	"github.com/janitorhq/janitor/report"
)

// The command line is cobra's (github.com/spf13/cobra), for its shell completion and a
// --help on every command; the flags, their help, the messages and the exit codes are
// janitor's own, from the tables below, as they were before cobra.

const usage = `usage:
  janitor report [flags]   inventory leftovers, drop nothing
  janitor run    [flags]   plan drops (dry run), or drop with --execute
  janitor serve  [flags]   run on a schedule, serve /metrics
  janitor holds  [flags]   restore held tables asked for by their original name (--execute); every few minutes
  janitor restore --config FILE --shard NAME SCHEMA.TABLE   undo a hold (execute.hold): rename a held table back
  janitor version
  janitor completion bash|zsh|fish   print a shell completion script
  janitor help [COMMAND]

Run 'janitor COMMAND --help' for a command's flags. The configuration file is
--config FILE, or else $JANITOR_CONFIG.
`

// options holds every flag; each command defines only the ones it takes.
type options struct {
	config, output, logLevel, logFormat string
	execute, dryRun, notify, noNotify   bool
	shards                              shardList
	partition                           string
}

// flagDef is one flag: how it is written in help, what it does, and how to define it.
type flagDef struct {
	name, arg, help string
	define          func(fs *pflag.FlagSet, o *options, name string)
}

func stringFlag(field func(*options) *string, def string) func(*pflag.FlagSet, *options, string) {
	return func(fs *pflag.FlagSet, o *options, name string) { fs.StringVar(field(o), name, def, "") }
}

func boolFlag(field func(*options) *bool) func(*pflag.FlagSet, *options, string) {
	return func(fs *pflag.FlagSet, o *options, name string) { fs.BoolVar(field(o), name, false, "") }
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
	// pt-online-schema-change and gh-ost users type it: the default, said out loud.
	"dry-run": {"dry-run", "", "print the plan, drop nothing (the default; contradicts --execute)",
		boolFlag(func(o *options) *bool { return &o.dryRun })},
	"shard": {"shard", "NAME", "visit only this shard (repeat, or separate names with commas); turns notifications off unless --notify",
		func(fs *pflag.FlagSet, o *options, name string) { fs.Var(&o.shards, name, "") }},
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
		[]string{"config", "execute", "dry-run", "output", "shard", "partition", "notify", "no-notify", "log-level", "log-format"}},
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

const completionUsage = `usage: janitor completion bash|zsh|fish

prints a shell completion script for janitor's commands, flags, --output values and
--shard names (read from --config or $JANITOR_CONFIG):
  bash:  source <(janitor completion bash)        (needs the bash-completion package)
  zsh:   janitor completion zsh > "${fpath[1]}/_janitor"
  fish:  janitor completion fish > ~/.config/fish/completions/janitor.fish
`

// usageError is a usage problem cobra found (a flag, an argument): exit 2.
type usageError struct{ cmd, msg string }

func (e *usageError) Error() string { return e.msg }

// run is janitor with args (without the program name); it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	code := exitOK
	root := newRoot(ctx, stdout, stderr, &code)
	root.SetArgs(doubleDash(args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ue *usageError
		if errors.As(err, &ue) && ue.cmd != "" {
			fmt.Fprintf(stderr, "janitor %s: %v\nRun 'janitor %s --help' for its flags.\n", ue.cmd, ue.msg, ue.cmd)
		} else {
			fmt.Fprintf(stderr, "janitor: %v\n", err)
		}
		return exitUsage
	}
	return code
}

// doubleDash writes -name as --name for janitor's long flags: Go's flag package, which
// janitor's command line used before cobra, took both.
func doubleDash(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 {
			if _, ok := flagDefs[name]; ok || name == "help" {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// newRoot builds the command tree; each command's exit status goes to *code.
func newRoot(ctx context.Context, stdout, stderr io.Writer, code *int) *cobra.Command {
	var version bool
	root := &cobra.Command{
		Use:           "janitor",
		Short:         "finds and drops the tables online schema-change tools leave behind",
		SilenceErrors: true,
		SilenceUsage:  true,
		// A first word that is no command lands here (cobra would otherwise print its
		// own "unknown command" text and exit 0).
		Args: cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			switch {
			case version:
				printVersion(stdout)
			case len(args) > 0:
				fmt.Fprintf(stderr, "janitor: unknown command %q\n%s", args[0], usage)
				*code = exitUsage
			default:
				fmt.Fprint(stderr, usage)
				*code = exitUsage
			}
			return nil
		},
	}
	root.Flags().BoolVar(&version, "version", false, "print the version")
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { help(c, stdout) })
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c.Parent() == nil {
			// `janitor --bogus`: no command named, as before cobra.
			flag := strings.TrimPrefix(err.Error(), "unknown flag: ")
			if _, arg, ok := strings.Cut(flag, " in "); ok { // "unknown shorthand flag: 'x' in -x"
				flag = arg
			}
			return &usageError{"", fmt.Sprintf("unknown command %q\n%s", flag, strings.TrimSuffix(usage, "\n"))}
		}
		return flagError(c.Name(), err)
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]",
		Short: "print a command's help",
		Args:  cobra.ArbitraryArgs,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []cobra.Completion{"report", "run", "serve", "holds", "restore", "version", "completion"}, cobra.ShellCompDirectiveNoFileComp
		},
		Run: func(c *cobra.Command, args []string) {
			if len(args) == 0 {
				fmt.Fprint(stdout, usage)
				return
			}
			sub, _, err := c.Root().Find(args[:1])
			if err != nil || sub == c.Root() || sub.Hidden {
				fmt.Fprintf(stderr, "janitor help: unknown command %q\n%s", args[0], usage)
				*code = exitUsage
				return
			}
			help(sub, stdout)
		},
	})
	for _, name := range []string{"report", "run", "serve", "holds"} {
		root.AddCommand(jobCommand(ctx, name, stdout, stderr, code))
	}
	root.AddCommand(restoreCommand(ctx, stdout, stderr, code), &cobra.Command{
		Use:   "version",
		Short: "print the version, revision and build date",
		Args:  noArgs,
		Run:   func(*cobra.Command, []string) { printVersion(stdout) },
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(completionCommand(stdout))
	return root
}

// help prints c's help: janitor's own text for every command.
func help(c *cobra.Command, w io.Writer) {
	switch name := c.Name(); {
	case c.Parent() == nil:
		fmt.Fprint(w, usage)
	case name == "restore":
		fmt.Fprint(w, restoreUsage)
	case name == "completion":
		fmt.Fprint(w, completionUsage)
	case name == "version":
		fmt.Fprint(w, "usage: janitor version\n\nprints the version, revision, build date, Go version and platform\n")
	default:
		commandHelp(w, name)
	}
}

// flagError words a flag problem as janitor always has: a flag another command takes
// is named as such.
func flagError(cmd string, err error) error {
	msg := err.Error()
	var name string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		name = strings.TrimPrefix(msg, "unknown flag: --")
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// "unknown shorthand flag: 'x' in -x"
		_, name, _ = strings.Cut(msg, " in ")
		name = strings.TrimLeft(name, "-")
	}
	if name != "" {
		if _, known := flagDefs[name]; known && cmd != "restore" && !slices.Contains(commands[cmd].flags, name) {
			var by []string
			for _, c := range []string{"report", "run", "serve", "holds"} {
				if slices.Contains(commands[c].flags, name) {
					by = append(by, c)
				}
			}
			return &usageError{cmd, fmt.Sprintf("--%s is not a %s flag (it is for %s)", name, cmd, strings.Join(by, " and "))}
		}
		return &usageError{cmd, "flag provided but not defined: --" + name}
	}
	return &usageError{cmd, msg}
}

func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{c.Name(), fmt.Sprintf("unexpected argument %q", args[0])}
	}
	return nil
}

// jobCommand is report, run, serve or holds.
func jobCommand(ctx context.Context, name string, stdout, stderr io.Writer, code *int) *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   name,
		Short: commands[name].summary,
		Args:  noArgs,
		Run:   func(*cobra.Command, []string) { *code = runCommand(ctx, name, o, stdout, stderr) },
	}
	for _, f := range commands[name].flags {
		flagDefs[f].define(c.Flags(), o, f)
	}
	complete(c, &o.config)
	return c
}

// complete registers the completions of a command's flag values; --shard's are the
// shards of the configuration *configPath names.
func complete(c *cobra.Command, configPath *string) {
	values := func(vs ...string) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return vs, cobra.ShellCompDirectiveNoFileComp
		}
	}
	register := func(flag string, fn func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective)) {
		if c.Flags().Lookup(flag) != nil {
			_ = c.RegisterFlagCompletionFunc(flag, fn)
		}
	}
	register("output", values(report.Formats...))
	register("log-level", values("debug", "info", "warn", "error"))
	register("log-format", values("text", "json"))
	register("config", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	register("partition", values())
	register("shard", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return shardNames(*configPath), cobra.ShellCompDirectiveNoFileComp
	})
}

// shardNames are the configured shards, for completing --shard; none when the
// configuration cannot be loaded (completion must not print errors into a prompt).
func shardNames(path string) []cobra.Completion {
	if path == "" {
		path = os.Getenv("JANITOR_CONFIG")
	}
	if path == "" {
		return nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil
	}
	var names []cobra.Completion
	for _, s := range cfg.Shards {
		names = append(names, s.Name)
	}
	return names
}

// completionCommand is `janitor completion SHELL`, with cobra's scripts, which call
// back into the binary (a hidden __complete command) for the values.
func completionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish",
		Short:     "print a shell completion script",
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 || !slices.Contains(c.ValidArgs, args[0]) {
				return &usageError{"completion", "want one shell: bash, zsh or fish"}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(stdout, true)
			case "zsh":
				return root.GenZshCompletion(stdout)
			default:
				return root.GenFishCompletion(stdout, true)
			}
		},
	}
}
