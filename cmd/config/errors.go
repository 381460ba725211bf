package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/policies"
)

// sources knows where each key's value came from, so that an error can name the file
// and key, or the environment variable, and the value as the user wrote it.
type sources struct {
	path string
	file map[string]any // the file alone, as viper read it (lowercased keys)
}

// scalarKeys are the keys an environment variable can set.
var scalarKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range Keys() {
		m[k] = true
	}
	return m
}()

// origin describes where name's value came from and returns that value as written
// (nil when there is none). name is a key as errors spell it: policy.min_age,
// shards[0].throttle.max_wait, discovery.schemas[2].
func (s sources) origin(name string) (where string, value any, env bool) {
	key := indexRE.ReplaceAllString(name, "")
	if scalarKeys[key] {
		if val, set := os.LookupEnv(EnvName(key)); set {
			where = fmt.Sprintf("environment variable %s (overrides %s)", EnvName(key), key)
			if name != key { // an element of a list given as "a,b,c"
				return where, nil, true
			}
			return where, val, true
		}
	}
	return "config file " + s.path + ": " + name, s.fileValue(name), false
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// fileValue follows name through the file's maps and lists.
func (s sources) fileValue(name string) any {
	var cur any = s.file
	for _, part := range strings.Split(name, ".") {
		field, rest, _ := strings.Cut(part, "[")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[strings.ToLower(field)]; !ok {
			return nil
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			rest = strings.TrimPrefix(after, "[")
			i, err := strconv.Atoi(num)
			list, ok := cur.([]any)
			if err != nil || !ok || i < 0 || i >= len(list) {
				return nil
			}
			cur = list[i]
		}
	}
	return cur
}

// typeAt is the Go type the configuration holds at name (nil if unknown).
func typeAt(name string) reflect.Type {
	t := reflect.TypeOf(janitor.Config{})
	for _, part := range strings.Split(name, ".") {
		field, rest, _ := strings.Cut(part, "[")
		if t.Kind() != reflect.Struct {
			return nil
		}
		found := false
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("mapstructure") == field {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return nil
		}
		for ; rest != ""; rest = strings.TrimPrefix(rest[strings.Index(rest, "]")+1:], "[") {
			if t.Kind() != reflect.Slice {
				return nil
			}
			t = t.Elem()
		}
	}
	return t
}

// secret reports whether name's value must never appear in a message.
func secret(name string) bool {
	return strings.HasSuffix(name, "dsn") || strings.HasSuffix(name, "webhook_url")
}

// show renders a value for a message: quoted, with URL credentials hidden.
func show(name string, v any) string {
	if secret(name) {
		return "(value hidden: it holds a credential)"
	}
	s := fmt.Sprint(v)
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("xxxxx")
		s = u.String()
	}
	return strconv.Quote(s)
}

// advice says what to write for a value of type t.
func advice(name string, t reflect.Type) (want, hint string) {
	switch {
	case t == nil:
		return "valid here", "see docs/configuration.md"
	case t == durationType:
		return "a duration", "write a number with a unit (ns, us, ms, s, m, h), like 30s, 10m or 48h; the longest is 2562047h"
	case t.Kind() == reflect.Bool:
		return "true or false", "write true or false"
	case t.Kind() == reflect.Int64 && strings.Contains(name, "bytes"):
		return "a whole number of bytes", fmt.Sprintf("write bytes without a unit, like 10737418240 for 10 GiB (at most %d)", int64(1<<63-1))
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		bits := t.Bits()
		return "a whole number", fmt.Sprintf("write a whole number, at most %d", int64(1)<<(bits-1)-1)
	case t.Kind() == reflect.Slice:
		return "a list of names", "write [a, b] in the file, or a,b in the environment"
	case t == reflect.TypeOf(policies.KeepEntry{}):
		return "a {schema, table} entry", "write {schema: shop, table: orders_old} (or {schema: shop, all_tables: true}): the two are apart because a name may contain dots"
	case t.Kind() == reflect.Struct:
		return "a section", "write its keys indented under it (see docs/configuration.md)"
	case t.Kind() == reflect.String:
		return "a string", "quote it"
	}
	return "valid here", "see docs/configuration.md"
}

// decodeErrors turns mapstructure's errors into one line per key.
func (s sources) decodeErrors(err error) error {
	var lines []error
	walkDecode(err, func(name string, cause error) {
		if name == "" || strings.HasPrefix(cause.Error(), "has invalid keys") || strings.HasPrefix(cause.Error(), "has unset fields") {
			msg := cause.Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				in := "at the top level"
				if name != "" && !strings.Contains(name, "Config") {
					in = "in " + name
				}
				msg = fmt.Sprintf("unknown key %s %s: check the spelling against docs/configuration.md", keys, in)
			} else if name != "" {
				msg = name + ": " + msg
			}
			lines = append(lines, fmt.Errorf("config file %s: %s", s.path, msg))
			return
		}
		where, value, env := s.origin(name)
		want, hint := advice(name, typeAt(name))
		var b strings.Builder
		fmt.Fprintf(&b, "%s: ", where)
		if value != nil {
			fmt.Fprintf(&b, "%s ", show(name, value))
		}
		fmt.Fprintf(&b, "is not %s", want)
		detail := ownDetail(cause)
		if _, err := strconv.ParseFloat(fmt.Sprint(value), 64); err == nil && typeAt(name) == durationType {
			detail = "it has no unit"
		}
		if detail != "" {
			fmt.Fprintf(&b, " (%s)", detail)
		}
		fmt.Fprintf(&b, "; %s", hint)
		if env {
			key := indexRE.ReplaceAllString(name, "")
			fmt.Fprintf(&b, "; or unset %s to use the file's value", EnvName(key))
		}
		lines = append(lines, errors.New(b.String()))
	})
	return errors.Join(lines...)
}

// ownDetail keeps the reason our own decode hooks give (no unit, a fraction, out of
// range) and drops the library's (strconv.ParseInt: invalid syntax), which only
// restates the value.
func ownDetail(cause error) string {
	var mine *hookError
	if errors.As(cause, &mine) {
		return mine.msg
	}
	return ""
}

// hookError is a reason our decode hooks give.
type hookError struct{ msg string }

func (e *hookError) Error() string { return e.msg }

func walkDecode(err error, fn func(name string, cause error)) {
	var de *mapstructure.DecodeError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			walkDecode(x, fn)
		}
		return
	case *mapstructure.DecodeError:
		de = e
	default:
		if u := errors.Unwrap(err); u != nil {
			walkDecode(u, fn)
			return
		}
		fn("", err)
		return
	}
	var nested *mapstructure.DecodeError
	if errors.As(de.Unwrap(), &nested) {
		walkDecode(de.Unwrap(), fn)
		return
	}
	fn(de.Name(), de.Unwrap())
}

// keyRE finds the key a validation message starts with.
var keyRE = regexp.MustCompile(`^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): `)

// place prefixes each validation problem with where its key's value came from, and
// adds the value when the message does not already show it.
func (s sources) place(err error) error {
	parts := problems(err)
	out := make([]error, 0, len(parts))
	for _, p := range parts {
		msg := p.Error()
		m := keyRE.FindStringSubmatch(msg)
		if m == nil {
			out = append(out, fmt.Errorf("config file %s: %w", s.path, p))
			continue
		}
		name := m[1]
		where, value, env := s.origin(name)
		rest := msg[len(m[0]):]
		if value != nil && !secret(name) && isScalar(value) && !strings.Contains(rest, fmt.Sprint(value)) {
			rest = show(name, value) + ": " + rest
		}
		line := fmt.Sprintf("%s: %s", where, rest)
		if env {
			line += fmt.Sprintf(" (fix or unset %s)", EnvName(indexRE.ReplaceAllString(name, "")))
		}
		out = append(out, &placed{line, p})
	}
	return errors.Join(out...)
}

// problems flattens joined errors (each configuration section joins its own) into one
// error per problem, so that each line is placed.
func problems(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, problems(e)...)
	}
	return out
}

// placed keeps the validation error underneath for errors.Is/As.
type placed struct {
	msg string
	err error
}

func (p *placed) Error() string { return p.msg }
func (p *placed) Unwrap() error { return p.err }

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}
