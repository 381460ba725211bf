package dbconn

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/go-sql-driver/mysql"
)

// TLS modes, as in the mysql client's --ssl-mode.
const (
	// TLSPreferred encrypts when the server offers TLS, falls back to plain text when it
	// does not, and verifies nothing: the driver's own "preferred".
	TLSPreferred = "preferred"
	// TLSRequired encrypts or fails; the certificate is not verified.
	TLSRequired = "required"
	// TLSVerifyCA encrypts and checks the certificate chains to the CA (ca_file, or the
	// system's CAs), not the host name.
	TLSVerifyCA = "verify-ca"
	// TLSVerifyIdentity also checks the certificate names the host (or server_name).
	TLSVerifyIdentity = "verify-identity"
)

// TLSModes lists the modes, for error messages.
var TLSModes = []string{TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity}

// TLS is how janitor talks TLS to one server.
type TLS struct {
	Mode string `mapstructure:"mode"`
	// CAFile is a PEM bundle of the CAs to trust (the RDS/Aurora bundle, a private CA);
	// empty: the system's CAs. Only with verify-ca and verify-identity.
	CAFile string `mapstructure:"ca_file"`
	// ServerName is the name the certificate must carry, when it is not the DSN's host
	// (connecting by IP, or through a proxy). Only with verify-identity.
	ServerName string `mapstructure:"server_name"`
}

// IsZero says no TLS settings were given.
func (t TLS) IsZero() bool { return t == TLS{} }

// Check validates the settings without reading files; key names them in errors.
func (t TLS) Check(key string) error {
	switch t.Mode {
	case TLSPreferred, TLSRequired:
		if t.CAFile != "" || t.ServerName != "" {
			return fmt.Errorf("%s: mode %s verifies no certificate, so ca_file and server_name would be ignored: use verify-ca or verify-identity", key, t.Mode)
		}
	case TLSVerifyCA:
		if t.ServerName != "" {
			return fmt.Errorf("%s.server_name: verify-ca does not check names; use verify-identity", key)
		}
	case TLSVerifyIdentity:
	case "":
		return fmt.Errorf("%s.mode: required (one of %v)", key, TLSModes)
	default:
		return fmt.Errorf("%s.mode: %q is not one of %v", key, t.Mode, TLSModes)
	}
	return nil
}

var registered sync.Map // name -> true

// Register makes t known to the MySQL driver and returns the name a DSN's tls= parameter
// takes. The name is derived from the settings and the CA file's content, so equal
// settings share one registration and a changed bundle gets a new one.
func (t TLS) Register(key string) (string, error) {
	if err := t.Check(key); err != nil {
		return "", err
	}
	if t.Mode == TLSPreferred {
		return "preferred", nil // the driver's own: TLS if offered, else plain text
	}
	var pem []byte
	if t.CAFile != "" {
		var err error
		if pem, err = os.ReadFile(t.CAFile); err != nil {
			return "", fmt.Errorf("%s.ca_file: %w", key, err)
		}
	}
	sum := sha256.Sum256(append([]byte(t.Mode+"\x00"+t.ServerName+"\x00"), pem...))
	name := "janitor-" + hex.EncodeToString(sum[:8])
	if _, ok := registered.Load(name); ok {
		return name, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	if pem != nil {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return "", fmt.Errorf("%s.ca_file: %s holds no PEM certificate", key, t.CAFile)
		}
	}
	switch t.Mode {
	case TLSRequired:
		cfg.InsecureSkipVerify = true
	case TLSVerifyCA:
		// Go verifies the chain and the name together; verify-ca wants the chain only,
		// so the built-in check is off and VerifyConnection does the chain.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, roots) }
	case TLSVerifyIdentity:
		cfg.RootCAs = roots
		// Empty: the driver fills in the DSN's host for each connection.
		cfg.ServerName = t.ServerName
	}
	if err := mysql.RegisterTLSConfig(name, cfg); err != nil {
		return "", fmt.Errorf("%s: register TLS settings: %w", key, err)
	}
	registered.Store(name, true)
	return name, nil
}

func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("tls: verify-ca: %w", err)
	}
	return nil
}
