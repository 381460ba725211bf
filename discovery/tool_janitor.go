package discovery

// janitor's own hold names (hold.go): a table janitor renamed to hold it until a due
// time. The rule runs first and alone: a held table is janitor's, whatever another
// tool's pattern might read into its name. The stamp is when the hold ends.
var janitorSpec = &ToolSpec{
	Tool: ToolJanitor, Name: "janitor",
	Rules: []Rule{
		{Role: RoleHold, Pattern: holdPattern, StampGroup: 1, StampLayout: holdStampedFmt, StampZone: StampUTC,
			StampIsDue: true, Exclusive: true, First: true},
	},
	Prefixes: []string{`\_%`},
	Examples: []Example{
		{Name: "_janitor_hold_0123456789abcdef_20240102030405_", Role: RoleHold, Stamp: "2024-01-02 03:04:05"},
	},
	DueStamp: true,
	Doc: DocRow{Tool: "janitor's own hold", Tables: "`_janitor_hold_<16 hex>_<UTC due stamp>_` (46 characters)",
		InUse: "until its hold ends, or while anything reads or writes it; see [dropping](dropping.md#holds). The rule is exclusive: no other tool's rule reads such a name, and the hold record in the table comment, not the name, says what the table was"},
}
