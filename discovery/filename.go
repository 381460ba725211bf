package discovery

import (
	"errors"
	"strings"
	"unicode/utf8"
)

//go:generate go run gen_filename.go -o filename_table.go

// The server names a table's files, and InnoDB most of its dictionary entries, in its
// own "filename" character set (my_charset_filename, strings/ctype-utf8.c in the server
// source). EncodeFilename and DecodeFilename follow the server's my_wc_mb_filename and
// my_mb_wc_filename exactly:
//
//   - ASCII letters, digits and _ stay as they are;
//   - about 1,500 letters (Latin-1 and Latin Extended, Greek, Cyrillic, Armenian, Latin
//     Extended Additional, Roman numerals, circled and full-width letters) become @ and
//     two characters from a fixed table (é is @0p, Ж is @M0);
//   - every other character below U+10000 becomes @ and four lower-case hex digits
//     (` is @0060, 中 is @4e2d).
//
// The two-character table is the server's own, read from a running server by
// gen_filename.go; TestFilenameEncodingMatchesServer compares every character of the
// Basic Multilingual Plane with the server's CONVERT(... USING filename).

// ErrNoFilename is the error of a name janitor cannot write as the server would.
var ErrNoFilename = errors.New("name has no exact filename encoding")

// EncodeFilename encodes an identifier the way the server names its files. ok is false
// for a name the server's encoding does not represent exactly (a character above
// U+FFFF, which identifiers cannot hold; a NUL; invalid UTF-8; the #mysql50# prefix that
// names a raw file): a lookup by such a name would be a guess.
func EncodeFilename(s string) (string, bool) {
	if strings.HasPrefix(s, "#mysql50#") || !utf8.ValidString(s) {
		return "", false
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == 0 || r > 0xFFFF:
			return "", false
		case r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_'):
			b.WriteRune(r)
		default:
			b.WriteByte('@')
			if code, ok := filenameEncode[r]; ok {
				b.WriteByte(byte(code/80 + 0x30))
				b.WriteByte(byte(code%80 + 0x30))
				continue
			}
			b.WriteByte(hex[r>>12&15])
			b.WriteByte(hex[r>>8&15])
			b.WriteByte(hex[r>>4&15])
			b.WriteByte(hex[r&15])
		}
	}
	return b.String(), true
}

// DecodeFilename reverses EncodeFilename as the server does. ok is false when s is not
// a well-formed filename-encoded name (the server would read an invalid sequence there).
func DecodeFilename(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b.WriteByte(c)
			i++
			continue
		}
		if c != '@' || i+3 > len(s) {
			return "", false
		}
		b1, b2 := s[i+1], s[i+2]
		if b1 >= 0x30 && b1 <= 0x7F && b2 >= 0x30 && b2 <= 0x7F {
			if r, ok := filenameDecode[uint16(int(b1-0x30)*80+int(b2-0x30))]; ok {
				if r == 0 {
					return "", false // @@@, the server's NUL: no identifier holds one
				}
				b.WriteRune(r)
				i += 3
				continue
			}
		}
		if i+5 > len(s) {
			return "", false
		}
		var r rune
		for _, h := range []byte(s[i+1 : i+5]) {
			d := strings.IndexByte("0123456789abcdef", h) // the server reads lower case only
			if d < 0 {
				return "", false
			}
			r = r<<4 | rune(d)
		}
		if r == 0 || !utf8.ValidRune(r) {
			return "", false
		}
		b.WriteRune(r)
		i += 5
	}
	return b.String(), true
}
