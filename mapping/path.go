package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

const (
	noIndex   = -1
	wildIndex = -2 // [*]: every element
)

type pathSeg struct {
	key   string // when index == noIndex
	index int
	// hint is where key was found last time: records of one system have
	// the same shape, so checking there first usually hits. It is only a
	// hint (atomic, shared by all goroutines using the plan).
	hint *atomic.Int32
}

// srcPath is a compiled source path such as customer.email,
// line_items[0].sku, line_items[*].price or $.currency ($ is the record
// root, otherwise paths start at the current object: the record, or the
// element inside each:).
type srcPath struct {
	text string
	root bool
	segs []pathSeg
	wild bool
}

func parsePath(s string) (srcPath, error) {
	p := srcPath{text: s}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return p, fmt.Errorf("empty path")
	}
	if rest == "$" {
		p.root = true
		return p, nil
	}
	if strings.HasPrefix(rest, "$.") {
		p.root = true
		rest = rest[2:]
	}
	for rest != "" {
		i := strings.IndexAny(rest, ".[")
		var name string
		if i < 0 {
			name, rest = rest, ""
		} else {
			name, rest = rest[:i], rest[i:]
		}
		if name == "" {
			return p, fmt.Errorf("path %q: empty name", s)
		}
		if strings.ContainsAny(name, "] \t") {
			return p, fmt.Errorf("path %q: invalid name %q", s, name)
		}
		p.segs = append(p.segs, pathSeg{key: name, index: noIndex, hint: new(atomic.Int32)})
		for strings.HasPrefix(rest, "[") {
			j := strings.IndexByte(rest, ']')
			if j < 0 {
				return p, fmt.Errorf("path %q: missing ]", s)
			}
			in := rest[1:j]
			rest = rest[j+1:]
			if in == "*" {
				p.segs = append(p.segs, pathSeg{index: wildIndex})
				p.wild = true
				continue
			}
			n, err := strconv.Atoi(in)
			if err != nil || n < 0 {
				return p, fmt.Errorf("path %q: index %q is not * or a whole number", s, in)
			}
			p.segs = append(p.segs, pathSeg{index: n})
		}
		if strings.HasPrefix(rest, ".") {
			rest = rest[1:]
			if rest == "" {
				return p, fmt.Errorf("path %q: ends with a dot", s)
			}
		} else if rest != "" {
			return p, fmt.Errorf("path %q: unexpected %q", s, rest)
		}
	}
	return p, nil
}

// at resolves the path in a scope.
func (p *srcPath) at(sc *scope) Value {
	if len(p.segs) == 1 && !p.root && p.segs[0].index == noIndex {
		return p.segs[0].member(&sc.cur) // the common case: one member
	}
	if p.root {
		return p.get(sc.root, sc.root)
	}
	return p.get(sc.cur, sc.root)
}

// member finds key in object v, trying the hinted position first.
func (s *pathSeg) member(v *Value) Value {
	if v.kind != Object {
		return nullValue
	}
	h := int(s.hint.Load())
	if h+1 < len(v.a) && v.a[h].s == s.key {
		return v.a[h+1]
	}
	for i := 0; i < len(v.a); i += 2 {
		if v.a[i].s == s.key {
			s.hint.Store(int32(i))
			return v.a[i+1]
		}
	}
	return nullValue
}

// get resolves the path from cur (or root for $ paths). Missing parts
// give null. With [*] the result is an array of the resolved values.
func (p *srcPath) get(cur, root Value) Value {
	v := cur
	if p.root {
		v = root
	}
	if !p.wild {
		for i := range p.segs {
			s := &p.segs[i]
			if s.index == noIndex {
				v = s.member(&v)
			} else {
				v = v.Index(s.index)
			}
			if v.kind == Null {
				return v
			}
		}
		return v
	}
	return walk(v, p.segs)
}

func walk(v Value, segs []pathSeg) Value {
	for i, s := range segs {
		switch s.index {
		case noIndex:
			v = v.Get(s.key)
		case wildIndex:
			if v.kind != Array {
				return nullValue
			}
			out := make([]Value, 0, len(v.a))
			for _, e := range v.a {
				r := walk(e, segs[i+1:])
				if r.kind == Array && hasWild(segs[i+1:]) {
					out = append(out, r.a...)
					continue
				}
				out = append(out, r)
			}
			return ArrayValue(out)
		default:
			v = v.Index(s.index)
		}
		if v.kind == Null {
			return v
		}
	}
	return v
}

func hasWild(segs []pathSeg) bool {
	for _, s := range segs {
		if s.index == wildIndex {
			return true
		}
	}
	return false
}
