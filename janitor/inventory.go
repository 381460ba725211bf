package janitor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/janitorhq/janitor/dbconn"
)

// ShardDefaults fill in what a shard entry (or a shards_dir file) leaves out, so that a
// fleet of hundreds of shards does not repeat one user, password and TLS setting per
// shard. A shard's own settings win.
type ShardDefaults struct {
	// User and PasswordFile are used for every DSN (or addr) without a user.
	User         string `mapstructure:"user"`
	PasswordFile string `mapstructure:"password_file"`
	// Password is PasswordFile's content, read at the edge; never configured inline.
	Password string `mapstructure:"-"`
	// TLS applies to every primary and replica without TLS settings of their own.
	TLS dbconn.TLS `mapstructure:"tls"`
	// MinReaders, with replica_lag_source aurora, holds drops while fewer readers than
	// this report fresh rows (0: no minimum). Unlike aurora_readers it names no instance,
	// so it does not go stale when Aurora auto-scaling replaces readers.
	MinReaders int `mapstructure:"min_readers"`
}

// TLSRegistrar makes TLS settings known to the MySQL driver and returns the name a DSN's
// tls= parameter takes (dbconn.TLS.Register; tests may pass their own).
type TLSRegistrar func(key string, t dbconn.TLS) (string, error)

// ResolveShards turns every shard's and replica's addr, user and TLS settings, with the
// shard_defaults, into the DSN the rest of janitor uses. It runs after the edge has read
// the *_file secrets and shards_dir, before Validate.
func (c *Config) ResolveShards(register TLSRegistrar) error {
	d := c.ShardDefaults
	var errs []error
	if d.MinReaders < 0 {
		errs = append(errs, fmt.Errorf("shard_defaults.min_readers: %d is negative (0 means no minimum)", d.MinReaders))
	}
	if d.Password != "" && d.User == "" {
		errs = append(errs, errors.New("shard_defaults.password_file: set shard_defaults.user too (the password is the default user's)"))
	}
	if !d.TLS.IsZero() {
		if err := d.TLS.Check("shard_defaults.tls"); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range c.Shards {
		s := &c.Shards[i]
		key := s.key(i)
		user, password := d.User, d.Password
		if s.User != "" {
			user, password = s.User, s.Password
		} else if s.Password != "" {
			errs = append(errs, fmt.Errorf("%s.password_file: set %s.user too", key, key))
		}
		t := d.TLS
		if s.TLS != nil {
			t = *s.TLS
		}
		tlsName := ""
		if !t.IsZero() {
			tkey := "shard_defaults.tls"
			if s.TLS != nil {
				tkey = key + ".tls"
			}
			var err error
			if tlsName, err = register(tkey, t); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if s.MinReaders == 0 {
			s.MinReaders = d.MinReaders
		} else if s.MinReaders < 0 {
			errs = append(errs, fmt.Errorf("%s.min_readers: %d is negative", key, s.MinReaders))
		}
		dsn, err := composeDSN(key, s.DSN, s.Addr, user, password, tlsName)
		if err != nil {
			errs = append(errs, err)
		} else {
			s.DSN = dsn
		}
		for k := range s.Replicas {
			r := &s.Replicas[k]
			rkey := fmt.Sprintf("%s.replicas[%d]", key, k)
			if r.Name == "" && r.Addr != "" {
				r.Name = r.Addr
			}
			dsn, err := composeDSN(rkey, r.DSN, r.Addr, user, password, tlsName)
			if err != nil {
				errs = append(errs, err)
			} else {
				r.DSN = dsn
			}
		}
	}
	return errors.Join(errs...)
}

// composeDSN builds a DSN from addr (host:port) or completes dsn: a DSN without a user
// takes the default user and password, and TLS settings become its tls= parameter. A
// DSN that already says everything is returned as written.
func composeDSN(key, dsn, addr, user, password, tlsName string) (string, error) {
	var cfg *mysql.Config
	switch {
	case addr != "" && dsn != "":
		return "", fmt.Errorf("%s: set addr or dsn (dsn_file, shards_dir), not both", key)
	case addr != "":
		if strings.Contains(addr, "@") {
			// Not echoed: it may carry a password.
			return "", fmt.Errorf("%s.addr: holds an @, so it looks like a DSN: put a DSN under dsn, and host:port under addr", key)
		}
		if strings.ContainsAny(addr, "/()") || !strings.Contains(addr, ":") {
			return "", fmt.Errorf("%s.addr: %q is not host:port", key, addr)
		}
		cfg = mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", addr
	case strings.TrimSpace(dsn) == "":
		return "", nil // Validate says what is missing, with the key
	default:
		var err error
		if cfg, err = dbconn.ParseDSN(dsn); err != nil {
			return "", fmt.Errorf("%s.dsn: %w", key, err)
		}
	}
	changed := addr != ""
	if cfg.User == "" && user != "" {
		cfg.User, cfg.Passwd = user, password
		changed = true
	}
	if tlsName != "" {
		if cfg.TLSConfig != "" && cfg.TLSConfig != "false" && cfg.TLSConfig != tlsName {
			return "", fmt.Errorf("%s: the DSN's tls=%s and TLS settings (tls:) both say how to use TLS: keep one", key, cfg.TLSConfig)
		}
		cfg.TLSConfig = tlsName
		changed = true
	}
	if !changed {
		return dsn, nil
	}
	return cfg.FormatDSN(), nil
}

// key names a shard in errors: its place in the shards list, or its shards_dir file.
func (s ShardConfig) key(i int) string {
	if s.Source != "" {
		return s.Source
	}
	return fmt.Sprintf("shards[%d]", i)
}
