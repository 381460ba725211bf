package dbconn

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadOptionFile reads option files as the mysql client does: dashes and underscores
// alike, loose- prefixes, quotes, escapes and end-of-line comments, only [client], the
// last value winning, and the ssl options mapped onto janitor's TLS modes.
func TestReadOptionFile(t *testing.T) {
	cases := []struct {
		name, body string
		want       ClientOptions
	}{
		{"plain", "[client]\nuser=janitor\npassword=pw\nhost=db1\nport=3307\n",
			ClientOptions{User: "janitor", Password: "pw", HasPassword: true, Host: "db1", Port: 3307}},
		{"spaces, comments, other groups", "# c\n; c\n[mysqld]\nuser=mysql\n[ Client ]\n  user = janitor   # the account\npassword = 'a b#c'  # quoted\n[mysql]\nuser=other\n",
			ClientOptions{User: "janitor", Password: "a b#c", HasPassword: true}},
		{"a # inside a bare value", "[client]\npassword=ab#cd\n", ClientOptions{Password: "ab#cd", HasPassword: true}},
		{"escapes", "[client]\npassword=\"q\\\"\\\\\\s\"\n", ClientOptions{Password: "q\"\\ ", HasPassword: true}},
		{"empty password", "[client]\npassword=\n", ClientOptions{HasPassword: true}},
		{"loose and underscores", "[client]\nloose-user=a\nssl_ca=/ca.pem\n", ClientOptions{User: "a", TLS: TLS{Mode: TLSVerifyCA, CAFile: "/ca.pem"}}},
		{"the last value wins", "[client]\nuser=a\n[client]\nuser=b\n", ClientOptions{User: "b"}},
		{"MariaDB's verify-server-cert", "[client]\nssl-ca=/ca.pem\nssl-verify-server-cert\n", ClientOptions{TLS: TLS{Mode: TLSVerifyIdentity, CAFile: "/ca.pem"}}},
		{"ssl-mode", "[client]\nssl-mode=verify_identity\nssl-ca=/ca.pem\n", ClientOptions{TLS: TLS{Mode: TLSVerifyIdentity, CAFile: "/ca.pem"}}},
		{"ssl on", "[client]\nssl\n", ClientOptions{TLS: TLS{Mode: TLSRequired}}},
		{"skip-ssl", "[client]\nskip-ssl\n", ClientOptions{}},
		{"a byte-order mark", "\ufeff[client]\nuser=a\n", ClientOptions{User: "a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "my.cnf")
			if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadOptionFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	if a := (ClientOptions{Host: "::1"}).Addr(); a != "[::1]:3306" {
		t.Errorf("IPv6 addr %q", a)
	}
}
