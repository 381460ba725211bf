// The habits DBAs bring (issue 19 §4): --help everywhere, --dry-run, shell completion,
// credentials from a MySQL option file.

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestEveryCommandHasHelp: --help, -h and `help COMMAND` print the command's usage on
// stdout and exit 0 for every command, restore, version and completion included (restore
// exited 2 on --help before).
func TestEveryCommandHasHelp(t *testing.T) {
	for _, cmd := range []string{"report", "run", "serve", "restore", "version", "completion"} {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, "usage: janitor "+cmd) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
			}
		}
	}
	if _, stdout, _ := runCLI(t, "restore", "--help"); !strings.Contains(stdout, "--shard NAME") {
		t.Errorf("restore's help does not name --shard:\n%s", stdout)
	}
}

// TestDryRunFlag: --dry-run is accepted by run (the default said out loud, as pt and
// gh-ost users type it); with --execute it is a usage error that says so.
func TestDryRunFlag(t *testing.T) {
	p := writeConfig(t, "shards:\n  - name: nowhere\n    dsn: \"u:p@tcp(127.0.0.1:1)/\"\ndiscovery:\n  connect_timeout: 1s\n")
	code, stdout, stderr := runCLI(t, "run", "--dry-run", "--config", p, "--no-notify", "--output", "json")
	// The shard cannot be reached (exit 1): what matters is that the flag is taken and the
	// run is the plan.
	if code == exitUsage || !strings.Contains(stdout, `"mode": "dry-run"`) {
		t.Errorf("run --dry-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"run", "--dry-run", "--execute"}, {"run", "--execute", "--dry-run", "--config", p}} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "--dry-run and --execute contradict each other") {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
	if _, stdout, _ := runCLI(t, "run", "--help"); !strings.Contains(stdout, "--dry-run") {
		t.Errorf("run's help lacks --dry-run:\n%s", stdout)
	}
}

// TestCompletion: `janitor completion SHELL` prints a script for bash, zsh and fish; the
// values it asks the binary for (cobra's __complete) are the commands, the --output
// formats and the configured shard names; bash itself, with the script loaded, completes
// them.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := runCLI(t, "completion", sh)
		if code != exitOK || !strings.Contains(stdout, "janitor") || !strings.Contains(stdout, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes, %q", sh, code, len(stdout), stderr)
		}
	}
	if code, _, stderr := runCLI(t, "completion", "tcsh"); code != exitUsage || !strings.Contains(stderr, "bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d, %q", code, stderr)
	}
	p := writeConfig(t, "shards:\n  - name: orders-1\n    dsn: \"u:p@tcp(127.0.0.1:1)/\"\n  - name: orders-2\n    dsn: \"u:p@tcp(127.0.0.1:2)/\"\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", ""}, "report\nrestore\nrun\nserve\n"},
		{[]string{"__complete", "run", "--output", ""}, "text\njson\nmarkdown\n"},
		{[]string{"__complete", "report", "--config", p, "--shard", ""}, "orders-1\norders-2\n"},
		{[]string{"__complete", "restore", "--config", p, "--shard", ""}, "orders-1\norders-2\n"},
	} {
		_, stdout, _ := runCLI(t, c.args...)
		var got []string
		for _, line := range strings.Split(stdout, "\n") {
			if line != "" && !strings.HasPrefix(line, ":") {
				name, _, _ := strings.Cut(line, "\t")
				got = append(got, name)
			}
		}
		for _, w := range strings.Split(strings.TrimSpace(c.want), "\n") {
			if !strings.Contains(strings.Join(got, "\n")+"\n", w+"\n") {
				t.Errorf("%v: %q not offered (got %q)", c.args, w, got)
			}
		}
	}

	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "janitor"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The script needs bash-completion's _get_comp_words_by_ref (Debian's bash-completion
	// package); without it, a stand-in that splits the line as it would here.
	script := `if [ -r /usr/share/bash-completion/bash_completion ]; then source /usr/share/bash-completion/bash_completion
else _get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }; fi
source <(janitor completion bash)
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); __start_janitor; echo "${COMPREPLY[*]}"; }
complete_words janitor r
complete_words janitor run --output ''
complete_words janitor report --config "$CFG" --shard ''
`
	cmd := exec.Command(bash, "-c", script)
	cmd.Env = append(cmd.Environ(), "PATH="+dir+":/usr/bin:/bin", "CFG="+p)
	// stderr has compopt's complaint that no completion is under way: only a shell's
	// Tab runs one.
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{"report restore run", "text json markdown", "orders-1 orders-2"}
	if len(lines) != len(want) {
		t.Fatalf("bash completed %q, want %q", lines, want)
	}
	for i := range want {
		for _, w := range strings.Fields(want[i]) {
			if !strings.Contains(" "+lines[i]+" ", " "+w+" ") {
				t.Errorf("bash: line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}

// TestNoCommand: a flag before any command is an unknown command, as before cobra; -flag
// is read as --flag, as Go's flag package did.
func TestNoCommand(t *testing.T) {
	for _, arg := range []string{"--execute", "--bogus", "-x"} {
		code, stdout, stderr := runCLI(t, arg)
		if code != exitUsage || stdout != "" || !strings.HasPrefix(stderr, "janitor: unknown command \""+arg+"\"\nusage:") {
			t.Errorf("%s: exit %d, %q, %q", arg, code, stdout, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "report", "-config", "/nonexistent.yaml"); code != exitUsage || !strings.Contains(stderr, "/nonexistent.yaml: not found") {
		t.Errorf("-config: exit %d, %q", code, stderr)
	}
}

// TestReportThroughOptionFile: `janitor report` connects to the sandbox primary with the
// credentials of a shard's MySQL option file (defaults_file), as a mounted Secret gives
// them.
func TestReportThroughOptionFile(t *testing.T) {
	c, err := dbconn.ParseDSN(testdb.PrimaryDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(c.Addr, ":")
	cnf := filepath.Join(t.TempDir(), "shard.cnf")
	if err := os.WriteFile(cnf, []byte("[client]\nuser = "+c.User+"\npassword = \""+c.Passwd+"\"\nhost = "+host+"\nport = "+port+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, "shards:\n  - name: sandbox\n    defaults_file: "+cnf+"\ndiscovery:\n  schemas: [janitor_no_such_schema]\n")
	code, stdout, stderr := runCLI(t, "report", "--config", p, "--output", "json", "--no-notify")
	if code != exitOK || !strings.Contains(stdout, `"status": "ok"`) {
		t.Errorf("report through an option file: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, c.Passwd) {
		t.Error("the password is in the output")
	}
}
