package mapping

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/expr-lang/expr/vm"
)

// Plan is a compiled mapping spec. It is immutable and safe for
// concurrent use by many goroutines.
type Plan struct {
	Name      string
	File      string
	System    string
	Entity    string
	Direction string // "in": system -> canonical; "out": canonical -> system

	root *objPlan
	need *need // what the plan reads; nil: everything
	// reads and readsAll: per top-level output member, the record's
	// members it is made from, or that it may read anything (see Reads).
	reads    map[string]map[string]bool
	readsAll map[string]bool
	hooks    []string // sorted
	required []string // of hooks, those asked for without optional: true somewhere (sorted)
	// arenaHint sizes each record's arena of output Values: about what
	// records take, shared by all goroutines (see sizeArena).
	arenaHint atomic.Int32
}

// Reads reports whether the top-level output member target is made from
// the record's top-level member source (it reads a path that starts with
// it). known is false when target has an expression, which may read
// anything: then reads is false and only running the plan can tell. It is
// worked out at compile time; a pipeline uses it to leave out of a write
// the members made from fields the target system owns.
func (p *Plan) Reads(target, source string) (reads, known bool) {
	if p.readsAll[target] {
		return false, false
	}
	return p.reads[target][source], true
}

// Lookups names the lookups the plan may ask for, sorted: xref.<entity>
// for each `xref: <entity>` transform, and each hook's name.
func (p *Plan) Lookups() []string { return slices.Clone(p.hooks) }

// RequiredLookups lists the lookups of Lookups that some field asks for
// without `optional: true`: a key they do not find fails the record.
func (p *Plan) RequiredLookups() []string { return slices.Clone(p.required) }

// XrefLookup is the name of the lookup that `xref: entity` asks for (a
// sink answers these with the target's id of a hub id).
func XrefLookup(entity string) string { return "xref." + entity }

// XrefEntity is the entity of a lookup named as XrefLookup names them;
// ok is false for any other lookup.
func XrefEntity(lookup string) (entity string, ok bool) { return strings.CutPrefix(lookup, "xref.") }

// LooksUp reports whether the plan may ask for the lookup name.
func (p *Plan) LooksUp(name string) bool {
	_, found := slices.BinarySearch(p.hooks, name)
	return found
}

// NewDecoder returns a Decoder for this plan's input records. It decodes
// only the members the plan reads (the rest is syntax-checked and
// skipped), so its Values are fit for Apply with this plan, not for other
// uses. Use one Decoder per goroutine.
func (p *Plan) NewDecoder() *Decoder { return &Decoder{need: p.need} }

// NewDecoderAlso is NewDecoder that also decodes the members named by
// paths (dotted, as a source's refs name them), whole: for a caller that
// reads them from the record besides applying the plan.
func (p *Plan) NewDecoderAlso(paths ...string) *Decoder {
	if p.need == nil || len(paths) == 0 {
		return p.NewDecoder()
	}
	n := p.need.clone()
	n.leafPaths(paths)
	return &Decoder{need: n}
}

// NewDecoderFor returns a Decoder that decodes only the members named by
// paths (dotted: "customer.id"), whole, and checks the syntax of the rest
// while skipping it. A path is also taken as one member's literal name,
// dots and all. No paths: the document is only checked.
func NewDecoderFor(paths ...string) *Decoder {
	n := newNeed()
	n.leafPaths(paths)
	return &Decoder{need: n}
}

// objPlan builds one object from its fields.
type objPlan struct {
	fields []*fieldPlan
}

// step is one compiled transform or coercion.
type step func(sc *scope, v Value) (Value, error)

// fieldPlan produces one member of an object.
type fieldPlan struct {
	key     Value  // the output key, as a String value
	keyJSON []byte // "key": ready to write
	target  string // full target path, for messages ("lines[].amount")
	rel     string // target path within its scope, for record errors ("customer.name", "amount")
	line    int

	when     *vm.Program
	source   func(sc *scope) (Value, error)
	obj      *objPlan  // nested object built in the same scope
	each     *eachPlan // array built element by element
	steps    []step
	def      Value
	hasDef   bool
	required bool
	omitNull bool
	// check enforces the canonical field's type (inbound mappings only):
	// canoncheck.go.
	check func(Value) error

	explain []string
}

type eachPlan struct {
	src   srcPath
	where *vm.Program
	obj   *objPlan
}

// scope is what a field is evaluated against: the current object (the
// record, or an element inside each:) and the record root.
type scope struct {
	ctx    context.Context
	lookup Lookup
	root   Value
	cur    Value
	env    map[string]any // expression variables, built on first use
	// rootAny is the record as plain Go values for expressions, built once
	// (on the root scope).
	rootAny     any
	rootAnyDone bool
	budget      *exprBudget // the record's expression budget (exprbudget.go), on the root scope
	arena       *[]Value    // output containers are carved from it
	used        int         // Values taken from arenas
	errs        []FieldError
	lkErr       error
	// where this scope sits, for error paths: parent's path + key[index]
	parent *scope
	key    string
	index  int
}

// sizeArena sets arenaHint to an eighth above what a record used, but
// only when the record did not fit in hint or used less than half of it.
// The plan is shared by every goroutine that maps with it: a store per
// record would move its cache line from core to core with each record.
func (p *Plan) sizeArena(hint, used int32) {
	if used > hint || used < hint/2 {
		p.arenaHint.Store(used + used/8)
	}
}

// Apply maps one record. On success the error is nil. When fields fail the
// error is a *RecordError listing each of them (and the partial output is
// returned for inspection); when the Lookup hook itself fails it is a
// *LookupError. lookup may be nil if the spec uses no xref/hook transforms.
func (p *Plan) Apply(ctx context.Context, rec Value, lookup Lookup) (Value, error) {
	hint := p.arenaHint.Load()
	arena := make([]Value, 0, max(32, int(hint)))
	sc := scope{ctx: ctx, lookup: lookup, root: rec, cur: rec, index: -1, arena: &arena}
	out := p.root.build(&sc)
	p.sizeArena(hint, int32(sc.used))
	if sc.lkErr != nil {
		return out, sc.lkErr
	}
	if len(sc.errs) > 0 {
		return out, &RecordError{Mapping: p.Name, Errors: sc.errs}
	}
	return out, nil
}

// ApplyJSON decodes data, maps it and returns the compact JSON encoding.
func (p *Plan) ApplyJSON(ctx context.Context, data []byte, lookup Lookup) ([]byte, error) {
	rec, err := p.NewDecoder().Decode(data)
	if err != nil {
		return nil, &RecordError{Mapping: p.Name, Errors: []FieldError{{Field: "(record)", Reason: "not valid JSON: " + err.Error()}}}
	}
	return p.AppendApply(ctx, nil, rec, lookup)
}

// AppendApply maps rec and appends the result's compact JSON to dst, in
// one pass: objects and arrays are written as they are built, with no
// intermediate Value tree. Errors are as for Apply; on error dst is
// returned unchanged.
func (p *Plan) AppendApply(ctx context.Context, dst []byte, rec Value, lookup Lookup) ([]byte, error) {
	sc := scope{ctx: ctx, lookup: lookup, root: rec, cur: rec, index: -1}
	start := len(dst)
	out := p.root.write(&sc, dst)
	if sc.lkErr != nil {
		return out[:start], sc.lkErr
	}
	if len(sc.errs) > 0 {
		return out[:start], &RecordError{Mapping: p.Name, Errors: sc.errs}
	}
	return out, nil
}

// write appends the object's JSON.
func (o *objPlan) write(sc *scope, dst []byte) []byte {
	dst = append(dst, '{')
	n := 0
	for _, f := range o.fields {
		mark := len(dst)
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, f.keyJSON...)
		var ok bool
		if dst, ok = f.write(sc, dst); ok {
			n++
		} else {
			dst = dst[:mark]
		}
	}
	return append(dst, '}')
}

// write appends the field's value; ok is false when the field is left
// out (dst may then hold partial output the caller cuts off).
func (f *fieldPlan) write(sc *scope, dst []byte) ([]byte, bool) {
	if (f.obj == nil && f.each == nil) || len(f.steps) > 0 {
		v, ok := f.apply(sc)
		if !ok {
			return dst, false
		}
		return AppendJSON(dst, v), true
	}
	if f.when != nil {
		b, err := sc.evalBool(f.when, nullValue)
		if err != nil {
			sc.fail(f, err)
			return dst, false
		}
		if !b {
			return dst, false
		}
	}
	if f.obj != nil {
		return f.obj.write(sc, dst), true
	}
	e := f.each
	src := e.src.at(sc)
	switch src.kind {
	case Array:
	case Null:
		switch {
		case f.hasDef:
			return AppendJSON(dst, f.def), true
		case f.required:
			sc.fail(f, errRequired)
			return dst, false
		case f.omitNull:
			return dst, false
		}
		return append(dst, "null"...), true
	default:
		sc.fail(f, badValue(src, "each: %s is not an array", e.src.text))
		return dst, false
	}
	dst = append(dst, '[')
	child := scope{ctx: sc.ctx, lookup: sc.lookup, root: sc.root, parent: sc, key: f.rel}
	n := 0
	for i, el := range src.a {
		child.cur, child.index, child.env = el, i, nil
		if e.where != nil {
			b, err := child.evalBool(e.where, nullValue)
			if err != nil {
				sc.fail(f, err)
				return dst, false
			}
			if !b {
				continue
			}
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = e.obj.write(&child, dst)
		n++
	}
	return append(dst, ']'), true
}

// path renders the scope's location ("lines[2]") for error messages.
func (sc *scope) path() string {
	if sc.parent == nil {
		return ""
	}
	pp := sc.parent.path()
	if pp != "" {
		pp += "."
	}
	return pp + sc.key + "[" + strconv.Itoa(sc.index) + "]"
}

// take returns an empty slice with room for n Values, carved from the
// record's output arena.
func (sc *scope) take(n int) []Value {
	ar := sc.arena
	sc.rootScope().used += n
	if n > cap(*ar)-len(*ar) {
		if n > 32 {
			return make([]Value, 0, n)
		}
		*ar = make([]Value, 0, 64)
	}
	l := len(*ar)
	*ar = (*ar)[:l+n]
	return (*ar)[l : l : l+n]
}

func (sc *scope) rootScope() *scope {
	for sc.parent != nil {
		sc = sc.parent
	}
	return sc
}

func (sc *scope) fail(f *fieldPlan, err error) {
	field := f.rel
	if p := sc.path(); p != "" {
		field = p + "." + field
	}
	r := sc.rootScope()
	if le, ok := err.(*LookupError); ok {
		if r.lkErr == nil {
			le.Field = field
			r.lkErr = le
		}
		return
	}
	r.errs = append(r.errs, FieldError{Field: field, Reason: err.Error()})
}

func (o *objPlan) build(sc *scope) Value {
	a := sc.take(2 * len(o.fields))
	for _, f := range o.fields {
		v, ok := f.apply(sc)
		if ok {
			a = append(a, f.key, v)
		}
	}
	return Value{kind: Object, a: a}
}

// apply computes the field's value; ok is false when it is left out.
func (f *fieldPlan) apply(sc *scope) (Value, bool) {
	if f.when != nil {
		b, err := sc.evalBool(f.when, nullValue)
		if err != nil {
			sc.fail(f, err)
			return nullValue, false
		}
		if !b {
			return nullValue, false
		}
	}
	var v Value
	var err error
	switch {
	case f.obj != nil:
		v = f.obj.build(sc)
	case f.each != nil:
		v, err = f.each.build(sc, f)
	default:
		v, err = f.source(sc)
	}
	if err != nil {
		sc.fail(f, err)
		return nullValue, false
	}
	for _, st := range f.steps {
		v, err = st(sc, v)
		if err != nil {
			sc.fail(f, err)
			return nullValue, false
		}
	}
	if v.kind == Null {
		if f.hasDef {
			return f.def, true
		}
		if f.required {
			sc.fail(f, errRequired)
			return nullValue, false
		}
		if f.omitNull {
			return nullValue, false
		}
		return v, true
	}
	if f.required {
		if err := checkRequired(v); err != nil {
			sc.fail(f, err)
			return nullValue, false
		}
	}
	if f.check != nil {
		if err := f.check(v); err != nil {
			sc.fail(f, err)
			return nullValue, false
		}
	}
	return v, true
}

type constError string

func (e constError) Error() string { return string(e) }

const errRequired = constError("required, but missing (null)")

func (e *eachPlan) build(sc *scope, f *fieldPlan) (Value, error) {
	src := e.src.at(sc)
	switch src.kind {
	case Null:
		return nullValue, nil
	case Array:
	default:
		return nullValue, badValue(src, "each: %s is not an array", e.src.text)
	}
	out := sc.take(len(src.a))
	child := scope{ctx: sc.ctx, lookup: sc.lookup, root: sc.root, parent: sc, key: f.rel, arena: sc.arena}
	for i, el := range src.a {
		child.cur, child.index, child.env = el, i, nil
		if e.where != nil {
			b, err := child.evalBool(e.where, nullValue)
			if err != nil {
				return nullValue, err
			}
			if !b {
				continue
			}
		}
		out = append(out, e.obj.build(&child))
	}
	return ArrayValue(out), nil
}
