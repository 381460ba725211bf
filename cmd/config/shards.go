package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/janitor"
)

var replicaType = reflect.TypeOf(janitor.ReplicaConfig{})

// replicaAddr reads a replica written as a plain "host:port" string as its addr.
func replicaAddr(from, to reflect.Type, data any) (any, error) {
	if to != replicaType || from.Kind() != reflect.String {
		return data, nil
	}
	return map[string]any{"addr": data}, nil
}

// readSecret reads a mounted secret file; only the trailing line break goes (a password
// may begin or end with a space).
func readSecret(key, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", key, file)
	}
	return v, nil
}

// readPasswords reads shard_defaults.password_file and each shard's password_file.
func readPasswords(cfg *janitor.Config) error {
	var errs []error
	if f := cfg.ShardDefaults.PasswordFile; f != "" {
		v, err := readSecret("shard_defaults.password_file", f)
		errs = append(errs, err)
		cfg.ShardDefaults.Password = v
	}
	for i := range cfg.Shards {
		if f := cfg.Shards[i].PasswordFile; f != "" {
			v, err := readSecret(fmt.Sprintf("shards[%d].password_file", i), f)
			errs = append(errs, err)
			cfg.Shards[i].Password = v
		}
	}
	return errors.Join(errs...)
}

// readShardsDir adds a shard for every file of shards_dir: its name is the shard's, its
// content the DSN. A Kubernetes Secret volume holds, beside one symlink per key, the
// ..data symlink and a ..<timestamp> directory it swaps atomically: names starting with
// a dot are not shards. A shards entry with the file's name and no DSN of its own takes
// the file's DSN and adds its settings (replicas, throttle, vitess_tablegc).
func readShardsDir(cfg *janitor.Config) error {
	dir := cfg.ShardsDir
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("shards_dir: %w", err)
	}
	byName := map[string]int{}
	for i, s := range cfg.Shards {
		byName[s.Name] = i
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		path := filepath.Join(dir, name)
		src := fmt.Sprintf("shards_dir %s: file %q", dir, name)
		st, err := os.Stat(path) // follows the Secret's symlinks
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
			continue
		}
		if !st.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("%s: not a regular file (one DSN file per shard; names starting with a dot are ignored)", src))
			continue
		}
		dsn, err := readSecret(src, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := dbconn.ParseDSN(dsn); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
			continue
		}
		if i, ok := byName[name]; ok {
			s := &cfg.Shards[i]
			if s.DSN != "" || s.DSNFile != "" || s.Addr != "" {
				errs = append(errs, fmt.Errorf("shards[%d] (%q) has its own DSN and %s gives another: remove one", i, name, src))
				continue
			}
			s.DSN = dsn
			continue
		}
		cfg.Shards = append(cfg.Shards, janitor.ShardConfig{Name: name, DSN: dsn, Source: src})
	}
	return errors.Join(errs...)
}

// registerTLS is janitor.TLSRegistrar for the real driver.
func registerTLS(key string, t dbconn.TLS) (string, error) { return t.Register(key) }
