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
