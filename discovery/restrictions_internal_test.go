package discovery

import (
	"strings"
	"testing"
)

// TestParseRevoke reads SHOW GRANTS' REVOKE lines as MySQL 9.7 prints them, schema
// names with backticks, dots and spaces included, and keeps only the privileges that
// hide evidence.
func TestParseRevoke(t *testing.T) {
	for _, c := range []struct {
		line, schema, privs string
		ok                  bool
	}{
		{"REVOKE SELECT, INSERT, SHOW VIEW, EVENT, TRIGGER ON `secret`.* FROM `janitor`@`%`", "secret", "SELECT,SHOW VIEW,EVENT,TRIGGER", true},
		{"REVOKE INSERT, UPDATE ON `secret`.* FROM `janitor`@`%`", "secret", "", true},
		{"REVOKE ALL PRIVILEGES ON `a``b.c d`.* FROM `j`@`h`", "a`b.c d", "SELECT,SHOW VIEW,TRIGGER,EVENT", true},
		{"REVOKE SELECT ON `x`.`t` FROM `j`@`h`", "", "", false},
		{"REVOKE SELECT ON *.* FROM `j`@`h`", "", "", false},
	} {
		r, ok := parseRevoke(c.line)
		if ok != c.ok || ok && (r.Schema != c.schema || strings.Join(r.Privileges, ",") != c.privs) {
			t.Errorf("%q: %+v %t; want schema %q, privileges %q, %t", c.line, r, ok, c.schema, c.privs, c.ok)
		}
	}
	s := Server{Restrictions: []Restriction{{Schema: "a`b", Privileges: []string{"SHOW VIEW"}, Line: "REVOKE SHOW VIEW ON `a``b`.* FROM `j`@`%`"}}}
	if err := s.HiddenEvidence(); err == nil || !strings.Contains(err.Error(), "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `a``b`.* TO `j`@`%`") {
		t.Errorf("HiddenEvidence: %v", err)
	}
}
