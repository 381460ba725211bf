package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

// optionFile writes a MySQL option file for the sandbox account of dsn, with extra
// lines in its [client] group; the other groups and the comments are what such files
// carry in the wild.
func optionFile(t *testing.T, dsn string, extra ...string) string {
	t.Helper()
	c, err := dbconn.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(c.Addr, ":")
	body := fmt.Sprintf(`# mounted from a Secret
[mysqld]
port = 1

[client]
loose_user = %s
password = "%s"    # quoted, as a password with a # or spaces must be
host=%s
port=%s
%s
[mysql]
user = somebody-else
`, c.User, c.Passwd, host, port, strings.Join(extra, "\n"))
	return write(t, "client.cnf", body)
}

// TestOptionFileConnects: a shard's defaults_file gives the user, password, host and
// port (and, with ssl-ca, verified TLS) that janitor connects with to the real sandbox
// primary; a replica written as host:port takes the shard's credentials from it.
func TestOptionFileConnects(t *testing.T) {
	primary, replica := testdb.PrimaryDSN(t), testdb.ReplicaDSN(t)
	rc, err := dbconn.ParseDSN(replica)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(write(t, "c.yaml", "shards:\n  - name: a\n    defaults_file: "+optionFile(t, primary)+"\n    replicas: [\""+rc.Addr+"\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Shards[0]
	for name, dsn := range map[string]string{"primary": s.DSN, "replica": s.Replicas[0].DSN} {
		db, err := dbconn.Open(context.Background(), dsn, dbconn.DefaultOptions())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var n int
		if err := db.GetContext(context.Background(), &n, "SELECT /* janitor */ 1"); err != nil || n != 1 {
			t.Errorf("%s: %v", name, err)
		}
		db.Close()
	}
	if s.Replicas[0].Name != rc.Addr {
		t.Errorf("replica name %q, want %q", s.Replicas[0].Name, rc.Addr)
	}

	ca := os.Getenv("JANITOR_TEST_TLS_CA")
	if ca == "" {
		t.Skip("JANITOR_TEST_TLS_CA not set: start the sandbox with JANITOR_SANDBOX_TLS=ON (scripts/test.sh does)")
	}
	cfg, err = Load(write(t, "c.yaml", "shards:\n  - name: a\n    defaults_file: "+optionFile(t, primary, "ssl-ca="+ca)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tls := cfg.Shards[0].TLS; tls == nil || tls.Mode != dbconn.TLSVerifyCA || tls.CAFile != ca {
		t.Errorf("ssl-ca alone: TLS %+v, want verify-ca with %s (the mysql client's reading)", tls, ca)
	}
	db, err := dbconn.Open(context.Background(), cfg.Shards[0].DSN, dbconn.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name, cipher string
	if err := db.QueryRowxContext(context.Background(), "SHOW /* janitor */ SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
		t.Errorf("the connection is not encrypted: cipher %q, %v", cipher, err)
	}
}

// TestOptionFileSocket: socket= with no host (or host=localhost) connects through the
// Unix socket, as the mysql client does.
func TestOptionFileSocket(t *testing.T) {
	db := testdb.Primary(t)
	var sock string
	if err := db.Get(&sock, "SELECT /* janitor */ @@socket"); err != nil {
		t.Fatal(err)
	}
	sock = testdb.DataPath(false, sock)
	if _, err := os.Stat(sock); err != nil {
		t.Skipf("the primary's socket is not reachable here: %v", err)
	}
	// An account of its own at localhost, the host a socket connection comes from (the
	// sandbox's root@localhost may authenticate otherwise, as MySQL's does).
	testdb.Exec(t, db, "CREATE USER IF NOT EXISTS 'janitor_sock'@'localhost' IDENTIFIED BY 'sock-pw'")
	t.Cleanup(func() { testdb.Exec(t, db, "DROP USER IF EXISTS 'janitor_sock'@'localhost'") })
	f := write(t, "client.cnf", "[client]\nuser=janitor_sock\npassword=sock-pw\nhost=localhost\nsocket="+sock+"\n")
	cfg, err := Load(write(t, "c.yaml", "shards:\n  - name: a\n    defaults_file: "+f+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.Shards[0].DSN, "@unix(") {
		t.Errorf("DSN does not use the socket: %s", dbconn.Redact(cfg.Shards[0].DSN))
	}
	sdb, err := dbconn.Open(context.Background(), cfg.Shards[0].DSN, dbconn.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	sdb.Close()
}

// TestOptionFileErrors: a bad or unreadable option file, or one that contradicts the
// shard's other keys, is an error naming the key and the file (and the line), never the
// password.
func TestOptionFileErrors(t *testing.T) {
	const pw = "Pa55-w0rd-XYZ"
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := file("ok.cnf", "[client]\nuser=janitor\npassword="+pw+"\nhost=10.0.0.1\n", 0o600)
	shard := func(f string, more ...string) string {
		return "shards:\n  - name: a\n    defaults_file: " + f + "\n" + strings.Join(more, "")
	}
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"missing", shard(filepath.Join(dir, "nope.cnf")), []string{"shards[0].defaults_file", "nope.cnf", "no such file"}},
		{"a directory", shard(dir), []string{"shards[0].defaults_file", dir, "not a regular file"}},
		{"world-writable", shard(file("ww.cnf", "[client]\nuser=u\npassword="+pw+"\nhost=h\n", 0o666)), []string{"ww.cnf", "anyone may write it", "chmod o-w"}},
		{"no [client]", shard(file("mysql.cnf", "[mysql]\nuser=u\npassword="+pw+"\n", 0o600)), []string{"mysql.cnf", "no [client] group", "[mysql]"}},
		{"!include", shard(file("inc.cnf", "[client]\n!include /etc/mysql/secret.cnf\n", 0o600)), []string{"inc.cnf line 2", "!include"}},
		{"prompting password", shard(file("prompt.cnf", "[client]\nuser=u\npassword\n", 0o600)), []string{"prompt.cnf line 3", "password has no value"}},
		{"bad port", shard(file("port.cnf", "[client]\nuser=u\nport=33o6\n", 0o600)), []string{"port.cnf line 3", `port "33o6"`}},
		{"client certificate", shard(file("cert.cnf", "[client]\nuser=u\nssl-cert=/c.pem\n", 0o600)), []string{"cert.cnf line 3", "ssl-cert", "client certificates"}},
		{"unclosed quote", shard(file("quote.cnf", "[client]\nuser=u\npassword=\""+pw+"\n", 0o600)), []string{"quote.cnf line 3", "password", "quote is not closed"}},
		{"no equals sign", shard(file("noeq.cnf", "[client]\npassword "+pw+"\n", 0o600)), []string{"noeq.cnf line 2", "option name"}},
		{"option before a group", shard(file("nogroup.cnf", "user=u\n[client]\n", 0o600)), []string{"nogroup.cnf line 1", "before any [group]"}},
		{"no user", shard(file("nouser.cnf", "[client]\npassword="+pw+"\nhost=h\n", 0o600)), []string{"shards[0].defaults_file", "nouser.cnf", "no user="}},
		{"no host", shard(file("nohost.cnf", "[client]\nuser=u\npassword="+pw+"\n", 0o600)), []string{"nohost.cnf", "no host or socket", "shards[0].addr"}},
		{"ssl-ca ignored by REQUIRED", shard(file("req.cnf", "[client]\nuser=u\nhost=h\nssl-mode=REQUIRED\nssl-ca=/ca.pem\n", 0o600)), []string{"req.cnf", "REQUIRED verifies no certificate"}},
		{"bad ssl-mode", shard(file("mode.cnf", "[client]\nuser=u\nhost=h\nssl-mode=STRICT\n", 0o600)), []string{"mode.cnf", `ssl-mode "STRICT"`}},
		{"with a dsn", shard(ok, "    dsn: \"u:"+pw+"@tcp(h:1)/\"\n"), []string{"shards[0].defaults_file and shards[0].dsn", "keep one"}},
		{"with a user", shard(ok, "    user: other\n"), []string{"shards[0].defaults_file gives the user", "shards[0].user"}},
		{"with tls", shard(file("tls.cnf", "[client]\nuser=u\nhost=h\nssl-ca=/ca.pem\n", 0o600), "    tls:\n      mode: required\n"), []string{"shards[0].defaults_file", "tls.cnf", "shards[0].tls", "keep one"}},
		{"replica's own TLS", "shards:\n  - name: a\n    defaults_file: " + ok + "\n    replicas:\n      - defaults_file: " + file("rtls.cnf", "[client]\nuser=u\nhost=r\nssl-mode=REQUIRED\n", 0o600) + "\n",
			[]string{"shards[0].replicas[0].defaults_file", "rtls.cnf", "shard's TLS settings"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, "c.yaml", c.yaml)
			_, err := Load(p)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append(c.want, p) {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, pw) {
				t.Errorf("error shows the password: %s", msg)
			}
		})
	}
}

// TestOptionFileAddrWins: the shard's addr wins over the file's host and port (the same
// credentials file for several shards), and the replica's own option file gives its
// server and account.
func TestOptionFileAddrWins(t *testing.T) {
	f := write(t, "c.cnf", "[client]\nuser=janitor\npassword='p w#1'\nhost=10.0.0.1\nport=3307\n")
	r := write(t, "r.cnf", "[client]\nuser=reader\npassword=rpw\nhost=10.0.0.2\n")
	cfg, err := Load(write(t, "c.yaml", "shards:\n  - name: a\n    defaults_file: "+f+"\n    addr: 10.9.9.9:3306\n    replicas:\n      - defaults_file: "+r+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Shards[0]
	if s.DSN != "janitor:p w#1@tcp(10.9.9.9:3306)/" {
		t.Errorf("shard DSN %q", s.DSN)
	}
	if rep := s.Replicas[0]; rep.DSN != "reader:rpw@tcp(10.0.0.2:3306)/" || rep.Name != "10.0.0.2:3306" {
		t.Errorf("replica %q %q", rep.Name, rep.DSN)
	}

	// A password with the DSN's own separators survives into the DSN.
	const hostile = `p@ss/w:rd(x)"'#;`
	f = write(t, "h.cnf", "[client]\nuser=janitor\npassword=\"p@ss/w:rd(x)\\\"'#;\"\nhost=10.0.0.1\n")
	cfg, err = Load(write(t, "c.yaml", "shards:\n  - name: a\n    defaults_file: "+f+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dbconn.ParseDSN(cfg.Shards[0].DSN); err != nil || c.Passwd != hostile || c.Addr != "10.0.0.1:3306" {
		t.Errorf("hostile password: %+v %v", c, err)
	}
}
