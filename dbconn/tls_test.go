package dbconn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

// otherCA writes a CA that signed nothing the sandbox serves.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "not the sandbox CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTLSModes runs every mode against the sandbox primary, which serves TLS with the
// sandbox CA (JANITOR_SANDBOX_TLS_DIR), and the replica, which has no TLS.
func TestTLSModes(t *testing.T) {
	ca := os.Getenv("JANITOR_TEST_TLS_CA")
	if ca == "" {
		t.Skip("JANITOR_TEST_TLS_CA not set: start the sandbox with JANITOR_SANDBOX_TLS_DIR (scripts/test.sh does)")
	}
	primary, replica := testdb.PrimaryDSN(t), testdb.ReplicaDSN(t)
	wrong := otherCA(t)
	cases := []struct {
		name    string
		dsn     string
		tls     dbconn.TLS
		wantErr string // "" : connects
		cipher  bool   // the session is encrypted
	}{
		{"verify-identity, right CA", primary, dbconn.TLS{Mode: dbconn.TLSVerifyIdentity, CAFile: ca}, "", true},
		{"verify-ca, right CA", primary, dbconn.TLS{Mode: dbconn.TLSVerifyCA, CAFile: ca}, "", true},
		{"verify-identity, server_name matches", primary, dbconn.TLS{Mode: dbconn.TLSVerifyIdentity, CAFile: ca, ServerName: "localhost"}, "", true},
		{"required", primary, dbconn.TLS{Mode: dbconn.TLSRequired}, "", true},
		{"preferred", primary, dbconn.TLS{Mode: dbconn.TLSPreferred}, "", true},
		{"verify-ca, wrong CA", primary, dbconn.TLS{Mode: dbconn.TLSVerifyCA, CAFile: wrong}, "certificate signed by unknown authority", false},
		{"verify-identity, wrong CA", primary, dbconn.TLS{Mode: dbconn.TLSVerifyIdentity, CAFile: wrong}, "certificate signed by unknown authority", false},
		{"verify-identity, system CAs", primary, dbconn.TLS{Mode: dbconn.TLSVerifyIdentity}, "certificate signed by unknown authority", false},
		{"verify-identity, wrong name", primary, dbconn.TLS{Mode: dbconn.TLSVerifyIdentity, CAFile: ca, ServerName: "db.example.com"}, "db.example.com", false},
		// The replica has no TLS: only preferred may fall back to plain text.
		{"preferred, no TLS on server", replica, dbconn.TLS{Mode: dbconn.TLSPreferred}, "", false},
		{"required, no TLS on server", replica, dbconn.TLS{Mode: dbconn.TLSRequired}, "does not support TLS", false},
		{"verify-ca, no TLS on server", replica, dbconn.TLS{Mode: dbconn.TLSVerifyCA, CAFile: ca}, "does not support TLS", false},
	}
	replicaTLS := servesTLS(t, replica)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.dsn == replica && replicaTLS {
				t.Skip("the sandbox replica serves TLS here (MySQL makes its own certificate): no server without TLS to test against")
			}
			name, err := c.tls.Register("tls")
			if err != nil {
				t.Fatal(err)
			}
			dsn := c.dsn + "?tls=" + name
			if strings.Contains(c.dsn, "?") {
				dsn = c.dsn + "&tls=" + name
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			opts := dbconn.DefaultOptions()
			db, err := dbconn.Open(ctx, dsn, opts)
			if c.wantErr != "" {
				if err == nil {
					db.Close()
					t.Fatalf("connected; want an error with %q", c.wantErr)
				}
				if !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %q, want %q", err, c.wantErr)
				}
				if h := dbconn.Hint(err); !strings.Contains(h, "TLS") {
					t.Errorf("hint %q does not point at TLS", h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var name2, cipher string
			if err := db.QueryRowxContext(ctx, "SHOW /* janitor */ SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name2, &cipher); err != nil {
				t.Fatal(err)
			}
			if (cipher != "") != c.cipher {
				t.Errorf("Ssl_cipher %q, want encrypted=%v", cipher, c.cipher)
			}
		})
	}
}

// servesTLS reports whether the server at dsn encrypts a connection that prefers TLS.
func servesTLS(t *testing.T, dsn string) bool {
	t.Helper()
	name, err := dbconn.TLS{Mode: dbconn.TLSPreferred}.Register("probe")
	if err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := dbconn.Open(ctx, dsn+sep+"tls="+name, dbconn.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, cipher string
	if err := db.QueryRowxContext(ctx, "SHOW /* janitor */ SESSION STATUS LIKE 'Ssl_cipher'").Scan(&n, &cipher); err != nil {
		t.Fatal(err)
	}
	return cipher != ""
}
