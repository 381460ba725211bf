package discovery

import "regexp"

// ToolOrphan is a crashed ALTER's intermediate #sql table.
const ToolOrphan Tool = "mysql-orphan"

// A crashed ALTER's intermediate table: #sql-ib<id>[-<n>] (InnoDB's own), #sql-<pid>_<thread>
// and #sql2-… (the server's copy), #sql-alter-/#sql-backup-… (MariaDB 10.6+, MySQL 8).
// They come from the InnoDB dictionary, not from a table listing.
var orphanSpec = &ToolSpec{
	Tool: ToolOrphan, Name: "crashed ALTER", Droppable: true,
	Rules: []Rule{
		{Role: RoleOrphan, Pattern: regexp.MustCompile(`^#sql-ib\d+(?:-\d+)?$`)},
		{Role: RoleOrphan, Pattern: regexp.MustCompile(`^#sql2?-[0-9a-f]+[-_][0-9a-f]+(?:_\d+)?$`)},
		{Role: RoleOrphan, Pattern: regexp.MustCompile(`^#sql-(?:alter|backup)-[0-9a-f]+-[0-9a-f]+(?:-[0-9a-f]+)?$`)},
	},
	Prefixes: []string{`#sql%`},
	Examples: []Example{
		{Name: "#sql-ib1234-5678", Role: RoleOrphan},
		{Name: "#sql-5c1d_2a", Role: RoleOrphan},
		{Name: "#sql2-5c1d-2a", Role: RoleOrphan},
		{Name: "#sql-alter-5c1d-2a", Role: RoleOrphan},
		{Name: "#sql-backup-5c1d-2a-1", Role: RoleOrphan},
	},
	Doc: DocRow{Tool: "crashed ALTER", Tables: "`#sql-ib…`, `#sql-…`, `#sql-alter-…`", InUse: "any ALTER-like statement running"},
}
