package client

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit, so both accept the same documents.
const maxDepth = 10000

// parser is a validating, single-pass JSON reader over a complete document.
// Decoding pages with it costs a fraction of encoding/json's reflection, which
// matters because every poll decodes every page it reads. It accepts exactly
// what encoding/json accepts (checked by FuzzDecodePage).
type parser struct {
	buf   []byte
	pos   int
	depth int
}

var errUnexpectedEnd = errors.New("unexpected end of JSON input")

// unexpected describes the byte at pos, or the end of input.
func (p *parser) unexpected(want string) error {
	if p.pos >= len(p.buf) {
		return fmt.Errorf("%w (%s)", errUnexpectedEnd, want)
	}
	return fmt.Errorf("invalid character %q at offset %d (%s)", p.buf[p.pos], p.pos, want)
}

// peek skips whitespace and returns the next byte, 0 at the end of input.
func (p *parser) peek() byte {
	for ; p.pos < len(p.buf); p.pos++ {
		switch c := p.buf[p.pos]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

func (p *parser) consume(c byte) bool {
	if p.peek() == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(c byte) error {
	if !p.consume(c) {
		return p.unexpected(fmt.Sprintf("want %q", c))
	}
	return nil
}

// end refuses anything but whitespace after the document.
func (p *parser) end() error {
	if p.peek() != 0 || p.pos < len(p.buf) {
		return p.unexpected("want the end of the document")
	}
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return fmt.Errorf("JSON nested deeper than %d at offset %d", maxDepth, p.pos)
	}
	return nil
}

// object reads an object, calling field for each key; field must consume the
// value. escaped reports that key still holds escape sequences.
func (p *parser) object(field func(key []byte, escaped bool) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if err := p.enter(); err != nil {
		return err
	}
	defer func() { p.depth-- }()
	if p.consume('}') {
		return nil
	}
	for {
		key, escaped, err := p.rawString()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := field(key, escaped); err != nil {
			return err
		}
		if !p.consume(',') {
			return p.expect('}')
		}
	}
}

// array reads an array, calling elem for each element; elem must consume it.
func (p *parser) array(elem func() error) error {
	if err := p.expect('['); err != nil {
		return err
	}
	if err := p.enter(); err != nil {
		return err
	}
	defer func() { p.depth-- }()
	if p.consume(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if !p.consume(',') {
			return p.expect(']')
		}
	}
}

// rawString reads a string and returns the bytes between its quotes;
// escaped reports escape sequences still to be decoded (see unescape).
func (p *parser) rawString() (raw []byte, escaped bool, err error) {
	if p.peek() != '"' {
		return nil, false, p.unexpected("want a string")
	}
	start := p.pos + 1
	for i := start; i < len(p.buf); {
		switch c := p.buf[i]; {
		case c == '"':
			p.pos = i + 1
			return p.buf[start:i], escaped, nil
		case c == '\\':
			escaped = true
			n := escapeLen(p.buf[i:])
			if n == 0 {
				p.pos = min(i+1, len(p.buf))
				return nil, false, p.unexpected("invalid escape in string")
			}
			i += n
		case c < 0x20:
			p.pos = i
			return nil, false, p.unexpected("control character in string")
		default:
			i++
		}
	}
	p.pos = len(p.buf)
	return nil, false, p.unexpected("unterminated string")
}

// escapeLen is the length of the valid escape sequence at the start of s, 0
// when it is invalid or cut short.
func escapeLen(s []byte) int {
	if len(s) < 2 {
		return 0
	}
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if hex4(s[2:]) >= 0 {
			return 6
		}
	}
	return 0
}

// hex4 decodes the four hex digits at the start of s, -1 if there are none.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape decodes the content of a string that rawString accepted, the way
// encoding/json does: invalid UTF-8 and lone surrogates become U+FFFD.
func unescape(raw []byte) string {
	out := make([]byte, 0, len(raw)+8)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			var r rune
			r, i = unescapeAt(raw, i)
			out = utf8.AppendRune(out, r)
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return string(out)
}

// unescapeAt decodes the escape sequence at raw[i] and returns the rune and
// the index after it. A surrogate pair spans two \u sequences.
func unescapeAt(raw []byte, i int) (rune, int) {
	switch raw[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(raw[i+2:])
		if !utf16.IsSurrogate(r) {
			return r, i + 6
		}
		if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
			if pair := utf16.DecodeRune(r, hex4(raw[i+8:])); pair != utf8.RuneError {
				return pair, i + 12
			}
		}
		return utf8.RuneError, i + 6
	}
	return rune(raw[i+1]), i + 2 // \" \\ \/
}

// number reads a number and returns its text.
func (p *parser) number() ([]byte, error) {
	start := p.pos
	i := start
	digits := func() bool {
		from := i
		for i < len(p.buf) && '0' <= p.buf[i] && p.buf[i] <= '9' {
			i++
		}
		return i > from
	}
	if i < len(p.buf) && p.buf[i] == '-' {
		i++
	}
	switch {
	case i < len(p.buf) && p.buf[i] == '0':
		i++
	case !digits():
		p.pos = i
		return nil, p.unexpected("want a digit")
	}
	if i < len(p.buf) && p.buf[i] == '.' {
		i++
		if !digits() {
			p.pos = i
			return nil, p.unexpected("want a digit after the decimal point")
		}
	}
	if i < len(p.buf) && (p.buf[i] == 'e' || p.buf[i] == 'E') {
		i++
		if i < len(p.buf) && (p.buf[i] == '+' || p.buf[i] == '-') {
			i++
		}
		if !digits() {
			p.pos = i
			return nil, p.unexpected("want a digit in the exponent")
		}
	}
	p.pos = i
	return p.buf[start:i], nil
}

// literal reads true, false or null.
func (p *parser) literal(word string) error {
	if len(p.buf)-p.pos < len(word) || string(p.buf[p.pos:p.pos+len(word)]) != word {
		return p.unexpected("want " + word)
	}
	p.pos += len(word)
	return nil
}

// skip reads and discards one value of any kind.
func (p *parser) skip() error {
	switch c := p.peek(); {
	case c == '{':
		return p.object(func([]byte, bool) error { return p.skip() })
	case c == '[':
		return p.array(p.skip)
	case c == '"':
		_, _, err := p.rawString()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := p.number()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return p.unexpected("want a value")
}

// isNull consumes a null if one comes next.
func (p *parser) isNull() (bool, error) {
	if p.peek() != 'n' {
		return false, nil
	}
	return true, p.literal("null")
}
