package janitor_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// TestMissingSchemaIsNamed: `discovery.schemas: [nosuchdb]` (a typo) used to give 0
// leftovers and no word, so that shard was never cleaned. Each configured schema the
// server does not show is now a shard warning, in the report and the log, saying why:
// it does not exist, it differs only in case, or the account cannot see it. The shard
// still answers (no error) and the schemas that exist are still inventoried.
func TestMissingSchemaIsNamed(t *testing.T) {
	db := testdb.Primary(t)
	schema := testdb.Schema(t, db)
	oneLeftover(t, db, schema)
	hidden := testdb.Schema(t, db) // exists; the limited account holds no grant on it
	twin := "jt_CaseTwin_" + strings.TrimPrefix(schema, "jt_testmissingschemaisnamed_")
	testdb.Exec(t, db, "CREATE DATABASE "+dbconn.QuoteIdent(twin))
	t.Cleanup(func() { testdb.Exec(t, db, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(twin)) })

	cfg := config(t, schema)
	cfg.Discovery.Schemas = []string{schema, "jt_nosuchdb", strings.ToLower(twin)}
	cfg.Discovery.ExcludeSchemas = []string{strings.ToUpper(schema) + "_X", strings.ToUpper(twin), "jt_nosuchdb_2"}
	r, logs := reportWithLog(t, cfg)
	s := r.Shards[0]
	if s.Error != "" {
		t.Fatalf("a missing schema must not fail the shard: %s", s.Error)
	}
	if v := verdicts(r); v["__orders_old"] != "drop dead" {
		t.Errorf("the existing schema was not inventoried: %v", v)
	}
	want := []string{
		`discovery.schemas: schema "jt_nosuchdb" does not exist on this server`,
		`discovery.schemas: no schema "` + strings.ToLower(twin) + `" on this server, but there is "` + twin + `"`,
		`discovery.exclude_schemas: no schema "` + strings.ToUpper(twin) + `" on this server, but there is "` + twin + `", which is NOT excluded`,
	}
	if len(s.Warnings) != len(want) {
		t.Errorf("warnings = %q, want %d", s.Warnings, len(want))
	}
	for _, w := range want {
		if !containsPrefix(s.Warnings, w) {
			t.Errorf("no warning starting %q in %q", w, s.Warnings)
		}
		if !strings.Contains(logs, strings.ReplaceAll(w, `"`, `\"`)) {
			t.Errorf("the log lacks %q", w)
		}
	}
	// Every exclude_schemas entry naming nothing is logged, all in one line: a fleet's
	// shared list would otherwise bury the log in a line per other shard's schema.
	absent := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "nothing to exclude") {
			absent++
			if !strings.Contains(line, strings.ToUpper(schema)+"_X") || !strings.Contains(line, "jt_nosuchdb_2") {
				t.Errorf("the exclude_schemas entries naming nothing are not in one line: %s", line)
			}
		}
	}
	if absent != 1 {
		t.Errorf("%d log lines say nothing to exclude, want 1:\n%s", absent, logs)
	}
	var text bytes.Buffer
	if err := report.Write(&text, r, "text"); err != nil || !strings.Contains(text.String(), `  warning: discovery.schemas: schema "jt_nosuchdb" does not exist`) {
		t.Errorf("text report lacks the warning (%v):\n%s", err, text.String())
	}

	// An account that holds no grant on a schema cannot see it: say so, with the grant.
	primary, replica := account(t, []string{"PROCESS, " + monitorGrant(t) + " ON *.*", "SELECT, SHOW VIEW, TRIGGER, EVENT ON " + dbconn.QuoteIdent(schema) + ".*"})
	cfg = config(t, schema)
	cfg.Shards[0].DSN, cfg.Shards[0].Replicas[0].DSN = primary, replica
	cfg.Discovery.Schemas = []string{schema, hidden}
	r, _ = reportWithLog(t, cfg)
	// MariaDB tells "exists, no privilege" from "does not exist"; MySQL answers access
	// denied for both. Either way the warning names the schema and the grant to add.
	hw := strings.Join(r.Shards[0].Warnings, "\n")
	for _, w := range []string{`discovery.schemas: schema "` + hidden + `"`, "is not visible to this account", "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON *.*"} {
		if !strings.Contains(hw, w) {
			t.Errorf("warnings %q lack %q", hw, w)
		}
	}
	if len(r.Shards[0].Warnings) != 1 {
		t.Errorf("warnings = %q, want only the hidden schema's", r.Shards[0].Warnings)
	}
}

func reportWithLog(t *testing.T, cfg janitor.Config) (*report.Report, string) {
	t.Helper()
	var logs bytes.Buffer
	j := janitor.New(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	r := j.Report(context.Background())
	if len(r.Shards) != 1 {
		t.Fatalf("shards = %+v", r.Shards)
	}
	return r, logs.String()
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
