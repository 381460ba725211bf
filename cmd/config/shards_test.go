package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretDir lays files out as a Kubernetes Secret volume does: the files live in a
// ..<timestamp> directory, ..data points at it, and each key is a symlink through ..data.
func secretDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_12_02_02_00_00.123")
	if err := os.Mkdir(ts, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(ts, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestShardDefaultsAndShardsDir(t *testing.T) {
	pw := write(t, "pw", "p@ss w/rd\n")
	own := write(t, "own", "other\n")
	dir := secretDir(t, map[string]string{
		"db-001": "tcp(10.0.1.1:3306)/\n",           // no user: the defaults'
		"db-002": "admin:x@tcp(10.0.1.2:3306)/",     // its own user
		"db-003": "tcp(10.0.1.3:3306)/?tls=false\n", // overridden below by an entry
	})
	cfg, err := Load(write(t, "c.yaml", `
shards_dir: `+dir+`
shard_defaults:
  user: janitor
  password_file: `+pw+`
shards:
  - name: listed
    addr: 10.0.0.9:3306
    replicas: ["10.0.0.10:3306", {name: r2, addr: "10.0.0.11:3306"}]
  - name: own-user
    addr: 10.0.0.12:3306
    user: special
    password_file: `+own+`
  - name: db-003
    replicas: ["10.0.1.30:3306"]
    vitess_tablegc: true
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range cfg.Shards {
		got[s.Name] = s.DSN
		for _, r := range s.Replicas {
			got[s.Name+"/"+r.Name] = r.DSN
		}
	}
	want := map[string]string{
		"listed":                "janitor:p@ss w/rd@tcp(10.0.0.9:3306)/",
		"listed/10.0.0.10:3306": "janitor:p@ss w/rd@tcp(10.0.0.10:3306)/",
		"listed/r2":             "janitor:p@ss w/rd@tcp(10.0.0.11:3306)/",
		"own-user":              "special:other@tcp(10.0.0.12:3306)/",
		"db-001":                "janitor:p@ss w/rd@tcp(10.0.1.1:3306)/",
		"db-002":                "admin:x@tcp(10.0.1.2:3306)/",
		"db-003":                "janitor:p@ss w/rd@tcp(10.0.1.3:3306)/?tls=false",
		"db-003/10.0.1.30:3306": "janitor:p@ss w/rd@tcp(10.0.1.30:3306)/",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: DSN %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("shards and replicas %v, want %d (..data and the timestamp directory are not shards)", got, len(want))
	}
	for _, s := range cfg.Shards {
		if s.Name == "db-003" && !s.VitessTableGC {
			t.Error("the shards entry for db-003 did not add its settings to the file's shard")
		}
	}
}

func TestShardInventoryErrors(t *testing.T) {
	bad := secretDir(t, map[string]string{"db-1": "not a dsn", "db-2": "u:p@tcp(h:1)/"})
	empty := secretDir(t, map[string]string{"db-1": "\n"})
	pw := write(t, "pw", "x")
	ca := write(t, "ca.pem", "not a certificate")
	for _, c := range []struct{ name, body, want string }{
		{"bad DSN file", "shards_dir: " + bad + "\n", `shards_dir ` + bad + `: file "db-1": invalid DSN`},
		{"empty DSN file", "shards_dir: " + empty + "\n", `file "db-1"`},
		{"missing dir", "shards_dir: /nonexistent/shards\n", "shards_dir: open /nonexistent/shards"},
		{"two DSNs", "shards_dir: " + bad + "\nshards:\n  - name: db-2\n    dsn: u:p@tcp(h:2)/\n", `shards[0] ("db-2") has its own DSN and shards_dir`},
		{"addr and dsn", "shards:\n  - name: a\n    addr: h:1\n    dsn: u:p@tcp(h:1)/\n", "shards[0]: set addr or dsn"},
		{"bad addr", "shards:\n  - name: a\n    addr: h/1\n", `shards[0].addr: "h/1" is not host:port`},
		{"DSN as addr", "shards:\n  - name: a\n    addr: u:p@tcp(h:1)/\n", `shards[0].addr: holds an @`},
		{"password without user", "shard_defaults:\n  password_file: " + pw + "\nshards:\n  - name: a\n    addr: h:1\n", "shard_defaults.password_file: set shard_defaults.user"},
		{"bad password file", "shard_defaults:\n  user: j\n  password_file: /nonexistent/pw\nshards:\n  - name: a\n    addr: h:1\n", "shard_defaults.password_file: open /nonexistent/pw"},
		{"bad tls mode", "shard_defaults:\n  tls:\n    mode: yes-please\nshards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n", `shard_defaults.tls.mode: "yes-please" is not one of`},
		{"ca with preferred", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n    tls: {mode: preferred, ca_file: " + ca + "}\n", "shards[0].tls: mode preferred verifies no certificate"},
		{"ca not pem", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n    tls: {mode: verify-ca, ca_file: " + ca + "}\n", "shards[0].tls.ca_file: " + ca + " holds no PEM certificate"},
		{"tls twice", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/?tls=skip-verify\n    tls: {mode: required}\n", "shards[0]: the DSN's tls=skip-verify and TLS settings"},
		{"min_readers without aurora", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n    min_readers: 2\n", `shards[0].min_readers: "2": only read with replica_lag_source aurora`},
	} {
		_, err := Load(write(t, "c.yaml", c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("%s: a password reached the error: %v", c.name, err)
		}
	}
}

// TestTLSSettingsReachTheDSN: shard_defaults.tls applies to every shard and replica
// without its own; a shard's tls wins, for its replicas too.
func TestTLSSettingsReachTheDSN(t *testing.T) {
	cfg, err := Load(write(t, "c.yaml", `
shard_defaults:
  user: j
  tls: {mode: required}
shards:
  - name: a
    addr: h1:3306
    replicas: ["h2:3306"]
  - name: b
    addr: h3:3306
    tls: {mode: preferred}
    replicas: ["h4:3306"]
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Shards[0], cfg.Shards[1]
	if !strings.Contains(a.DSN, "tls=janitor-") || !strings.Contains(a.Replicas[0].DSN, "tls=janitor-") {
		t.Errorf("defaults' TLS not applied: %q %q", a.DSN, a.Replicas[0].DSN)
	}
	if !strings.Contains(b.DSN, "tls=preferred") || !strings.Contains(b.Replicas[0].DSN, "tls=preferred") {
		t.Errorf("shard's TLS did not win: %q %q", b.DSN, b.Replicas[0].DSN)
	}
}
