package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/janitorhq/janitor/cmd/config"
	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/janitor"
)

const restoreUsage = `usage: janitor restore [--config FILE] --shard NAME SCHEMA.TABLE
  renames a table janitor holds (execute.hold) back to its original name, with its
  original comment, together with the tables of its migration held with it.
  TABLE is the original name or the hold name (_janitor_hold_...).
`

// restoreCmd is `janitor restore`.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, restoreUsage) }
	configPath := fs.String("config", "", "path to the YAML configuration (default: $JANITOR_CONFIG)")
	shard := fs.String("shard", "", "the shard the table is held on (required)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json (logs go to stderr)")
	// Flags may follow the table argument: parse what comes after it too.
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *configPath == "" {
		*configPath = os.Getenv("JANITOR_CONFIG")
	}
	if *configPath == "" || *shard == "" || len(rest) != 1 {
		fmt.Fprintf(stderr, "janitor restore: --config, --shard and one SCHEMA.TABLE are required (got %d table arguments)\n%s", len(rest), restoreUsage)
		return exitUsage
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "janitor restore: %v\n", err)
		return exitUsage
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "janitor: %v\n", err)
		return exitUsage
	}
	j := janitor.New(cfg, log)
	schema, table, err := splitName(ctx, j, *shard, rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "janitor restore: %v\n", err)
		return exitUsage
	}
	done, err := j.Restore(ctx, *shard, schema, table)
	if err != nil {
		fmt.Fprintf(stderr, "janitor restore: %v\n", err)
		return exitFailed
	}
	for _, r := range done {
		fmt.Fprintf(stdout, "restored %s to %s on shard %s (held until %s UTC)",
			dbconn.QualifiedName(r.Schema, r.HoldName), dbconn.QualifiedName(r.Schema, r.Table), *shard, r.Until.Format("2006-01-02 15:04:05"))
		if r.Note != "" {
			fmt.Fprintf(stdout, ": %s", r.Note)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintln(stdout, "note: a restored leftover still reads as one; a later `run --execute` holds it again once it is policy.min_age old by its CREATE_TIME (which the restore's comment change renews on MariaDB). Rename it, or drop what made it look dead, if it is to stay.")
	return exitOK
}

// splitName splits SCHEMA.TABLE. Either part may hold dots; `schema`.`table` with
// backticks (doubled inside) is read as quoted, otherwise the split is at the first
// dot whose left side is a schema on the shard.
func splitName(ctx context.Context, j *janitor.Janitor, shard, arg string) (string, string, error) {
	if s, t, ok := splitQuoted(arg); ok {
		return s, t, nil
	}
	var cuts []int
	for i := range arg {
		if arg[i] == '.' {
			cuts = append(cuts, i)
		}
	}
	if len(cuts) == 0 {
		return "", "", fmt.Errorf("%q: want SCHEMA.TABLE", arg)
	}
	if len(cuts) == 1 {
		return arg[:cuts[0]], arg[cuts[0]+1:], nil
	}
	for _, c := range cuts {
		ok, err := j.SchemaExists(ctx, shard, arg[:c])
		if err != nil {
			return "", "", err
		}
		if ok {
			return arg[:c], arg[c+1:], nil
		}
	}
	return "", "", errors.New(arg + ": no prefix before a dot is a schema on the shard; quote the parts as `schema`.`table`")
}

func splitQuoted(arg string) (string, string, bool) {
	parse := func(s string) (string, string, bool) {
		if !strings.HasPrefix(s, "`") {
			return "", "", false
		}
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '`' {
				if i+1 < len(s) && s[i+1] == '`' {
					b.WriteByte('`')
					i++
					continue
				}
				return b.String(), s[i+1:], true
			}
			b.WriteByte(s[i])
		}
		return "", "", false
	}
	schema, rest, ok := parse(arg)
	if !ok || !strings.HasPrefix(rest, ".") {
		return "", "", false
	}
	table, rest, ok := parse(rest[1:])
	if !ok || rest != "" {
		return "", "", false
	}
	return schema, table, true
}
