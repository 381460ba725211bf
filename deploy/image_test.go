package deploy

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

// dockerfile is what the image test needs from deploy/Dockerfile.
type dockerfile struct {
	build      string            // the build stage's `go build …` command, as the RUN line has it
	copies     map[string]string // final stage: path in the image → path in the build stage
	uid, gid   int
	entrypoint []string
	cmd        []string
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{copies: map[string]string{}}
	copyFrom := regexp.MustCompile(`^COPY --from=build (\S+) (\S+)$`)
	user := regexp.MustCompile(`^USER (\d+):(\d+)$`)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build"):
			d.build = strings.TrimPrefix(line, "RUN ")
		case copyFrom.MatchString(line):
			m := copyFrom.FindStringSubmatch(line)
			d.copies[m[2]] = m[1]
		case user.MatchString(line):
			m := user.FindStringSubmatch(line)
			d.uid, _ = strconv.Atoi(m[1])
			d.gid, _ = strconv.Atoi(m[2])
		case strings.HasPrefix(line, "ENTRYPOINT "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "ENTRYPOINT ")), &d.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT is not an exec-form array: %v", err)
			}
		case strings.HasPrefix(line, "CMD "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "CMD ")), &d.cmd); err != nil {
				t.Fatalf("CMD is not an exec-form array: %v", err)
			}
		}
	}
	if d.build == "" || len(d.copies) == 0 || d.uid == 0 || len(d.entrypoint) == 0 || len(d.cmd) == 0 {
		t.Fatalf("Dockerfile: want a go build RUN line, COPY --from=build lines, a non-root USER uid:gid, ENTRYPOINT and CMD; got %+v", d)
	}
	return d
}

// TestImageRunsFromScratch builds janitor with the Dockerfile's own build command, lays
// out the final stage's files in an otherwise empty root (what FROM scratch gives), and
// runs the image's ENTRYPOINT and CMD there as the image's USER against the sandbox
// primary, with nothing in the root writable. No Docker daemon runs here; this checks
// what the image holds: a static binary that needs no libc, no /etc/passwd, no time-zone
// files and no writable disk, and a default command that works.
func TestImageRunsFromScratch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot into the image's file tree (CI runs as root)")
	}
	d := parseDockerfile(t)
	dsn := testdb.PrimaryDSN(t)
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+dbconn.QualifiedName(s, "__orders_old")+" (id INT PRIMARY KEY)")

	// The build stage, run here: the same command, writing to a temporary /out.
	out := t.TempDir()
	build := exec.Command("sh", "-c", strings.ReplaceAll(d.build, "/out/", out+"/"))
	build.Dir = ".."
	build.Env = append(os.Environ(), "VERSION=image-test")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", d.build, err, b)
	}

	// The final stage: only what the Dockerfile copies.
	root := t.TempDir()
	for dst, src := range d.copies {
		from := src
		if strings.HasPrefix(src, "/out/") {
			from = filepath.Join(out, strings.TrimPrefix(src, "/out/"))
		}
		copyFile(t, from, filepath.Join(root, dst))
	}
	// The ConfigMap's mount, at the path CMD names.
	cfgPath := d.cmd[len(d.cmd)-1]
	body := "shards:\n  - name: image\n    dsn: \"" + dsn + "\"\ndiscovery:\n  schemas: [" + s + "]\npolicy:\n  min_age: 0s\n"
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(cfgPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, cfgPath), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	// readOnlyRootFilesystem, as far as a non-root user can tell: nothing is writable.
	if err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, 0, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(root, 0o755) })

	run := func(args ...string) (string, string, error) {
		c := exec.Command(args[0], args[1:]...)
		c.Dir = "/"
		c.Env = []string{} // scratch has no environment beyond what the pod sets
		c.SysProcAttr = &syscall.SysProcAttr{Chroot: root,
			Credential: &syscall.Credential{Uid: uint32(d.uid), Gid: uint32(d.gid), NoSetGroups: true}}
		var so, se strings.Builder
		c.Stdout, c.Stderr = &so, &se
		err := c.Run()
		return so.String(), se.String(), err
	}
	so, se, err := run(append(d.entrypoint, "version")...)
	if err != nil || !strings.Contains(so, "image-test") {
		t.Fatalf("version in the image: %v\nstdout: %s\nstderr: %s", err, so, se)
	}
	so, se, err = run(append(d.entrypoint, d.cmd...)...)
	if err != nil {
		t.Fatalf("the image's default command failed: %v\nstdout: %s\nstderr: %s", err, so, se)
	}
	if !strings.Contains(so, s+".__orders_old") || !strings.Contains(so, "drop") {
		t.Errorf("the image's report does not list the leftover:\n%s", so)
	}
	if pc, err := mysql.ParseDSN(dsn); err == nil && pc.Passwd != "" && strings.Contains(so+se, pc.Passwd) {
		t.Error("the DSN's password reached the output")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatalf("the image copies %s: %v", from, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm()|0o444)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
