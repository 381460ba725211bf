// Package config loads janitor's configuration: a YAML file, with every key overridable
// by a JANITOR_-prefixed environment variable (policy.min_age is JANITOR_POLICY_MIN_AGE),
// decoded strictly into janitor.Config and validated. viper lives here and nowhere else.
package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/janitorhq/janitor/janitor"
)

// EnvPrefix prefixes every environment override.
const EnvPrefix = "JANITOR"

// Load reads path, applies environment overrides, resolves *_file secrets and MySQL
// option files (defaults_file) and validates.
// Each problem is one line that says where the value came from (the file and key, or
// the environment variable), the value (never a DSN's password or a webhook URL), and
// what to write instead.
func Load(path string) (janitor.Config, error) {
	cfg := janitor.Defaults()
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		var nf viper.ConfigFileNotFoundError
		if errors.As(err, &nf) || errors.Is(err, os.ErrNotExist) {
			return cfg, fmt.Errorf("config file %s: not found", path)
		}
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	src := sources{path: path, file: v.AllSettings()}
	// JANITOR_X="" means "set X to empty" (turn the webhook off here), not "ignore me".
	v.AllowEmptyEnv(true)
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, key := range Keys() {
		if err := v.BindEnv(key); err != nil {
			return cfg, fmt.Errorf("bind %s: %w", key, err)
		}
		// An empty number, switch or duration would decode as 0 or false, which for a
		// limit means "no limit": only strings and lists may be emptied.
		if val, set := os.LookupEnv(EnvName(key)); set && strings.TrimSpace(val) == "" && !emptiable[key] {
			return cfg, fmt.Errorf("environment variable %s is set but empty: unset it, or give %s a value", EnvName(key), key)
		}
	}
	err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		replicaAddr,
		commaList,
	)), func(dc *mapstructure.DecoderConfig) {
		// "24" is not a duration: refuse rather than read it as 24ns.
		dc.WeaklyTypedInput = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(rejectBareNumberDurations, rejectFractions, dc.DecodeHook)
	})
	if err != nil {
		return cfg, src.decodeErrors(err)
	}
	if err := resolveFiles(&cfg); err != nil {
		return cfg, src.place(err)
	}
	if err := errors.Join(readPasswords(&cfg), readOptionFiles(&cfg), readShardsDir(&cfg)); err != nil {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := cfg.ResolveShards(registerTLS); err != nil {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, src.place(err)
	}
	return cfg, nil
}

// commaList reads "a, b,c" (from the environment, or a string in the file) as a list of
// names, each trimmed, empty ones dropped.
func commaList(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.String {
		return data, nil
	}
	out := []string{}
	for _, p := range strings.Split(data.(string), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// rejectFractions refuses 0.5 for a count: weak decoding would truncate it to 0, which
// reads as "no limit". It also refuses a number too large for the key: YAML reads
// 99999999999999999999 as a float, and converting that wraps to a negative count.
func rejectFractions(from, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
	default:
		return data, nil
	}
	if to == durationType {
		return data, nil
	}
	var f float64
	switch x := data.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		return data, nil
	}
	if f != math.Trunc(f) {
		return nil, &hookError{fmt.Sprintf("%v is not a whole number", f)}
	}
	// 2^(bits-1) is exact in a float64; anything at or over it does not fit.
	if limit := math.Ldexp(1, to.Bits()-1); f >= limit || f < -limit {
		return nil, &hookError{"out of range"}
	}
	return data, nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func rejectBareNumberDurations(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int64, reflect.Float64, reflect.Int32, reflect.Uint64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, &hookError{"it has no unit"}
	}
	return data, nil
}

// resolveFiles reads dsn_file and webhook_url_file, so Kubernetes Secrets can be
// mounted as files.
func resolveFiles(cfg *janitor.Config) error {
	var errs []error
	read := func(key, file string, value *string) {
		if file == "" {
			return
		}
		if *value != "" {
			errs = append(errs, fmt.Errorf("%s: set either the value or the _file, not both", key))
			return
		}
		b, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s_file: %w", key, err))
			return
		}
		*value = strings.TrimSpace(string(b))
		if *value == "" {
			errs = append(errs, fmt.Errorf("%s_file: %s is empty", key, file))
		}
	}
	for i := range cfg.Shards {
		s := &cfg.Shards[i]
		read(fmt.Sprintf("shards[%d].dsn", i), s.DSNFile, &s.DSN)
		for k := range s.Replicas {
			r := &s.Replicas[k]
			read(fmt.Sprintf("shards[%d].replicas[%d].dsn", i, k), r.DSNFile, &r.DSN)
		}
	}
	read("slack.webhook_url", cfg.Slack.WebhookURLFile, &cfg.Slack.WebhookURL)
	return errors.Join(errs...)
}

// Keys lists every scalar key of the configuration (not inside lists), each of which an
// environment variable can override.
func Keys() []string {
	var keys []string
	leaves(reflect.TypeOf(janitor.Config{}), "", func(key string, _ reflect.Type) { keys = append(keys, key) })
	return keys
}

// emptiable are the keys an empty environment variable may clear: strings and lists.
var emptiable = func() map[string]bool {
	m := map[string]bool{}
	leaves(reflect.TypeOf(janitor.Config{}), "", func(key string, t reflect.Type) {
		m[key] = t.Kind() == reflect.String || t.Kind() == reflect.Slice
	})
	return m
}()

// leaves calls fn for every scalar key of the configuration (lists of structs, the
// shards, are configured in the file only).
func leaves(t reflect.Type, prefix string, fn func(key string, t reflect.Type)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != durationType:
			leaves(f.Type, key, fn)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
		case f.Type.Kind() == reflect.Map: // http_client sections: in the file only
		default:
			fn(key, f.Type)
		}
	}
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}
