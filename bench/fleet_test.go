//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/janitorhq/janitor/dbconn"
)

// The fleet benchmark: N small MariaDB servers (JANITOR_BENCH_FLEET_SERVERS, default 8)
// of ~1,500 tables with 20 dead leftovers each, listed many times over to stand for a
// large fleet, plus a refused and a hanging shard. It runs the janitor binary as a
// subprocess, as a pod would, and reads wall time, CPU and peak RSS from its rusage.
const (
	fleetBasePort  = 31310
	fleetPassword  = "fleet-bench"
	tablesPerShard = 1500
	leftoversPer   = 20
)

type server struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

func startServer(t *testing.T, i int) *server {
	t.Helper()
	s := &server{dir: fmt.Sprintf("/var/tmp/sb-fleet-%d", i), port: fleetBasePort + i}
	cnf := filepath.Join(s.dir, "my.cnf")
	sock := filepath.Join(s.dir, "mysqld.sock")
	if err := os.MkdirAll(filepath.Join(s.dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[mariadbd]
datadir=%[1]s/data
tmpdir=%[1]s/tmp
socket=%[2]s
pid-file=%[1]s/mysqld.pid
log-error=%[1]s/error.log
port=%[3]d
bind-address=127.0.0.1
user=mysql
innodb_buffer_pool_size=32M
innodb_log_file_size=16M
performance_schema=OFF
skip-name-resolve
skip-log-bin
table_open_cache=2000
table_definition_cache=2000
`, s.dir, sock, s.port)
	if err := os.WriteFile(cnf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "chown", "-R", "mysql:mysql", s.dir)
	if _, err := os.Stat(filepath.Join(s.dir, "data", "mysql")); err != nil {
		run(t, "mariadb-install-db", "--defaults-file="+cnf, "--auth-root-authentication-method=socket", "--skip-test-db")
	}
	s.cmd = exec.Command("mariadbd", "--defaults-file="+cnf)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for exec.Command("mariadb", "--no-defaults", "-uroot", "-S", sock, "-e", "SELECT 1").Run() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("server %d did not start: see %s/error.log", i, s.dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
	run(t, "mariadb", "--no-defaults", "-uroot", "-S", sock, "-e",
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '"+fleetPassword+"'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;")
	return s
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// seedShard makes ~1,500 tables, 20 of them dead leftovers: what is missing is created and
// any other table (a hold of an earlier run) is dropped, so each run starts from the same
// shard.
func seedShard(t *testing.T, s *server) {
	dsn := fmt.Sprintf("root:%s@tcp(127.0.0.1:%d)/", fleetPassword, s.port)
	db, err := sqlx.Open("mysql", dsn)
	if err != nil {
		t.Error(err)
		return
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	want := map[string]bool{}
	for i := range tablesPerShard - leftoversPer {
		want[fmt.Sprintf("t%04d", i)] = true
	}
	for i := range leftoversPer {
		want[fmt.Sprintf("__t%04d_old", i)] = true
	}
	var have []string
	_ = db.Select(&have, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app'")
	stmts := []string{}
	if len(have) == 0 {
		stmts = append(stmts, "DROP DATABASE IF EXISTS app", "CREATE DATABASE app")
	}
	for _, name := range have {
		if !want[name] {
			stmts = append(stmts, "DROP TABLE "+dbconn.QualifiedName("app", name))
		}
		delete(want, name)
	}
	for name := range want {
		stmts = append(stmts, "CREATE TABLE "+dbconn.QualifiedName("app", name)+" (id INT PRIMARY KEY, v VARCHAR(32))")
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Errorf("seed %d: %v", s.port, err)
			return
		}
	}
}

// hangingListener accepts connections and never answers.
func hangingListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

type usage struct {
	wall, cpu time.Duration
	rssMiB    float64 // rusage's ru_maxrss: see janitorRunEnv
	hwmMiB    float64 // VmHWM, read every 20 ms until exit
	exit      int
	report    struct {
		Shards []struct {
			Name, Status, Error string
			Tables              []struct{ Verdict, Outcome string }
		}
	}
}

func janitorRun(t *testing.T, bin, cfg string, args ...string) usage {
	t.Helper()
	u, err := janitorRunEnv(bin, cfg, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// janitorRunEnv is janitorRun with env added to the environment; it returns its errors,
// to be called from several goroutines at once.
func janitorRunEnv(bin, cfg string, env []string, args ...string) (usage, error) {
	cmd := exec.Command(bin, append(args, "--config", cfg, "--output", "json", "--log-level", "error")...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return usage{}, fmt.Errorf("%v: %w", args, err)
	}
	// Peak RSS from the kernel's high-water mark of the process' own memory (VmHWM),
	// read until it exits: rusage's ru_maxrss is no less than the test process' RSS when
	// Go started the child (it is forked with the parent's memory), about 35 MiB here.
	hwm := make(chan float64, 1)
	done := make(chan struct{})
	go func() {
		peak := 0.0
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := vmHWM(cmd.Process.Pid); kb > peak {
				peak = kb
			}
			select {
			case <-done:
				hwm <- peak / 1024
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	u := usage{wall: time.Since(start), hwmMiB: <-hwm}
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
		return u, fmt.Errorf("%v: %w\n%s", args, err, errb.String())
	}
	u.exit = cmd.ProcessState.ExitCode()
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	u.rssMiB = float64(ru.Maxrss) / 1024
	if err := json.Unmarshal([]byte(out.String()), &u.report); err != nil {
		return u, fmt.Errorf("%v: report: %w", args, err)
	}
	return u, nil
}

// vmHWM is the process' peak resident set so far, in KiB (0 once it has exited).
func vmHWM(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb
		}
	}
	return 0
}

// fleetConfig lists every server copies times (distinct names), plus extra shards.
func fleetConfig(t *testing.T, servers []*server, copies int, extra string, settings string) string {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(fleetPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "shard_defaults:\n  user: root\n  password_file: %s\nshards:\n", pw)
	for k := range copies {
		for i, s := range servers {
			fmt.Fprintf(&b, "  - {name: fleet-%04d-%02d, addr: \"127.0.0.1:%d\"}\n", k, i, s.port)
		}
	}
	b.WriteString(extra)
	b.WriteString(settings)
	p := filepath.Join(dir, "janitor.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFleet(t *testing.T) {
	n := 8
	if v := os.Getenv("JANITOR_BENCH_FLEET_SERVERS"); v != "" {
		fmt.Sscan(v, &n)
	}
	bin := filepath.Join(t.TempDir(), "janitor")
	run(t, "go", "build", "-o", bin, "../cmd/janitor")
	servers := make([]*server, n)
	setup := time.Now()
	for i := range servers {
		servers[i] = startServer(t, i)
		defer servers[i].stop()
	}
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); seedShard(t, s) }()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d servers × %d tables (%d leftovers each) ready in %s", n, tablesPerShard, leftoversPer, time.Since(setup).Round(time.Second))
	hang := hangingListener(t)
	base := "policy:\n  min_age: 0s\ndiscovery:\n  schemas: [app]\n  connect_timeout: 2s\n"

	// 1. The real servers once, with a refused and a hanging shard.
	extra := "  - {name: refused, addr: \"127.0.0.1:1\"}\n  - {name: hanging, addr: \"" + hang + "\"}\n"
	u := janitorRun(t, bin, fleetConfig(t, servers, 1, extra, base+"  concurrency: 16\n"), "report")
	for _, s := range u.report.Shards {
		drops := 0
		for _, tb := range s.Tables {
			if tb.Verdict == "drop" {
				drops++
			}
		}
		switch {
		case s.Name == "refused" || s.Name == "hanging":
			t.Logf("%s: %s", s.Name, s.Error)
		case s.Error != "" || drops != leftoversPer:
			t.Errorf("%s: error %q, %d drop verdicts, want %d", s.Name, s.Error, drops, leftoversPer)
		}
	}
	t.Logf("report, %d servers + refused + hanging (connect_timeout 2s): wall %s, CPU %s, peak RSS %.0f MiB (ru_maxrss %.0f MiB)",
		n, u.wall.Round(10*time.Millisecond), u.cpu.Round(10*time.Millisecond), u.hwmMiB, u.rssMiB)

	// 2. Concurrency sweep: the servers listed 512/n times over.
	copies := 512 / n
	sweep := []int{4, 16, 64, 256}
	if v, ok := os.LookupEnv("JANITOR_BENCH_FLEET_SWEEP"); ok {
		sweep = nil
		for _, f := range strings.Fields(strings.ReplaceAll(v, ",", " ")) {
			var c int
			fmt.Sscan(f, &c)
			sweep = append(sweep, c)
		}
	}
	for _, c := range sweep {
		u := janitorRun(t, bin, fleetConfig(t, servers, copies, "", base+fmt.Sprintf("  concurrency: %d\n", c)), "report")
		shards := len(u.report.Shards)
		t.Logf("report, %d shards, discovery.concurrency %d: wall %s (%.0f ms/shard), CPU %s (%.1f ms/shard), peak RSS %.0f MiB (ru_maxrss %.0f MiB)",
			shards, c, u.wall.Round(100*time.Millisecond), float64(u.wall.Milliseconds())/float64(shards),
			u.cpu.Round(100*time.Millisecond), float64(u.cpu.Microseconds())/1000/float64(shards), u.hwmMiB, u.rssMiB)
	}

	// 3. Partitioned: 2,048 shards (JANITOR_BENCH_FLEET_PARTITIONED) over 4 pods, each
	// pod run in turn.
	total := 2048
	if v := os.Getenv("JANITOR_BENCH_FLEET_PARTITIONED"); v != "" {
		fmt.Sscan(v, &total)
	}
	cfg := fleetConfig(t, servers, total/n, "", base+"  concurrency: 16\n")
	seen := map[string]int{}
	for i := range 4 {
		u := janitorRun(t, bin, cfg, "report", "--partition", fmt.Sprintf("%d/4", i))
		for _, s := range u.report.Shards {
			seen[s.Name]++
		}
		t.Logf("report --partition %d/4 of %d: %d shards, wall %s, CPU %s, peak RSS %.0f MiB (ru_maxrss %.0f MiB)",
			i, total/n*n, len(u.report.Shards), u.wall.Round(100*time.Millisecond), u.cpu.Round(100*time.Millisecond), u.hwmMiB, u.rssMiB)
	}
	if len(seen) != total/n*n {
		t.Errorf("partitions covered %d shards", len(seen))
	}

	// 4. Drops: every server's 20 leftovers, all servers at once, no pause. The DROPs
	// themselves are measured, so no hold (execute.hold 0s): with the default hold, each
	// leftover is renamed and dropped a week later. Holds are step 5's.
	u = janitorRun(t, bin, fleetConfig(t, servers, 1, "", base+"  concurrency: 16\nthrottle:\n  max_threads_running: 1000\nexecute:\n  concurrency: 16\n  pause_between_drops: 0s\n  lock_wait_timeout: 3s\n  hold: 0s\n"), "run", "--execute")
	dropped := 0
	for _, s := range u.report.Shards {
		for _, tb := range s.Tables {
			if tb.Outcome == "dropped" {
				dropped++
			}
		}
	}
	t.Logf("run --execute, %d servers × %d leftovers, no pause: %d dropped, wall %s (%.0f ms per drop per shard), CPU %s, peak RSS %.0f MiB",
		n, leftoversPer, dropped, u.wall.Round(100*time.Millisecond), float64(u.wall.Milliseconds())/leftoversPer, u.cpu.Round(100*time.Millisecond), u.hwmMiB)
	if dropped != n*leftoversPer {
		t.Errorf("%d dropped, want %d", dropped, n*leftoversPer)
	}

	// 5. The indexed-execute overlay as shipped: its pods, its config.yaml (pause 10s,
	// holds on, deadlines) and its environment (concurrency 16, execute.deadline 3h,
	// GOMEMLIMIT from the pod's limit), every pod at once as the Job runs them, on its
	// share of the 8 servers' 20 fresh leftovers each. Only the shards, min_age (the
	// leftovers are seconds old) and the cluster's Pushgateway and Slack are replaced.
	for _, s := range servers {
		seedShard(t, s)
	}
	if t.Failed() {
		return
	}
	pods, overlayCfg, env := indexedExecute(t)
	cfg = fleetConfig(t, servers, 1, "", overlayCfg)
	start := time.Now()
	uses := make([]usage, pods)
	var pwg sync.WaitGroup
	for i := range pods {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			var err error
			uses[i], err = janitorRunEnv(bin, cfg, env, "run", "--execute", "--partition", fmt.Sprintf("%d/%d", i, pods))
			if err != nil {
				t.Error(err)
			}
		}()
	}
	pwg.Wait()
	held := 0
	for i, u := range uses {
		h := 0
		for _, s := range u.report.Shards {
			for _, tb := range s.Tables {
				if tb.Outcome == "held" {
					h++
				}
			}
		}
		held += h
		if u.exit != 0 {
			t.Errorf("indexed-execute pod %d/%d exited %d", i, pods, u.exit)
		}
		t.Logf("indexed-execute pod %d/%d: %d shards, %d held, wall %s, CPU %s, peak RSS %.0f MiB (ru_maxrss %.0f MiB)",
			i, pods, len(u.report.Shards), h, u.wall.Round(100*time.Millisecond), u.cpu.Round(100*time.Millisecond), u.hwmMiB, u.rssMiB)
	}
	t.Logf("indexed-execute, %d pods at once: %d held in %s", pods, held, time.Since(start).Round(time.Second))
	if held != n*leftoversPer {
		t.Errorf("indexed-execute: %d held, want %d", held, n*leftoversPer)
	}
}

// indexedExecute renders deploy/kustomize/overlays/indexed-execute and returns its pod
// count, its config.yaml's settings for the fleet (shards, metrics, Slack and serve left
// out; min_age 0s and the fleet's schema), and its container's environment (literal
// values, and GOMEMLIMIT resolved from the memory limit as kubelet does).
func indexedExecute(t *testing.T) (int, string, []string) {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../deploy/kustomize/overlays/indexed-execute")
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	var cm corev1.ConfigMap
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "CronJob":
			err = json.Unmarshal(b, &cj)
		case "ConfigMap":
			err = json.Unmarshal(b, &cm)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	js := cj.Spec.JobTemplate.Spec
	if js.Completions == nil || len(js.Template.Spec.Containers) != 1 {
		t.Fatal("indexed-execute: want an Indexed Job of one container")
	}
	c := js.Template.Spec.Containers[0]
	var settings map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &settings); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"shards", "metrics", "slack", "serve"} {
		delete(settings, k)
	}
	settings["policy"].(map[string]any)["min_age"] = "0s"
	settings["discovery"].(map[string]any)["schemas"] = []string{"app"}
	b, err := yaml.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			env = append(env, fmt.Sprintf("%s=%d", e.Name, c.Resources.Limits.Memory().Value()))
		}
	}
	t.Logf("indexed-execute: %d pods, environment %v, settings:\n%s", *js.Completions, env, b)
	return int(*js.Completions), string(b), env
}
