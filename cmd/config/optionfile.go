package config

import (
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/janitor"
)

// readOptionFiles reads each shard's and replica's defaults_file (a MySQL option file's
// [client] group) into the settings janitor.Config.ResolveShards turns into DSNs: a
// shard's user, password and TLS (which its replicas share, as with user and
// password_file) and its addr, or a DSN for a socket. The file is the one place of the
// credentials: it excludes the shard's dsn, dsn_file, user and password_file. addr may
// come with it and wins over the file's host and port, as a command-line option wins
// over an option file.
func readOptionFiles(cfg *janitor.Config) error {
	var errs []error
	for i := range cfg.Shards {
		s := &cfg.Shards[i]
		key := fmt.Sprintf("shards[%d]", i)
		if s.DefaultsFile != "" {
			errs = append(errs, shardOptions(key, s))
		}
		for k := range s.Replicas {
			if s.Replicas[k].DefaultsFile != "" {
				errs = append(errs, replicaOptions(fmt.Sprintf("%s.replicas[%d]", key, k), &s.Replicas[k], s, cfg.ShardDefaults.TLS))
			}
		}
	}
	return errors.Join(errs...)
}

func shardOptions(key string, s *janitor.ShardConfig) error {
	fkey := key + ".defaults_file"
	switch {
	case s.DSN != "" || s.DSNFile != "":
		return fmt.Errorf("%s and %s.dsn (dsn_file) both give the server and its credentials: keep one", fkey, key)
	case s.User != "" || s.PasswordFile != "":
		return fmt.Errorf("%s gives the user and password: remove %s.user and %s.password_file", fkey, key, key)
	}
	o, err := readOptions(fkey, s.DefaultsFile)
	if err != nil {
		return err
	}
	if !o.TLS.IsZero() {
		if s.TLS != nil {
			return fmt.Errorf("%s (%s) and %s.tls both say how to use TLS: keep one", fkey, s.DefaultsFile, key)
		}
		t := o.TLS
		s.TLS = &t
	}
	s.User, s.Password = o.User, o.Password
	if s.Addr != "" {
		return nil
	}
	switch net, addr := where(o); {
	case net == "unix":
		c := mysql.NewConfig()
		c.User, c.Passwd, c.Net, c.Addr = o.User, o.Password, net, addr
		s.DSN = c.FormatDSN()
	case addr != "":
		s.Addr = addr
	default:
		return fmt.Errorf("%s %s: [client] names no host or socket: add host= (and port=), or set %s.addr", fkey, s.DefaultsFile, key)
	}
	return nil
}

// replicaOptions reads a replica's own option file into its DSN. The replica shares its
// shard's TLS settings (one tls= per shard), so the file may only repeat them.
func replicaOptions(key string, r *janitor.ReplicaConfig, s *janitor.ShardConfig, defaultTLS dbconn.TLS) error {
	fkey := key + ".defaults_file"
	if r.DSN != "" || r.DSNFile != "" {
		return fmt.Errorf("%s and %s.dsn (dsn_file) both give the server and its credentials: keep one", fkey, key)
	}
	o, err := readOptions(fkey, r.DefaultsFile)
	if err != nil {
		return err
	}
	shardTLS := defaultTLS
	if s.TLS != nil {
		shardTLS = *s.TLS
	}
	if !o.TLS.IsZero() && o.TLS != shardTLS {
		return fmt.Errorf("%s (%s): its ssl options differ from the shard's TLS settings, which its replicas share: remove them, or make them the same", fkey, r.DefaultsFile)
	}
	c := mysql.NewConfig()
	c.User, c.Passwd = o.User, o.Password
	switch net, addr := where(o); {
	case r.Addr != "":
		c.Net, c.Addr = "tcp", r.Addr
		if r.Name == "" {
			r.Name = r.Addr
		}
		r.Addr = "" // now in the DSN
	case addr != "":
		c.Net, c.Addr = net, addr
		if r.Name == "" {
			r.Name = addr
		}
	default:
		return fmt.Errorf("%s %s: [client] names no host or socket: add host= (and port=), or set %s.addr", fkey, r.DefaultsFile, key)
	}
	r.DSN = c.FormatDSN()
	return nil
}

// readOptions reads an option file and checks it names a user.
func readOptions(fkey, path string) (dbconn.ClientOptions, error) {
	o, err := dbconn.ReadOptionFile(path)
	if err != nil {
		return o, fmt.Errorf("%s: %w", fkey, err)
	}
	if o.User == "" {
		return o, fmt.Errorf("%s %s: [client] has no user=", fkey, path)
	}
	return o, nil
}

// where is the network and address the mysql client would use: the socket when the host
// is empty or localhost (as the client does), else TCP to host:port.
func where(o dbconn.ClientOptions) (net, addr string) {
	if o.Socket != "" && (o.Host == "" || o.Host == "localhost") {
		return "unix", o.Socket
	}
	return "tcp", o.Addr()
}
