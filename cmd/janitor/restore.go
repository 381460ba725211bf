package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/janitorhq/janitor/cmd/config"
	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/janitor"
)

const restoreUsage = `usage: janitor restore [--config FILE] --shard NAME SCHEMA.TABLE [--log-level LEVEL] [--log-format FORMAT]
  renames a table janitor holds (execute.hold) back to its original name, with its
  original comment, together with the tables of its migration held with it.
  TABLE is the original name or the hold name (_janitor_hold_...).
  The restored table's comment ends with "restored by janitor on DATE UTC: keep", so
  later runs keep it (reason restored); remove that from the comment to undo.
`

// restoreCommand is `janitor restore`. Flags may follow the table argument.
func restoreCommand(ctx context.Context, stdout, stderr io.Writer, code *int) *cobra.Command {
	var configPath, shard, logLevel, logFormat string
	c := &cobra.Command{
		Use:   "restore --config FILE --shard NAME SCHEMA.TABLE",
		Short: "undo a hold (execute.hold): rename a held table back",
		Args:  cobra.ArbitraryArgs, // checked in restoreCmd, with the usage
		Run: func(_ *cobra.Command, args []string) {
			*code = restoreCmd(ctx, configPath, shard, logLevel, logFormat, args, stdout, stderr)
		},
	}
	c.Flags().StringVar(&configPath, "config", "", "path to the YAML configuration (default: $JANITOR_CONFIG)")
	c.Flags().StringVar(&shard, "shard", "", "the shard the table is held on (required)")
	c.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	c.Flags().StringVar(&logFormat, "log-format", "text", "text or json (logs go to stderr)")
	complete(c, &configPath)
	return c
}

// restoreCmd runs `janitor restore` with its parsed flags and arguments.
func restoreCmd(ctx context.Context, configPath, shard, logLevel, logFormat string, rest []string, stdout, stderr io.Writer) int {
	if configPath == "" {
		configPath = os.Getenv("JANITOR_CONFIG")
	}
	if configPath == "" || shard == "" || len(rest) != 1 {
		fmt.Fprintf(stderr, "janitor restore: --config, --shard and one SCHEMA.TABLE are required (got %d table arguments)\n%s", len(rest), restoreUsage)
		return exitUsage
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "janitor restore: %v\n", err)
		return exitUsage
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "janitor: %v\n", err)
		return exitUsage
	}
	j := janitor.New(cfg, log)
	schema, table, err := splitName(ctx, j, shard, rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "janitor restore: %v\n", err)
		return exitUsage
	}
	done, err := j.Restore(ctx, shard, schema, table)
	if err != nil {
		fmt.Fprintf(stderr, "janitor restore: %v\n", err)
		return exitFailed
	}
	for _, r := range done {
		fmt.Fprintf(stdout, "restored %s to %s on shard %s (held until %s UTC)",
			dbconn.QualifiedName(r.Schema, r.HoldName), dbconn.QualifiedName(r.Schema, r.Table), shard, r.Until.Format("2006-01-02 15:04:05"))
		if r.Note != "" {
			fmt.Fprintf(stdout, ": %s", r.Note)
		}
		fmt.Fprintln(stdout)
		if r.Marked {
			fmt.Fprintln(stdout, `  its comment now ends with "restored by janitor on ... UTC: keep": later runs keep it (reason restored); remove that from the comment to let janitor drop it again`)
		} else if r.CommentRestored {
			fmt.Fprintf(stdout, "  later runs will hold it again: to keep it, add to policy.keep in the configuration:\n    - %s\n", r.KeepEntry)
		}
	}
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
