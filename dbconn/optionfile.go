package dbconn

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ClientOptions are the connection settings of a MySQL option file's [client] group
// (what the mysql client and pt-toolkit read from --defaults-file): a Kubernetes Secret
// is often mounted that way.
type ClientOptions struct {
	User     string
	Password string
	// HasPassword is true when the file sets password, even to "".
	HasPassword bool
	Host        string
	Port        int
	Socket      string
	// TLS is what the ssl options ask for (zero: the file says nothing about TLS).
	TLS TLS
}

// Addr is host:port (port 3306 when the file has none), or "" when the file names no host.
func (o ClientOptions) Addr() string {
	if o.Host == "" {
		return ""
	}
	port := o.Port
	if port == 0 {
		port = 3306
	}
	host := o.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	return host + ":" + strconv.Itoa(port)
}

// optionGroup is the group janitor reads. The mysql and MariaDB clients read others too
// ([mysql], [client-server], [client-mariadb]), but those are meant for their own
// programs; [client] is what every client, pt-toolkit included, shares.
const optionGroup = "client"

// ReadOptionFile reads the [client] group of a MySQL option file. Errors name the file,
// the line and the option, never a password. It refuses what it cannot honour rather
// than connect differently from the mysql client: !include and !includedir (not
// followed: put the options in this file), a password without a value (the client
// would prompt), client certificates (ssl-cert, ssl-key), and a file anyone may write
// (the mysql client ignores such a file; janitor stops).
func ReadOptionFile(path string) (ClientOptions, error) {
	var o ClientOptions
	st, err := os.Stat(path)
	if err != nil {
		return o, err
	}
	if !st.Mode().IsRegular() {
		return o, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o002 != 0 {
		return o, fmt.Errorf("%s: anyone may write it (mode %v), so anyone could point janitor at another server: chmod o-w it", path, st.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		return o, err
	}
	defer f.Close()
	group := ""
	seen := map[string]bool{}
	var groups []string
	sslMode := ""
	verifyCert := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		where := fmt.Sprintf("%s line %d", path, n)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case strings.HasPrefix(line, "!include"):
			return o, fmt.Errorf("%s: janitor does not follow !include or !includedir: put the [%s] options in this file", where, optionGroup)
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return o, fmt.Errorf("%s: a group header without its closing ]", where)
			}
			group = strings.ToLower(strings.TrimSpace(line[1:end]))
			if !seen[group] {
				seen[group] = true
				groups = append(groups, "["+group+"]")
			}
			continue
		}
		if group == "" {
			return o, fmt.Errorf("%s: an option before any [group] header", where)
		}
		if group != optionGroup {
			continue
		}
		name, value, hasValue, err := optionLine(line)
		if err != nil {
			return o, fmt.Errorf("%s: %w", where, err)
		}
		switch name {
		case "user":
			o.User = value
		case "password":
			if !hasValue {
				return o, fmt.Errorf("%s: password has no value (the mysql client would prompt for it; janitor cannot): write password=VALUE", where)
			}
			o.Password, o.HasPassword = value, true
		case "host":
			o.Host = value
		case "port":
			p, err := strconv.Atoi(value)
			if err != nil || p <= 0 || p > 65535 {
				return o, fmt.Errorf("%s: port %q is not a TCP port number", where, value)
			}
			o.Port = p
		case "socket":
			o.Socket = value
		case "ssl-ca":
			o.TLS.CAFile = value
		case "ssl-mode":
			sslMode = strings.ToUpper(value)
		case "ssl-verify-server-cert":
			if verifyCert, err = optionBool(value, hasValue); err != nil {
				return o, fmt.Errorf("%s: ssl-verify-server-cert: %w", where, err)
			}
		case "ssl":
			on, err := optionBool(value, hasValue)
			if err != nil {
				return o, fmt.Errorf("%s: ssl: %w", where, err)
			}
			if on && sslMode == "" {
				sslMode = "REQUIRED"
			} else if !on {
				sslMode = "DISABLED"
			}
		case "skip-ssl":
			sslMode = "DISABLED"
		case "ssl-cert", "ssl-key":
			return o, fmt.Errorf("%s: %s: janitor does not present client certificates; use a password (and ssl-ca to verify the server)", where, name)
		}
	}
	if err := sc.Err(); err != nil {
		return o, fmt.Errorf("%s: %w", path, err)
	}
	if !seen[optionGroup] {
		found := "no group"
		if len(groups) > 0 {
			found = strings.Join(groups, ", ")
		}
		return o, fmt.Errorf("%s: no [%s] group (it has %s): janitor reads [%s], as pt-toolkit does", path, optionGroup, found, optionGroup)
	}
	tlsMode, err := clientTLSMode(sslMode, o.TLS.CAFile != "", verifyCert)
	if err != nil {
		return o, fmt.Errorf("%s: %w", path, err)
	}
	o.TLS.Mode = tlsMode
	if tlsMode == "" {
		o.TLS = TLS{}
	}
	return o, nil
}

// clientTLSMode maps the client's ssl options onto janitor's TLS modes, as the MySQL
// client reads them: ssl-ca without ssl-mode verifies the CA; MariaDB's
// ssl-verify-server-cert also checks the name.
func clientTLSMode(sslMode string, hasCA, verifyCert bool) (string, error) {
	switch sslMode {
	case "":
		switch {
		case verifyCert:
			return TLSVerifyIdentity, nil
		case hasCA:
			return TLSVerifyCA, nil
		}
		return "", nil
	case "DISABLED":
		if hasCA || verifyCert {
			return "", errors.New("ssl-mode=DISABLED (or skip-ssl) with ssl-ca or ssl-verify-server-cert: say one")
		}
		return "", nil
	case "PREFERRED":
		if hasCA {
			// The client verifies nothing in PREFERRED: a CA would be ignored, which a
			// reader of the file would not expect.
			return "", errors.New("ssl-mode=PREFERRED verifies no certificate, so ssl-ca would be ignored: use VERIFY_CA or VERIFY_IDENTITY")
		}
		return TLSPreferred, nil
	case "REQUIRED":
		if verifyCert {
			return TLSVerifyIdentity, nil
		}
		if hasCA {
			return "", errors.New("ssl-mode=REQUIRED verifies no certificate, so ssl-ca would be ignored: use VERIFY_CA or VERIFY_IDENTITY")
		}
		return TLSRequired, nil
	case "VERIFY_CA":
		return TLSVerifyCA, nil
	case "VERIFY_IDENTITY":
		return TLSVerifyIdentity, nil
	}
	return "", fmt.Errorf("ssl-mode %q is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY", sslMode)
}

// optionLine splits "name = value" as the mysql client does: the name's dashes and
// underscores are one, a loose- prefix is dropped, and the value may be quoted (then it
// may hold # and spaces) or bare (then a # after a space starts a comment). Escapes
// \n \t \r \b \s \\ \" \' are read in either form.
func optionLine(line string) (name, value string, hasValue bool, err error) {
	raw, rest, hasValue := strings.Cut(line, "=")
	name = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(raw), "_", "-"))
	name = strings.TrimPrefix(name, "loose-")
	if name == "" || strings.ContainsAny(name, " \t") {
		// Not quoted: a line such as "password secret" would put the password in the error.
		return "", "", false, errors.New("cannot read an option name (want name=value, or a bare name)")
	}
	if !hasValue {
		return name, "", false, nil
	}
	rest = strings.TrimSpace(rest)
	if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
		q := rest[0]
		var b strings.Builder
		for i := 1; i < len(rest); i++ {
			c := rest[i]
			switch {
			case c == '\\' && i+1 < len(rest):
				i++
				b.WriteByte(unescape(rest[i]))
			case c == q:
				tail := strings.TrimSpace(rest[i+1:])
				if tail != "" && tail[0] != '#' {
					return "", "", false, fmt.Errorf("%s: text after the closing quote", name)
				}
				return name, b.String(), true, nil
			default:
				b.WriteByte(c)
			}
		}
		return "", "", false, fmt.Errorf("%s: the value's quote is not closed", name)
	}
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '#' && (i == 0 || rest[i-1] == ' ' || rest[i-1] == '\t'):
			return name, strings.TrimSpace(b.String()), true, nil
		case c == '\\' && i+1 < len(rest):
			i++
			b.WriteByte(unescape(rest[i]))
		default:
			b.WriteByte(c)
		}
	}
	return name, strings.TrimSpace(b.String()), true, nil
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'b':
		return '\b'
	case 's':
		return ' '
	}
	return c // \\ \" \' and any other character stand for themselves
}

// optionBool reads a boolean option: bare means on; 1/0, on/off, true/false.
func optionBool(value string, hasValue bool) (bool, error) {
	if !hasValue {
		return true, nil
	}
	switch strings.ToLower(value) {
	case "1", "on", "true", "yes":
		return true, nil
	case "0", "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off", value)
}
