package discovery

import (
	"regexp"
	"time"
	"unicode"
)

// ToolPTOSC is Percona Toolkit's pt-online-schema-change.
const ToolPTOSC Tool = "pt-osc"

// pt-online-schema-change (Percona Toolkit): _<t>_new is the copy, _<t>_old the original
// after the swap; it prepends '_' until the name is free (up to ten times). Its
// triggers pt_osc_<db>_<t>_ins/upd/del on the base feed the copy.
var ptoscSpec = &ToolSpec{
	Tool: ToolPTOSC, Name: "pt-osc", Droppable: true,
	Rules: []Rule{
		{Role: RoleNew, Pattern: regexp.MustCompile(`^_{1,10}(.+)_new$`), BaseGroup: 1},
		{Role: RoleOld, Pattern: regexp.MustCompile(`^_{1,10}(.+)_old$`), BaseGroup: 1},
	},
	Prefixes: []string{`\_%`},
	Examples: []Example{
		{Name: "_orders_new", Role: RoleNew, Base: "orders"},
		{Name: "_orders_old", Role: RoleOld, Base: "orders"},
		{Name: "__orders_old", Role: RoleOld, Base: "orders"},
	},
	Names: func(base string, _ time.Time) []Example {
		var out []Example
		for _, pre := range []string{"_", "__"} {
			out = append(out, Example{Name: pre + base + "_new", Role: RoleNew, Base: base},
				Example{Name: pre + base + "_old", Role: RoleOld, Base: base})
		}
		return out
	},
	ConfusedWith: []Tool{ToolSpirit},
	Triggers:     ptoscTrigger,
	Doc: DocRow{Tool: "pt-online-schema-change", Tables: "`_t_new`, `_t_old` (1–10 leading `_`)",
		InUse: "`pt_osc_<db>_<t>_ins/upd/del` triggers on `t`"},
}

// ptoscTrigger matches the names of pt-online-schema-change's triggers for base. The
// tool builds them as 'pt_osc_' . db . '_' . tbl with every non-word character made '_'
// and cut to 60 (Perl's s/\W/_/g, on bytes or on characters depending on how DBI
// handed it the names), then _ins, _upd, _del: both readings are matched.
func ptoscTrigger(schema, base string) *regexp.Regexp {
	raw := "pt_osc_" + schema + "_" + base
	byBytes := []byte(raw)
	for i, c := range byBytes {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			byBytes[i] = '_'
		}
	}
	if len(byBytes) > 60 {
		byBytes = byBytes[:60]
	}
	byChars := []rune(raw)
	for i, r := range byChars {
		// Perl's \w: alphabetic, marks, decimal digits, connector punctuation, joiners.
		if !(unicode.IsLetter(r) || unicode.In(r, unicode.M, unicode.Nd, unicode.Nl, unicode.Pc, unicode.Join_Control)) {
			byChars[i] = '_'
		}
	}
	if len(byChars) > 60 {
		byChars = byChars[:60]
	}
	return regexp.MustCompile(`^(?:` + regexp.QuoteMeta(string(byBytes)) + `|` + regexp.QuoteMeta(string(byChars)) + `)_(ins|upd|del)$`)
}
