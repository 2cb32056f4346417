package zohotest

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// query is a parsed COQL SELECT.
type query struct {
	cols   []string
	module string
	where  cond
	order  []orderBy
	limit  int
	offset int
}

type orderBy struct {
	col  string
	desc bool
}

// cond is a WHERE criterion tree.
type cond struct {
	op    string // and, or, or a comparison: = != > < >= <= in "not in" "is null" "is not null" like
	kids  []cond
	col   string
	vals  []string
	isStr []bool
}

// criteria counts the comparisons in c.
func (c cond) criteria() int {
	if c.op == "and" || c.op == "or" {
		n := 0
		for _, k := range c.kids {
			n += k.criteria()
		}
		return n
	}
	return 1
}

type lexer struct {
	toks []string
	pos  int
}

func (l *lexer) peek() string {
	if l.pos < len(l.toks) {
		return l.toks[l.pos]
	}
	return ""
}

func (l *lexer) next() string {
	t := l.peek()
	l.pos++
	return t
}

func (l *lexer) accept(word string) bool {
	if strings.EqualFold(l.peek(), word) {
		l.pos++
		return true
	}
	return false
}

// tokenize splits a COQL statement: words, quoted strings (kept with their
// quotes), numbers and operators.
func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			b.WriteByte('\'')
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\\' && j+1 < len(s) {
					b.WriteByte(s[j+1])
					j++
					continue
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, b.String())
			i = j + 1
		case strings.IndexByte("(),", c) >= 0:
			out = append(out, string(c))
			i++
		case c == '!' || c == '<' || c == '>' || c == '=':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || strings.IndexByte("_.$-:+", s[j]) >= 0) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q", string(c))
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

// parseCOQL parses the subset of COQL the stand-in serves.
func parseCOQL(s string) (query, error) {
	toks, err := tokenize(s)
	if err != nil {
		return query{}, err
	}
	l := &lexer{toks: toks}
	q := query{limit: 200}
	if !l.accept("select") {
		return q, fmt.Errorf("the query must start with select")
	}
	for {
		col := l.next()
		if col == "" || strings.EqualFold(col, "from") {
			return q, fmt.Errorf("a column is missing in the select clause")
		}
		q.cols = append(q.cols, col)
		if !l.accept(",") {
			break
		}
	}
	if !l.accept("from") {
		return q, fmt.Errorf("from is missing")
	}
	q.module = l.next()
	if !l.accept("where") {
		return q, fmt.Errorf("where is required")
	}
	if q.where, err = parseOr(l); err != nil {
		return q, err
	}
	if l.accept("order") {
		if !l.accept("by") {
			return q, fmt.Errorf("order without by")
		}
		for {
			ob := orderBy{col: l.next()}
			if l.accept("desc") {
				ob.desc = true
			} else {
				l.accept("asc")
			}
			q.order = append(q.order, ob)
			if !l.accept(",") {
				break
			}
		}
	}
	if l.accept("limit") {
		a, err := strconv.Atoi(l.next())
		if err != nil {
			return q, fmt.Errorf("limit is not a number")
		}
		q.limit = a
		if l.accept(",") {
			b, err := strconv.Atoi(l.next())
			if err != nil {
				return q, fmt.Errorf("limit is not a number")
			}
			q.offset, q.limit = a, b
		} else if l.accept("offset") {
			b, err := strconv.Atoi(l.next())
			if err != nil {
				return q, fmt.Errorf("offset is not a number")
			}
			q.offset = b
		}
	}
	if l.peek() != "" {
		return q, fmt.Errorf("unexpected %q", l.peek())
	}
	return q, nil
}

func parseOr(l *lexer) (cond, error) {
	left, err := parseAnd(l)
	if err != nil {
		return cond{}, err
	}
	kids := []cond{left}
	for l.accept("or") {
		r, err := parseAnd(l)
		if err != nil {
			return cond{}, err
		}
		kids = append(kids, r)
	}
	if len(kids) == 1 {
		return left, nil
	}
	return cond{op: "or", kids: kids}, nil
}

func parseAnd(l *lexer) (cond, error) {
	left, err := parseFactor(l)
	if err != nil {
		return cond{}, err
	}
	kids := []cond{left}
	for l.accept("and") {
		r, err := parseFactor(l)
		if err != nil {
			return cond{}, err
		}
		kids = append(kids, r)
	}
	if len(kids) == 1 {
		return left, nil
	}
	return cond{op: "and", kids: kids}, nil
}

func literal(tok string) (string, bool, error) {
	if strings.HasPrefix(tok, "'") {
		return tok[1:], true, nil
	}
	if _, err := strconv.ParseFloat(tok, 64); err == nil {
		return tok, false, nil
	}
	if strings.EqualFold(tok, "true") || strings.EqualFold(tok, "false") {
		return strings.ToLower(tok), false, nil
	}
	return "", false, fmt.Errorf("%q is not a value", tok)
}

func parseFactor(l *lexer) (cond, error) {
	if l.accept("(") {
		c, err := parseOr(l)
		if err != nil {
			return cond{}, err
		}
		if !l.accept(")") {
			return cond{}, fmt.Errorf("a parenthesis is not closed")
		}
		return c, nil
	}
	col := l.next()
	if col == "" {
		return cond{}, fmt.Errorf("a criterion is missing")
	}
	switch {
	case l.accept("is"):
		if l.accept("not") {
			if !l.accept("null") {
				return cond{}, fmt.Errorf("is not what?")
			}
			return cond{op: "is not null", col: col}, nil
		}
		if !l.accept("null") {
			return cond{}, fmt.Errorf("is what?")
		}
		return cond{op: "is null", col: col}, nil
	case strings.EqualFold(l.peek(), "in") || strings.EqualFold(l.peek(), "not"):
		op := "in"
		if l.accept("not") {
			op = "not in"
		}
		if !l.accept("in") || !l.accept("(") {
			return cond{}, fmt.Errorf("in needs a list")
		}
		c := cond{op: op, col: col}
		for {
			v, s, err := literal(l.next())
			if err != nil {
				return cond{}, err
			}
			c.vals, c.isStr = append(c.vals, v), append(c.isStr, s)
			if !l.accept(",") {
				break
			}
		}
		if !l.accept(")") {
			return cond{}, fmt.Errorf("the in list is not closed")
		}
		return c, nil
	}
	op := strings.ToLower(l.next())
	switch op {
	case "=", "!=", ">", "<", ">=", "<=", "like":
	default:
		return cond{}, fmt.Errorf("unknown operator %q", op)
	}
	v, s, err := literal(l.next())
	if err != nil {
		return cond{}, err
	}
	return cond{op: op, col: col, vals: []string{v}, isStr: []bool{s}}, nil
}

// fieldText is a field's value as text for comparisons: a lookup by its
// id, numbers by their literal.
func fieldText(rec map[string]any, col string) (string, bool) {
	v, ok := rec[col]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case map[string]any:
		id, ok := x["id"]
		if !ok || id == nil {
			return "", false
		}
		return fmt.Sprint(id), true
	case string:
		return x, true
	}
	return fmt.Sprint(v), true
}

// compare orders a and b: as instants when both are date-times, as
// numbers when both are, else as text.
func compare(a, b string) int {
	ta, errA := time.Parse(time.RFC3339, a)
	tb, errB := time.Parse(time.RFC3339, b)
	if errA == nil && errB == nil {
		return ta.Compare(tb)
	}
	na, okA := new(big.Rat).SetString(a)
	nb, okB := new(big.Rat).SetString(b)
	if okA && okB {
		return na.Cmp(nb)
	}
	return strings.Compare(a, b)
}

// match evaluates c on rec.
func (c cond) match(rec map[string]any) bool {
	switch c.op {
	case "and":
		for _, k := range c.kids {
			if !k.match(rec) {
				return false
			}
		}
		return true
	case "or":
		for _, k := range c.kids {
			if k.match(rec) {
				return true
			}
		}
		return false
	}
	v, ok := fieldText(rec, c.col)
	switch c.op {
	case "is null":
		return !ok || v == ""
	case "is not null":
		return ok && v != ""
	}
	if !ok {
		return c.op == "!=" || c.op == "not in"
	}
	switch c.op {
	case "in", "not in":
		in := false
		for _, w := range c.vals {
			if compare(v, w) == 0 {
				in = true
			}
		}
		return in == (c.op == "in")
	case "like":
		pat := strings.ReplaceAll(c.vals[0], "%", "")
		return strings.Contains(strings.ToLower(v), strings.ToLower(pat))
	}
	d := compare(v, c.vals[0])
	switch c.op {
	case "=":
		return d == 0
	case "!=":
		return d != 0
	case ">":
		return d > 0
	case "<":
		return d < 0
	case ">=":
		return d >= 0
	}
	return d <= 0
}
