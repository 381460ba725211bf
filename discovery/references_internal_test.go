package discovery

import (
	"slices"
	"testing"
)

func TestUnionList(t *testing.T) {
	for _, c := range []struct {
		def  string
		want [][2]string
		bad  bool
	}{
		{"CREATE TABLE `logs_all` (\n  `id` int(11) DEFAULT NULL\n) ENGINE=MRG_MyISAM DEFAULT CHARSET=utf8mb4 UNION=(`_logs_old`,`logs`)",
			[][2]string{{"", "_logs_old"}, {"", "logs"}}, false},
		{"CREATE TABLE `q` (`id` int) ENGINE=MRG_MyISAM INSERT_METHOD=LAST UNION=(`we.ird`.`_lo``g é_old`,`logs`)",
			[][2]string{{"we.ird", "_lo`g é_old"}, {"", "logs"}}, false},
		// A column or comment that spells UNION=( is not the option.
		{"CREATE TABLE `union` (`UNION=(x)` int COMMENT 'UNION=(`y`)') ENGINE=MRG_MyISAM COMMENT='it''s UNION=(z)' UNION=(`a`)",
			[][2]string{{"", "a"}}, false},
		{"CREATE TABLE `e` (`id` int) ENGINE=MRG_MyISAM", [][2]string{}, false},
		{"CREATE TABLE `e` (`id` int) ENGINE=MRG_MyISAM UNION=()", nil, false},
		// ANSI_QUOTES and sql_quote_show_create=0 forms.
		{`CREATE TABLE "m" ("id" int) ENGINE=MRG_MyISAM UNION=("s"."t", u)`, [][2]string{{"s", "t"}, {"", "u"}}, false},
		{"CREATE TABLE `m` (`id` int) ENGINE=MRG_MyISAM UNION=(`a`", nil, true},
		{"CREATE TABLE `m` (`id` int) ENGINE=MRG_MyISAM UNION=(`a` `b`)", nil, true},
	} {
		got, err := unionList(c.def)
		if (err != nil) != c.bad || !slices.Equal(got, c.want) {
			t.Errorf("unionList(%q) = %q, %v; want %q (error %v)", c.def, got, err, c.want, c.bad)
		}
	}
}

func TestNamesWord(t *testing.T) {
	for text, want := range map[string]bool{
		"CONNECTION='mysql://u:p@127.0.0.1:3306/db/_logs_old'": true,
		`COMMENT='table "_LOGS_OLD", database "db"'`:           true,
		"TABLE_LIST='a,_logs_old'":                             true,
		"CONNECTION='mysql://h/db/_logs_old2'":                 false,
		"CONNECTION='mysql://h/db/x_logs_old'":                 false,
		"CONNECTION='mysql://h/db/é_logs_old'":                 false,
	} {
		if got := namesWord(text, "_logs_old"); got != want {
			t.Errorf("namesWord(%q) = %v, want %v", text, got, want)
		}
	}
}
