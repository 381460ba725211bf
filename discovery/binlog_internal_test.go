package discovery

import "testing"

// TestGrantMayMigrate reads SHOW GRANTS lines of both flavors: a replication-only
// account is a replica; anything that may create, alter or drop tables, a role or a
// proxy grant may be an online schema change tool.
func TestGrantMayMigrate(t *testing.T) {
	for _, c := range []struct {
		line string
		may  bool
	}{
		{"GRANT REPLICATION SLAVE ON *.* TO `repl`@`127.0.0.1` IDENTIFIED BY PASSWORD '*B2223A1B9A7E952649ECF55125F961C843D31E27'", false},
		{"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `repl`@`%`", false},
		{"GRANT REPLICATION SLAVE, SLAVE MONITOR, BINLOG MONITOR ON *.* TO `repl`@`%`", false},
		{"GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `debezium`@`%`", false},
		{"GRANT USAGE ON *.* TO `x`@`%`", false},
		{"REVOKE ALTER ON `secret`.* FROM `x`@`%`", false},
		{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION", true},
		{"GRANT ALL PRIVILEGES ON `shop`.* TO `ghost`@`%`", true},
		{"GRANT ALTER, CREATE, DELETE, DROP, INDEX, INSERT, LOCK TABLES, SELECT, TRIGGER, UPDATE ON `shop`.* TO `ghost`@`%`", true},
		{"GRANT SUPER, REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO `ghost`@`%`", false},
		{"GRANT CREATE ON *.* TO `x`@`%`", true},
		{"GRANT DROP ON `a`.* TO `x`@`%`", true},
		{"GRANT `migrator`@`%` TO `ghost`@`%`", true},
		{"GRANT `migrator` TO `ghost`@`%`", true},
		{"GRANT `mig ON x`@`%` TO `ghost`@`%`", true},
		{"GRANT `mig ON x` TO `ghost`@`%`", true},
		{"GRANT 'mig ON x'@'%' TO 'ghost'@'%'", true},
		{"GRANT PROXY ON ''@'' TO 'ghost'@'%'", true},
	} {
		if got := grantMayMigrate(c.line) != ""; got != c.may {
			t.Errorf("%s: may migrate %v, want %v", c.line, got, c.may)
		}
	}
}

// TestGrantScope: which schemas a SHOW GRANTS line lets its account migrate in, with
// names that hold quotes, " ON ", commas and wildcards.
func TestGrantScope(t *testing.T) {
	for _, c := range []struct {
		line, schema string
		may          bool
	}{
		{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`", "", true},
		{"GRANT ALL PRIVILEGES ON `maxwell`.* TO `maxwell`@`%`", "maxwell", true},
		{"GRANT ALTER, CREATE, DROP ON `a``b`.* TO `x`@`%`", "a`b", true},
		{"GRANT ALTER ON `shop`.`orders` TO `x`@`%`", "shop", true},
		{"GRANT ALTER ROUTINE ON PROCEDURE `shop`.`p` TO `x`@`%`", "shop", true},
		{"GRANT ALL PRIVILEGES ON `s ON x`.* TO `x`@`%`", "s ON x", true},
		{"GRANT SELECT (`a ON x`), ALTER ON `shop`.`t` TO `x`@`%`", "shop", true},
		{"GRANT SELECT (`a ON *.* TO x`) ON `shop`.`t` TO `x`@`%`", "", false},
		{"GRANT ALL ON * TO `x`@`%`", "", true},
		{"GRANT SELECT, REPLICATION SLAVE ON *.* TO `maxwell`@`%`", "", false},
	} {
		why, schema := grantScope(c.line)
		if (why != "") != c.may || schema != c.schema {
			t.Errorf("%s: may %v in %q; want %v in %q", c.line, why != "", schema, c.may, c.schema)
		}
	}
}

// TestSchemaPatternCovers: a schema grant's pattern errs towards covering.
func TestSchemaPatternCovers(t *testing.T) {
	for _, c := range []struct {
		pattern, schema string
		covers          bool
	}{
		{"shop", "shop", true},
		{"shop", "SHOP", true},
		{"shop", "shop2", false},
		{"maxwell", "shop", false},
		{"shop\\_%", "shop_1", true},
		{"shop\\_%", "shopx1", true}, // an escaped _ still covers: errs towards yes
		{"shop_%", "shopx1", true},
		{"a\\b", "a\\b", true},
		{"a.b", "axb", false},
		{"a(b", "a(b", true},
	} {
		if got := schemaPatternCovers(c.pattern, c.schema); got != c.covers {
			t.Errorf("%q covers %q: %v; want %v", c.pattern, c.schema, got, c.covers)
		}
	}
}

// TestUnquoteName reads role names as mandatory_roles writes them; what it cannot read
// is refused (and then every binary log client is kept).
func TestUnquoteName(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"r1", "r1", true},
		{"`my role`", "my role", true},
		{"`a``b`", "a`b", true},
		{"'r'", "r", true},
		{"\"r\"", "r", true},
		{"", "", true},
		{"`open", "", false},
		{"a b", "", false},
		{"a'b", "", false},
	} {
		got, ok := unquoteName(c.in)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("%q: %q %v; want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
