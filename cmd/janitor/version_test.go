package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/report"
)

// stampFlags are the -ldflags -X settings of scripts/release.sh and deploy/Dockerfile,
// with test values.
const (
	stampVersion  = "v9.8.7-test"
	stampRevision = "0123456789abcdef0123456789abcdef01234567"
	stampDate     = "2026-12-01T10:20:30Z"
)

func stampFlags() string {
	const pkg = "github.com/prometheus/common/version."
	return "-X " + pkg + "Version=" + stampVersion + " -X " + pkg + "Revision=" + stampRevision + " -X " + pkg + "BuildDate=" + stampDate
}

// TestVersionStamped: a binary built as the release builds it says its version,
// revision and build date in `janitor version` and in the JSON report (the report's
// "build" object), read from prometheus/common/version, which janitor_build_info reads
// too.
func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "janitor")
	if out, err := exec.Command("go", "build", "-ldflags", stampFlags(), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("janitor version: %v", err)
	}
	for _, want := range []string{"janitor " + stampVersion + "\n", "revision:   " + stampRevision, "build date: " + stampDate} {
		if !strings.Contains(string(out), want) {
			t.Errorf("janitor version lacks %q:\n%s", want, out)
		}
	}
	p := writeConfig(t, "shards:\n  - name: sandbox\n    dsn: \""+testdb.PrimaryDSN(t)+"\"\n")
	cmd := exec.Command(bin, "report", "--config", p, "--output", "json", "--no-notify")
	js, err := cmd.Output()
	if err != nil {
		t.Fatalf("janitor report: %v", err)
	}
	var r struct {
		Build *report.Build `json:"build"`
	}
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if want := (report.Build{Version: stampVersion, Revision: stampRevision, BuildDate: stampDate}); r.Build == nil || *r.Build != want {
		t.Errorf("report build = %+v, want %+v", r.Build, want)
	}
}

// TestVersionUnstamped: a plain `go build` still names a version (Go's module version,
// "(devel)" in a clone) rather than an empty string.
func TestVersionUnstamped(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	if code != exitOK || strings.HasPrefix(stdout, "janitor \n") || !strings.Contains(stdout, "revision:") || !strings.Contains(stdout, "build date:") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}
