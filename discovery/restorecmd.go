package discovery

// RestoreCommand is the command that undoes the hold of schema.table (the table's
// original name) on shard, each argument quoted for a POSIX shell where it needs it.
// Reasons and logs spell the command with it alone, whatever characters the names hold.
func RestoreCommand(shard, schema, table string) string {
	return "janitor restore --shard " + QuoteArg(shard) + " " + QuoteArg(schema+"."+table)
}

// JanitorHold is the hold record of a table janitor holds (a hold name whose comment
// carries the record); nil for every other table, a hold name without a record included.
func (t *Table) JanitorHold() *Hold {
	if !t.HoldState().UnderHold() {
		return nil
	}
	return t.Hold
}
