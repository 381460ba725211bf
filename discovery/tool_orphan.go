package discovery

import "regexp"

// ToolOrphan is a crashed ALTER's intermediate #sql table.
const ToolOrphan Tool = "mysql-orphan"

// A crashed ALTER's intermediate table: #sql-ib<id>[-<n>] (InnoDB's own), #sql-<pid>_<thread>
// and #sql2-… (the server's copy), #sql-alter-/#sql-backup-… (MariaDB 10.6+, MySQL 8).
// They come from the InnoDB dictionary, not from a table listing.
//
// Anyone may name a table #sql-1a2b_3 in backticks, and the name alone cannot tell it
// from the server's (issue 18: two such tables holding data were held). What tells
// them apart is how the server lists them. MariaDB writes a user's #sql… table to a
// file whose name is encoded (@0023sql@002d…), lists it in information_schema.TABLES
// and names its tablespace encoded too, and hides every file that starts with #sql from
// its listings; MySQL 8 keeps an ALTER's intermediate table as a hidden table of the data
// dictionary, left out of TABLES, while its tablespace view spells both plain (db/#sql…).
// So a #sql name that TABLES lists is a user's table: ListNames never takes it for an
// orphan, the pre-DROP re-check asks again, and the policy keeps such a table as a
// look-alike (Unlisted).
var orphanSpec = &ToolSpec{
	Tool: ToolOrphan, Name: "crashed ALTER", Droppable: true,
	Unlisted: "a crashed ALTER's #sql table is never listed in information_schema.TABLES (MariaDB hides #sql files, MySQL 8 keeps it as a hidden dictionary table), and this one is: a table someone named like one",
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
