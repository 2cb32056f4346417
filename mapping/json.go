package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 512

// Decoder decodes JSON documents into Values. It keeps a scratch stack
// between calls, so reuse one Decoder per goroutine. The zero Decoder is
// ready to use.
type Decoder struct {
	need  *need // nil: decode everything
	stack []Value
	arena []Value // containers of the current document are carved from it
	used  int     // Values taken for the current document
	hint  int     // Values the previous document took: the next arena's size
	reuse bool    // DecodeTransient: keep the arena
	text  []byte  // DecodeTransient: the reused copy of the document
	src   string
	pos   int
	depth int
}

// ParseJSON decodes one JSON document.
func ParseJSON(data []byte) (Value, error) {
	var d Decoder
	return d.Decode(data)
}

// Decode decodes one JSON document. The input is copied once; strings
// without escapes share that copy.
func (d *Decoder) Decode(data []byte) (Value, error) {
	return d.DecodeString(string(data))
}

// DecodeTransient is Decode for loops that finish with each record before
// decoding the next (decode, AppendApply, write): the returned Value, its
// containers and its strings live in memory the Decoder reuses, so it is
// valid only until the next call on d. Do not keep it, or any string taken
// from it, longer; use Decode for records that must live on.
func (d *Decoder) DecodeTransient(data []byte) (Value, error) {
	if cap(d.arena) >= d.used {
		clear(d.arena) // drop the last record's pointers
		d.arena = d.arena[:0]
		d.hint, d.used = d.used, 0
		d.reuse = true
	}
	// The text too is copied into a buffer the Decoder reuses, and the
	// Value's strings point into it (unsafe.String): that is what makes
	// the Value transient, and it saves copying every record into a fresh
	// string. The mapping never lets such a string outlive the record: it
	// encodes output into the caller's bytes and clones the keys it hands
	// to the Lookup hook or puts into errors.
	d.text = append(d.text[:0], data...)
	v, err := d.DecodeString(unsafe.String(unsafe.SliceData(d.text), len(d.text)))
	d.reuse = false
	return v, err
}

// DecodeString decodes one JSON document held in a string, without copying.
func (d *Decoder) DecodeString(src string) (Value, error) {
	d.src, d.pos, d.depth = src, 0, 0
	if !d.reuse {
		d.arena = nil // never reuse: earlier documents' Values point into it
		d.hint, d.used = d.used, 0
	}
	d.stack = d.stack[:0]
	d.skipSpace()
	v, err := d.value(d.need)
	if err != nil {
		d.src = ""
		return nullValue, err
	}
	d.skipSpace()
	if d.pos != len(d.src) {
		err := d.errorf("unexpected %q after the value", d.src[d.pos])
		d.src = ""
		return nullValue, err
	}
	d.src = ""
	return v, nil
}

// SyntaxError is a malformed JSON document.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("json: offset %d: %s", e.Offset, e.Msg)
}

func (d *Decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

var errEOF = errors.New("unexpected end of input")

func (d *Decoder) skipSpace() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *Decoder) value(n *need) (Value, error) {
	if d.pos >= len(d.src) {
		return nullValue, &SyntaxError{Offset: d.pos, Msg: errEOF.Error()}
	}
	switch c := d.src[d.pos]; c {
	case '{':
		return d.object(n)
	case '[':
		return d.array(n)
	case '"':
		s, err := d.str()
		if err != nil {
			return nullValue, err
		}
		return Value{kind: String, s: s}, nil
	case 't':
		return d.literal("true", Value{kind: Bool, s: "true"})
	case 'f':
		return d.literal("false", Value{kind: Bool, s: "false"})
	case 'n':
		return d.literal("null", nullValue)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return d.number()
		}
		return nullValue, d.errorf("unexpected %q", c)
	}
}

func (d *Decoder) literal(word string, v Value) (Value, error) {
	if len(d.src)-d.pos >= len(word) && d.src[d.pos:d.pos+len(word)] == word {
		d.pos += len(word)
		return v, nil
	}
	return nullValue, d.errorf("invalid literal")
}

func (d *Decoder) object(n *need) (Value, error) {
	d.depth++
	if d.depth > maxDepth {
		return nullValue, d.errorf("nested too deeply")
	}
	d.pos++ // '{'
	base := len(d.stack)
	d.skipSpace()
	if d.pos < len(d.src) && d.src[d.pos] == '}' {
		d.pos++
		d.depth--
		return Value{kind: Object, a: []Value{}}, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.src) || d.src[d.pos] != '"' {
			return nullValue, d.errorf("expected a member name")
		}
		k, err := d.str()
		if err != nil {
			return nullValue, err
		}
		d.skipSpace()
		if d.pos >= len(d.src) || d.src[d.pos] != ':' {
			return nullValue, d.errorf("expected ':' after a member name")
		}
		d.pos++
		d.skipSpace()
		cn, wanted := n.child(k)
		if !wanted {
			if err := d.skip(); err != nil {
				return nullValue, err
			}
		} else {
			v, err := d.value(cn)
			if err != nil {
				return nullValue, err
			}
			d.stack = append(d.stack, Value{kind: String, s: k}, v)
		}
		d.skipSpace()
		if d.pos >= len(d.src) {
			return nullValue, d.errorf("unterminated object")
		}
		if d.src[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.src[d.pos] == '}' {
			d.pos++
			break
		}
		return nullValue, d.errorf("expected ',' or '}' in an object")
	}
	a := d.take(len(d.stack) - base)
	copy(a, d.stack[base:])
	clear(d.stack[base:])
	d.stack = d.stack[:base]
	d.depth--
	return Value{kind: Object, a: a}, nil
}

func (d *Decoder) array(n *need) (Value, error) {
	d.depth++
	if d.depth > maxDepth {
		return nullValue, d.errorf("nested too deeply")
	}
	d.pos++ // '['
	base := len(d.stack)
	d.skipSpace()
	if d.pos < len(d.src) && d.src[d.pos] == ']' {
		d.pos++
		d.depth--
		return Value{kind: Array, a: []Value{}}, nil
	}
	for {
		d.skipSpace()
		v, err := d.value(n)
		if err != nil {
			return nullValue, err
		}
		d.stack = append(d.stack, v)
		d.skipSpace()
		if d.pos >= len(d.src) {
			return nullValue, d.errorf("unterminated array")
		}
		if d.src[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.src[d.pos] == ']' {
			d.pos++
			break
		}
		return nullValue, d.errorf("expected ',' or ']' in an array")
	}
	a := d.take(len(d.stack) - base)
	copy(a, d.stack[base:])
	clear(d.stack[base:])
	d.stack = d.stack[:base]
	d.depth--
	return Value{kind: Array, a: a}, nil
}

// take returns n fresh Values carved from the document's arena (one
// allocation serves many small containers).
func (d *Decoder) take(n int) []Value {
	d.used += n
	if n > cap(d.arena)-len(d.arena) {
		size := min(max(d.hint+d.hint/4, 16), 1024)
		if n > size/2 {
			return make([]Value, n)
		}
		if d.reuse {
			// Grow the reusable arena for next time; this document's
			// earlier containers stay where they are.
			size = max(size, 2*cap(d.arena))
		}
		d.arena = make([]Value, 0, size)
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

// skip checks the syntax of one value and moves past it without building
// anything.
func (d *Decoder) skip() error {
	if d.pos >= len(d.src) {
		return &SyntaxError{Offset: d.pos, Msg: errEOF.Error()}
	}
	switch c := d.src[d.pos]; c {
	case '{', '[':
		d.depth++
		if d.depth > maxDepth {
			return d.errorf("nested too deeply")
		}
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		d.pos++
		d.skipSpace()
		if d.pos < len(d.src) && d.src[d.pos] == close {
			d.pos++
			d.depth--
			return nil
		}
		for {
			d.skipSpace()
			if c == '{' {
				if d.pos >= len(d.src) || d.src[d.pos] != '"' {
					return d.errorf("expected a member name")
				}
				if err := d.skipString(); err != nil {
					return err
				}
				d.skipSpace()
				if d.pos >= len(d.src) || d.src[d.pos] != ':' {
					return d.errorf("expected ':' after a member name")
				}
				d.pos++
				d.skipSpace()
			}
			if err := d.skip(); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos >= len(d.src) {
				if c == '{' {
					return d.errorf("unterminated object")
				}
				return d.errorf("unterminated array")
			}
			if d.src[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.src[d.pos] == close {
				d.pos++
				d.depth--
				return nil
			}
			return d.errorf("expected ',' or %q", close)
		}
	case '"':
		return d.skipString()
	default:
		_, err := d.value(nil)
		return err
	}
}

// skipString moves past a string, checking escapes without decoding.
func (d *Decoder) skipString() error {
	s := d.src
	for i := skipPlain(s, d.pos+1); i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return nil
		case c == '\\':
			_, err := d.str()
			return err
		case c < 0x20:
			d.pos = i
			return d.errorf("control character in a string")
		}
	}
	d.pos = len(s)
	return d.errorf("unterminated string")
}

func (d *Decoder) number() (Value, error) {
	start := d.pos
	s := d.src
	i := d.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return nullValue, d.errorf("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.pos = i
			return nullValue, d.errorf("invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.pos = i
			return nullValue, d.errorf("invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return Value{kind: Number, s: s[start:i]}, nil
}

// str reads a JSON string starting at the opening quote.
func (d *Decoder) str() (string, error) {
	s := d.src
	start := d.pos + 1
	i := skipPlain(s, start)
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return s[start:i], nil
		case c == '\\':
			return d.strSlow(start, i)
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character in a string")
		}
	}
	d.pos = len(s)
	return "", d.errorf("unterminated string")
}

func (d *Decoder) strSlow(start, i int) (string, error) {
	s := d.src
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character in a string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		// escape
		if i+1 >= len(s) {
			break
		}
		e := s[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(s, i)
			if !ok {
				d.pos = i
				return "", d.errorf("invalid \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if x, ok := hex4(s, i+2); ok {
						r2 = x
					}
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					i += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			d.pos = i - 1
			return "", d.errorf("invalid escape \\%c", e)
		}
	}
	d.pos = len(s)
	return "", d.errorf("unterminated string")
}

// skipPlain returns the first index at or after i of a byte that may end
// or interrupt a string ('"', '\\' or a control character), skipping 8
// plain bytes at a time.
func skipPlain(s string, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		x := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		q := x ^ (lo * '"')
		b := x ^ (lo * '\\')
		if ((q-lo)&^q|(b-lo)&^b|(x-lo*0x20)&^x)&hi != 0 {
			return i
		}
	}
	return i
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[i:i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// AppendJSON appends v's compact JSON encoding to dst.
func AppendJSON(dst []byte, v Value) []byte {
	switch v.kind {
	case Null:
		return append(dst, "null"...)
	case Bool, Number:
		return append(dst, v.s...)
	case String:
		return appendString(dst, v.s)
	case Array:
		dst = append(dst, '[')
		for i, e := range v.a {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, e)
		}
		return append(dst, ']')
	case Object:
		dst = append(dst, '{')
		for i := 0; i < len(v.a); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, v.a[i].s)
			dst = append(dst, ':')
			dst = AppendJSON(dst, v.a[i+1])
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

// MarshalJSON encodes v compactly; it lets Values sit inside structs that
// encoding/json writes.
func (v Value) MarshalJSON() ([]byte, error) { return AppendJSON(nil, v), nil }

// UnmarshalJSON decodes data into v.
func (v *Value) UnmarshalJSON(data []byte) error {
	x, err := ParseJSON(data)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

const hexDigits = "0123456789abcdef"

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
