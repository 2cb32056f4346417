package mapping

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// Load reads and compiles the mapping spec at path. Lookup table files
// named in the spec are read relative to the spec's folder.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: read spec: %w", err)
	}
	return Compile(path, data)
}

// Compile parses, validates and compiles a spec. file names the spec in
// messages and anchors relative lookup files. On mistakes the error is
// Problems, listing every one with its file:line.
func Compile(file string, data []byte) (*Plan, error) {
	c := &compiler{
		file:     file,
		dir:      filepath.Dir(file),
		loc:      time.UTC,
		region:   "US",
		tables:   map[string]map[string]Value{},
		targets:  map[string]int{},
		implicit: map[string]bool{},
	}
	c.rootNeed = newNeed()
	c.scopeNeed = c.rootNeed
	p := c.compile(data)
	if len(c.probs) > 0 {
		sort.SliceStable(c.probs, func(i, j int) bool { return c.probs[i].Line < c.probs[j].Line })
		return nil, c.probs
	}
	return p, nil
}

type compiler struct {
	file   string
	dir    string
	probs  Problems
	loc    *time.Location
	region string

	omitNull  bool
	tables    map[string]map[string]Value
	direction string
	entity    string
	canon     CanonField
	hasCanon  bool
	targets   map[string]int  // full target path -> line, for duplicates
	implicit  map[string]bool // objects created by a dotted target, open to merging

	// What the plan reads, for the projecting decoder: rootNeed is the
	// record, scopeNeed the current object (the record or an element).
	rootNeed, scopeNeed *need
	usesExpr            bool

	// reads[t] are the members of the record that top-level target t is
	// made from; readsAll[t] that t may read anything (an expression).
	// top is the top-level target being compiled.
	top      string
	reads    map[string]map[string]bool
	readsAll map[string]bool

	hooks map[string]bool // the lookups the plan asks for (xref.<entity>, hooks): true where one must find its key
}

func (c *compiler) problem(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	c.probs = append(c.probs, Problem{File: c.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// pairs returns a mapping node's key/value pairs, resolving aliases.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], deref(n.Content[i+1])})
	}
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 32; i++ {
		n = n.Alias
	}
	return n
}

func (c *compiler) compile(data []byte) *Plan {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		c.probs = append(c.probs, Problem{File: c.file, Msg: "not valid YAML: " + err.Error()})
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || deref(doc.Content[0]).Kind != yaml.MappingNode {
		c.problem(&doc, "", "the spec must be a mapping with name, entity, direction and fields")
		return nil
	}
	root := deref(doc.Content[0])
	p := &Plan{File: c.file}
	var fieldsNode, lookupsNode, optionsNode *yaml.Node
	seen := map[string]bool{}
	for _, kv := range pairs(root) {
		k, v := kv[0], kv[1]
		if seen[k.Value] {
			c.problem(k, k.Value, "key given twice")
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "name":
			p.Name = v.Value
		case "description":
		case "system":
			p.System = v.Value
		case "entity":
			p.Entity = v.Value
			if f, ok := Canonical(v.Value); ok {
				c.canon, c.hasCanon = f, true
			} else {
				c.problem(v, "entity", "unknown entity %q (one of %s)", v.Value, strings.Join(Entities(), ", "))
			}
		case "direction":
			p.Direction = v.Value
			if v.Value != "in" && v.Value != "out" {
				c.problem(v, "direction", "must be in (system -> canonical) or out (canonical -> system), not %q", v.Value)
			}
		case "options":
			optionsNode = v
		case "lookups":
			lookupsNode = v
		case "fields":
			fieldsNode = v
		default:
			c.problem(k, k.Value, "unknown key (name, description, system, entity, direction, options, lookups, fields)")
		}
	}
	if p.Name == "" {
		p.Name = strings.TrimSuffix(filepath.Base(c.file), filepath.Ext(c.file))
	}
	for _, req := range []string{"entity", "direction", "fields"} {
		if !seen[req] {
			c.problem(root, req, "missing (every spec names its entity, direction and fields)")
		}
	}
	c.direction, c.entity = p.Direction, p.Entity
	if optionsNode != nil {
		c.options(optionsNode)
	}
	if lookupsNode != nil {
		c.lookups(lookupsNode)
	}
	if fieldsNode == nil {
		return p
	}
	var tgt, src *CanonField
	if c.hasCanon {
		cf := c.canon
		if p.Direction == "in" {
			tgt = &cf
		} else if p.Direction == "out" {
			src = &cf
		}
	}
	p.root = c.object(fieldsNode, "", tgt, src)
	if !c.usesExpr {
		p.need = c.rootNeed
	}
	p.reads, p.readsAll = c.reads, c.readsAll
	for h, required := range c.hooks {
		p.hooks = append(p.hooks, h)
		if required {
			p.required = append(p.required, h)
		}
	}
	sort.Strings(p.hooks)
	sort.Strings(p.required)
	return p
}

func (c *compiler) options(n *yaml.Node) {
	if deref(n).Kind != yaml.MappingNode {
		c.problem(n, "options", "must be a mapping (default_region, timezone, omit_null)")
		return
	}
	for _, kv := range pairs(n) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "default_region":
			r := strings.ToUpper(v.Value)
			if len(r) != 2 || r[0] < 'A' || r[0] > 'Z' || r[1] < 'A' || r[1] > 'Z' {
				c.problem(v, "options.default_region", "must be a two-letter region code such as DE or CN, not %q", v.Value)
				continue
			}
			c.region = r
		case "timezone":
			loc, err := time.LoadLocation(v.Value)
			if err != nil {
				c.problem(v, "options.timezone", "unknown time zone %q", v.Value)
				continue
			}
			c.loc = loc
		case "omit_null":
			b, ok := yamlBool(v)
			if !ok {
				c.problem(v, "options.omit_null", "must be true or false")
			}
			c.omitNull = b
		default:
			c.problem(k, "options."+k.Value, "unknown option (default_region, timezone, omit_null)")
		}
	}
}

func yamlBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE", "yes":
		return true, true
	case "false", "False", "FALSE", "no":
		return false, true
	}
	return false, false
}

// lookups: {NAME: {file: path.yaml} | {values: {K: V}}}
func (c *compiler) lookups(n *yaml.Node) {
	if deref(n).Kind != yaml.MappingNode {
		c.problem(n, "lookups", "must be a mapping of table names")
		return
	}
	for _, kv := range pairs(n) {
		name, v := kv[0].Value, kv[1]
		field := "lookups." + name
		var table *yaml.Node
		failed := false
		for _, tk := range pairs(v) {
			switch tk[0].Value {
			case "file":
				path := tk[1].Value
				if !filepath.IsAbs(path) {
					path = filepath.Join(c.dir, path)
				}
				data, err := os.ReadFile(path)
				if err != nil {
					c.problem(tk[1], field, "read lookup table: %v", err)
					failed = true
					continue
				}
				var doc yaml.Node
				if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
					c.problem(tk[1], field, "lookup table %s is not a YAML mapping", path)
					failed = true
					continue
				}
				table = deref(doc.Content[0])
			case "values":
				table = tk[1]
			default:
				c.problem(tk[0], field, "unknown key %q (file or values)", tk[0].Value)
			}
		}
		if failed {
			continue
		}
		if table == nil || table.Kind != yaml.MappingNode {
			if table != nil {
				c.problem(v, field, "the table must be a mapping KEY: VALUE")
			} else {
				c.problem(v, field, "needs file: or values:")
			}
			continue
		}
		m := map[string]Value{}
		for _, e := range pairs(table) {
			val, err := nodeValue(e[1])
			if err != nil {
				c.problem(e[1], field, "%s: %v", e[0].Value, err)
				continue
			}
			m[e[0].Value] = val
		}
		c.tables[name] = m
	}
}

// nodeValue converts a YAML constant to a Value.
func nodeValue(n *yaml.Node) (Value, error) {
	n = deref(n)
	if n == nil {
		return nullValue, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nullValue, nil
		case "!!bool":
			b, ok := yamlBool(n)
			if !ok {
				return StringValue(n.Value), nil
			}
			return BoolValue(b), nil
		case "!!int", "!!float":
			if t, ok := plainDecimal(n.Value); ok {
				return NumberValue(t), nil
			}
			if isDecimalSyntax(n.Value) {
				d, err := decimal.NewFromString(n.Value)
				if err == nil {
					return NumberValue(d.String()), nil
				}
			}
			return nullValue, fmt.Errorf("%q is not a plain decimal number", n.Value)
		}
		return StringValue(n.Value), nil
	case yaml.SequenceNode:
		out := make([]Value, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := nodeValue(e)
			if err != nil {
				return nullValue, err
			}
			out = append(out, v)
		}
		return ArrayValue(out), nil
	case yaml.MappingNode:
		var ms []Member
		for _, kv := range pairs(n) {
			v, err := nodeValue(kv[1])
			if err != nil {
				return nullValue, err
			}
			ms = append(ms, Member{Key: kv[0].Value, Value: v})
		}
		return ObjectValue(ms...), nil
	}
	return nullValue, fmt.Errorf("unsupported YAML node")
}

// object compiles a fields: mapping. prefix is the target path so far;
// tgt the canonical object being written (direction in), src the
// canonical object being read (direction out); either may be nil.
func (c *compiler) object(n *yaml.Node, prefix string, tgt, src *CanonField) *objPlan {
	o := &objPlan{}
	if deref(n).Kind != yaml.MappingNode {
		c.problem(n, strings.TrimSuffix(prefix, "."), "fields must be a mapping TARGET: SPEC")
		return o
	}
	for _, kv := range pairs(n) {
		if prefix == "" && c.scopeNeed == c.rootNeed {
			c.top, _, _ = strings.Cut(kv[0].Value, ".")
		}
		c.field(o, kv[0], kv[1], prefix, tgt, src)
		if prefix == "" && c.scopeNeed == c.rootNeed {
			c.top = ""
		}
	}
	return o
}

// field compiles one TARGET: SPEC entry into o. A dotted target creates
// the intermediate objects.
func (c *compiler) field(o *objPlan, kn, vn *yaml.Node, prefix string, tgt, src *CanonField) {
	target := kn.Value
	full := prefix + target
	if prev, dup := c.targets[full]; dup && !c.implicit[full] {
		c.problem(kn, full, "duplicate target (first defined at line %d)", prev)
		return
	}
	delete(c.implicit, full)
	c.targets[full] = kn.Line
	parts := strings.Split(target, ".")
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "[]* ") {
			c.problem(kn, full, "a target is a dotted name such as customer.email")
			return
		}
	}
	// Walk / create the intermediate objects.
	cur := o
	curTgt := tgt
	for i, part := range parts[:len(parts)-1] {
		sub := strings.Join(parts[:i+1], ".")
		curTgt = c.canonChild(kn, prefix+sub, curTgt, part)
		var found *fieldPlan
		for _, f := range cur.fields {
			if f.key.s == part {
				found = f
			}
		}
		if found == nil {
			found = &fieldPlan{key: StringValue(part), keyJSON: keyJSON(part), target: prefix + sub, rel: relTarget(prefix + sub), line: kn.Line, obj: &objPlan{}}
			cur.fields = append(cur.fields, found)
			c.targets[prefix+sub] = kn.Line
			c.implicit[prefix+sub] = true
		} else if found.obj == nil {
			c.problem(kn, full, "%s is already a value (line %d), it cannot also hold fields", prefix+sub, found.line)
			return
		}
		cur = found.obj
	}
	leaf := parts[len(parts)-1]
	leafTgt := c.canonChild(kn, full, curTgt, leaf)
	for _, f := range cur.fields {
		if f.key.s == leaf {
			if f.obj != nil && f.source == nil && f.each == nil && deref(vn).Kind == yaml.MappingNode {
				// customer.name given before customer: {fields: ...}: merge.
				c.fill(f, vn, full, leafTgt, src, true)
				return
			}
			c.problem(kn, full, "duplicate target (first defined at line %d)", f.line)
			return
		}
	}
	f := &fieldPlan{key: StringValue(leaf), keyJSON: keyJSON(leaf), target: full, rel: relTarget(full), line: kn.Line, omitNull: c.omitNull}
	c.fill(f, vn, full, leafTgt, src, false)
	cur.fields = append(cur.fields, f)
}

func keyJSON(k string) []byte { return append(appendString(nil, k), ':') }

// relTarget is a target path relative to its innermost each: scope
// ("lines[].amount" -> "amount").
func relTarget(full string) string {
	if i := strings.LastIndex(full, "[]."); i >= 0 {
		return full[i+3:]
	}
	return full
}

// canonChild resolves name under the canonical object parent (nil: not
// checked) and reports unknown names.
func (c *compiler) canonChild(n *yaml.Node, full string, parent *CanonField, name string) *CanonField {
	if parent == nil || parent.Type == FieldAny {
		return parent
	}
	if name == "attributes" {
		return &CanonField{Name: "attributes", Type: FieldAny}
	}
	if parent.Type != FieldObject && parent.Type != FieldArray {
		c.problem(n, full, "%s is a %s in the canonical %s model, it has no fields", parent.Name, parent.Type, c.entity)
		return nil
	}
	ch, ok := parent.Child(name)
	if !ok {
		c.problem(n, full, "the canonical %s model has no field %q here (fields: %s; custom fields go under attributes)", c.entity, name, canonNames(*parent))
		return nil
	}
	return &ch
}

// checkSource validates a source path against the canonical model when
// the spec reads canonical records (direction out).
func (c *compiler) checkSource(n *yaml.Node, field string, p srcPath, src *CanonField) {
	if src == nil || !c.hasCanon {
		return
	}
	base := *src
	if p.root {
		base = c.canon
	}
	if _, ok := canonLookup(base, p.segs); !ok {
		c.problem(n, field, "source %s: the canonical %s model has no such field (custom fields go under attributes)", p.text, c.entity)
	}
}

func (c *compiler) path(n *yaml.Node, field string, src *CanonField) (srcPath, bool) {
	p, ok := c.pathOnly(n, field, src)
	if ok {
		c.needOf(p).leaf(p.segs)
	}
	return p, ok
}

// pathOnly parses and checks a path without marking its value as read
// (count: and each: read the array, not necessarily all of each element).
func (c *compiler) pathOnly(n *yaml.Node, field string, src *CanonField) (srcPath, bool) {
	if n.Kind != yaml.ScalarNode {
		c.problem(n, field, "a source path must be text such as customer.email")
		return srcPath{}, false
	}
	p, err := parsePath(n.Value)
	if err != nil {
		c.problem(n, field, "%v", err)
		return srcPath{}, false
	}
	c.checkSource(n, field, p, src)
	return p, true
}

// needOf is the need node a path starts from.
func (c *compiler) needOf(p srcPath) *need {
	if p.root || c.scopeNeed == c.rootNeed {
		c.noteRead(p)
	}
	if p.root {
		return c.rootNeed
	}
	return c.scopeNeed
}

// noteRead records that the top-level target being compiled reads the
// record's member p starts with.
func (c *compiler) noteRead(p srcPath) {
	if c.top == "" || len(p.segs) == 0 {
		return
	}
	if c.reads == nil {
		c.reads, c.readsAll = map[string]map[string]bool{}, map[string]bool{}
	}
	if c.reads[c.top] == nil {
		c.reads[c.top] = map[string]bool{}
	}
	c.reads[c.top][p.segs[0].key] = true
}

// fieldKeys lists what a field spec may say.
const fieldKeys = "from, value, expr, concat, count, sum, multiply, each, where, fields, transform, map, type, region, default, required, omit_null, when, description"

// fill compiles the field spec vn into f.
func (c *compiler) fill(f *fieldPlan, vn *yaml.Node, full string, tgt, src *CanonField, merge bool) {
	vn = deref(vn)
	if c.direction == "in" {
		f.check = canonCheck(tgt)
	}
	if vn.Kind == yaml.ScalarNode { // shorthand: TARGET: source.path
		p, ok := c.path(vn, full, src)
		if !ok {
			return
		}
		f.source = func(sc *scope) (Value, error) { return p.at(sc), nil }
		f.explain = append(f.explain, "from "+p.text)
		c.checkTargetType(vn, full, tgt, "", shapeAny, false, false)
		return
	}
	if vn.Kind != yaml.MappingNode {
		c.problem(vn, full, "a field is a source path or a mapping of (%s)", fieldKeys)
		return
	}
	kv := map[string]*yaml.Node{}
	keyNode := map[string]*yaml.Node{}
	for _, e := range pairs(vn) {
		if _, dup := kv[e[0].Value]; dup {
			c.problem(e[0], full, "key %s given twice", e[0].Value)
		}
		kv[e[0].Value], keyNode[e[0].Value] = e[1], e[0]
		if !strings.Contains(", "+fieldKeys+",", ", "+e[0].Value+",") {
			c.problem(e[0], full, "unknown key %q (%s)", e[0].Value, fieldKeys)
		}
	}
	var sources []string
	for _, s := range []string{"from", "value", "expr", "concat", "count", "sum", "multiply", "each"} {
		if _, ok := kv[s]; ok {
			sources = append(sources, s)
		}
	}
	if len(sources) > 1 {
		c.problem(vn, full, "give one source, not %s", strings.Join(sources, " and "))
		return
	}
	if fn, ok := kv["fields"]; ok && len(sources) == 1 && sources[0] != "each" {
		c.problem(fn, full, "fields: builds a nested object and cannot be combined with %s", sources[0])
		return
	}
	if _, ok := kv["where"]; ok && (len(sources) == 0 || sources[0] != "each") {
		c.problem(keyNode["where"], full, "where: filters the elements of each: and needs it")
	}
	if merge && len(sources) > 0 {
		c.problem(vn, full, "duplicate target: %s already holds fields", full)
		return
	}
	cur := shapeAny
	var constVal *Value
	switch {
	case len(sources) == 0 && kv["fields"] != nil:
		if tgt != nil && tgt.Type != FieldObject && tgt.Type != FieldAny {
			c.problem(kv["fields"], full, "is a %s in the canonical %s model, not an object", tgt.Type, c.entity)
			tgt = nil
		}
		if f.obj == nil {
			f.obj = &objPlan{}
		}
		for _, e := range pairs(kv["fields"]) {
			c.field(f.obj, e[0], e[1], full+".", tgt, src)
		}
		if deref(kv["fields"]).Kind != yaml.MappingNode {
			c.problem(kv["fields"], full, "fields must be a mapping TARGET: SPEC")
		}
		f.explain = append(f.explain, "object")
		cur = shapeObject
	case len(sources) == 0:
		c.problem(vn, full, "needs a source: from, value, expr, concat, count, sum, multiply, each or fields")
		return
	default:
		cur = c.source(f, sources[0], kv, full, tgt, src, &constVal)
	}
	if w, ok := kv["when"]; ok {
		p, err := c.compileExpr(w.Value, true)
		if err != nil {
			c.problem(w, full, "when: expression does not compile: %s", oneLine(err))
		} else {
			f.when = p
			f.explain = append(f.explain, "only when "+w.Value)
		}
	}
	if t, ok := kv["transform"]; ok {
		cur = c.transforms(f, t, full, cur)
	}
	if m, ok := kv["map"]; ok {
		bt, err := c.buildValueMap(m)
		if err != nil {
			c.problem(m, full, "%v", err)
		} else {
			cur = c.addStep(f, m, full, "map", bt, cur)
		}
	}
	typ, coerce := c.fieldType(f, kv, keyNode, vn, full, tgt, cur, constVal)
	if d, ok := kv["default"]; ok {
		c.fieldDefault(f, d, full, typ, coerce)
	}
	c.checkConstant(f, kv["value"], full, constVal, coerce)
	c.fieldFlags(f, kv, full)
}

// fieldType compiles type: (with region:) and checks the field's type
// against the canonical model; it returns the type's name ("" for none
// or an unknown one) and its coercion, which the default takes too.
func (c *compiler) fieldType(f *fieldPlan, kv, keyNode map[string]*yaml.Node, vn *yaml.Node, full string, tgt *CanonField, cur shape, constVal *Value) (typ string, coerce func(Value) (Value, error)) {
	typeNode := vn
	typeReported := false
	if t, ok := kv["type"]; ok {
		typeNode = t
		typ = t.Value
		region := c.region
		if r, ok := kv["region"]; ok {
			region = strings.ToUpper(r.Value)
		}
		fn, ok := coercer(CoerceType(typ), c.loc, region)
		coerce = fn
		switch {
		case !ok:
			c.problem(t, full, "unknown type %q (one of %s)", typ, joinTypes())
			typ = ""
		case cur == shapeArray || cur == shapeObject:
			c.problem(t, full, "type %s needs a single value, but the field gives %s", typ, cur)
			typeReported = true
		default:
			f.steps = append(f.steps, func(_ *scope, v Value) (Value, error) { return fn(v) })
			desc := "as " + typ
			if typ == string(TypePhone) {
				desc += " (E.164, default region " + region + ")"
			}
			f.explain = append(f.explain, desc)
			if constVal != nil && len(f.steps) == 1 {
				if _, err := fn(*constVal); err != nil {
					c.problem(kv["value"], full, "value %v", err)
				}
			}
		}
		if d, ok := kv["default"]; ok && fn != nil {
			if dv, err := nodeValue(d); err == nil {
				if _, err := fn(dv); err != nil {
					c.problem(d, full, "default %v", err)
				}
			}
		}
	} else if _, ok := kv["region"]; ok {
		c.problem(keyNode["region"], full, "region: only applies to type: phone")
	}
	if !typeReported {
		c.checkTargetType(typeNode, full, tgt, typ, cur, f.obj != nil, f.each != nil)
	}
	return typ, coerce
}

// fieldDefault compiles default: d, coerced by the field's type and
// checked against the canonical field as a value would be.
func (c *compiler) fieldDefault(f *fieldPlan, d *yaml.Node, full, typ string, coerce func(Value) (Value, error)) {
	dv, err := nodeValue(d)
	if err != nil {
		c.problem(d, full, "default: %v", err)
		return
	}
	coerced := true // (a default its type refuses is reported above)
	if coerce != nil && typ != "" {
		cv, err := coerce(dv)
		if err == nil {
			dv = cv
		}
		coerced = err == nil
	}
	// The default stands in for a missing value: it must pass the
	// canonical field's check as a value would, or every record
	// that lacks the field would carry a value the model refuses.
	if f.check != nil && coerced && dv.kind != Null {
		if err := checkLiteral(f.check, dv); err != nil {
			c.problem(d, full, "default %v", err)
		}
	}
	f.def, f.hasDef = dv, true
	f.explain = append(f.explain, "default "+snippet(dv))
}

// fieldFlags compiles required: and omit_null:.
func (c *compiler) fieldFlags(f *fieldPlan, kv map[string]*yaml.Node, full string) {
	if r, ok := kv["required"]; ok {
		b, ok := yamlBool(r)
		if !ok {
			c.problem(r, full, "required must be true or false")
		}
		f.required = b
		if b {
			f.explain = append(f.explain, "required")
		}
	}
	if r, ok := kv["omit_null"]; ok {
		b, ok := yamlBool(r)
		if !ok {
			c.problem(r, full, "omit_null must be true or false")
		}
		f.omitNull = b
	}
}

// checkConstant reports a constant (value:, alone or with type: only)
// that the canonical field refuses: it would fail every record.
func (c *compiler) checkConstant(f *fieldPlan, n *yaml.Node, full string, constVal *Value, coerce func(Value) (Value, error)) {
	if constVal == nil || f.check == nil || constVal.kind == Null {
		return
	}
	v := *constVal
	switch {
	case len(f.steps) == 0:
	case len(f.steps) == 1 && coerce != nil:
		cv, err := coerce(v)
		if err != nil {
			return // (reported with the type)
		}
		v = cv
	default:
		return // transforms may make it what the field takes
	}
	if err := checkLiteral(f.check, v); err != nil {
		c.problem(n, full, "value %v", err)
	}
}

// checkLiteral is the canonical check of a value written in the mapping
// (a default, a constant): where the check knows the form it wants, the
// problem says to write that (the check's own hint, to add a transform,
// would not reach a default).
func checkLiteral(check func(Value) error, v Value) error {
	err := check(v)
	if ve, ok := errors.AsType[*valueError](err); ok && ve.fix != "" {
		return badValue(v, "is not as the canonical model takes it: write %q", ve.fix)
	}
	return err
}

func joinTypes() string {
	var s []string
	for _, t := range coerceTypes() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

// checkTargetType compares what the spec produces with the canonical
// field's type, where both are known.
// Canonical objects and arrays must be built with fields: and each: so
// that their members are checked too.
func (c *compiler) checkTargetType(n *yaml.Node, full string, tgt *CanonField, typ string, cur shape, isObj, isEach bool) {
	if tgt == nil || tgt.Type == FieldAny {
		return
	}
	switch tgt.Type {
	case FieldObject:
		if !isObj {
			c.problem(n, full, "is an object in the canonical %s model; give it fields:", c.entity)
		}
		return
	case FieldArray:
		if !isEach {
			c.problem(n, full, "is an array in the canonical %s model; build it with each:", c.entity)
		}
		return
	}
	if cur == shapeArray || cur == shapeObject {
		c.problem(n, full, "is a single %s in the canonical %s model, but the spec gives %s", tgt.Type, c.entity, cur)
		return
	}
	if typ == "" {
		return
	}
	ok := true
	switch tgt.Type {
	case FieldDecimal:
		ok = typ == "decimal" || typ == "number" || typ == "int"
	case FieldInt:
		ok = typ == "int"
	case FieldBool:
		ok = typ == "bool"
	case FieldDate:
		ok = typ == "date"
	case FieldDateTime:
		ok = typ == "datetime"
	case FieldPhone:
		ok = typ == "phone" || typ == "string"
	case FieldString, FieldEmail, FieldCurrency, FieldCountry:
		ok = typ == "string"
	}
	if !ok {
		c.problem(n, full, "type %s does not fit: the canonical %s model has a %s here", typ, c.entity, tgt.Type)
	}
}

// source compiles the field's source and returns its static shape.
func (c *compiler) source(f *fieldPlan, kind string, kv map[string]*yaml.Node, full string, tgt, src *CanonField, constVal **Value) shape {
	n := kv[kind]
	switch kind {
	case "from":
		return c.sourceFrom(f, n, full, src)
	case "value":
		return c.sourceValue(f, n, full, constVal)
	case "expr":
		return c.sourceExpr(f, n, full)
	case "concat":
		return c.sourceConcat(f, n, full, src)
	case "count", "sum":
		return c.sourceAggregate(f, kind, n, full, src)
	case "multiply":
		return c.sourceMultiply(f, n, full, src)
	case "each":
		return c.sourceEach(f, kv, n, full, tgt, src)
	}
	return shapeAny
}

// sourceFrom compiles from: a path, or a list of paths of which the first present counts.
func (c *compiler) sourceFrom(f *fieldPlan, n *yaml.Node, full string, src *CanonField) shape {
	if n.Kind == yaml.SequenceNode { // coalesce: first non-null
		var ps []srcPath
		var names []string
		for _, e := range n.Content {
			p, ok := c.path(e, full, src)
			if ok {
				ps = append(ps, p)
				names = append(names, p.text)
			}
		}
		if len(ps) == 0 {
			c.problem(n, full, "from: needs at least one path")
			return shapeAny
		}
		f.source = func(sc *scope) (Value, error) {
			for i := range ps {
				if v := ps[i].at(sc); v.kind != Null {
					return v, nil
				}
			}
			return nullValue, nil
		}
		f.explain = append(f.explain, "from the first present of "+strings.Join(names, ", "))
		return shapeAny
	}
	p, ok := c.path(n, full, src)
	if !ok {
		return shapeAny
	}
	f.source = func(sc *scope) (Value, error) { return p.at(sc), nil }
	f.explain = append(f.explain, "from "+p.text)
	if p.wild {
		return shapeArray
	}
	return shapeAny
}

// sourceValue compiles value: a constant, which it also gives back in constVal.
func (c *compiler) sourceValue(f *fieldPlan, n *yaml.Node, full string, constVal **Value) shape {
	v, err := nodeValue(n)
	if err != nil {
		c.problem(n, full, "value: %v", err)
		return shapeAny
	}
	*constVal = &v
	f.source = func(*scope) (Value, error) { return v, nil }
	f.explain = append(f.explain, "the constant "+snippet(v))
	switch v.kind {
	case Array:
		return shapeArray
	case Object:
		return shapeObject
	}
	return shapeScalar
}

// sourceExpr compiles expr: an expression over the record.
func (c *compiler) sourceExpr(f *fieldPlan, n *yaml.Node, full string) shape {
	p, err := c.compileExpr(n.Value, false)
	if err != nil {
		c.problem(n, full, "expr does not compile: %s", oneLine(err))
		return shapeAny
	}
	f.source = func(sc *scope) (Value, error) { return sc.evalValue(p, nullValue) }
	f.explain = append(f.explain, "the expression "+n.Value)
	return shapeAny
}

// sourceConcat compiles concat: paths and literal texts joined.
func (c *compiler) sourceConcat(f *fieldPlan, n *yaml.Node, full string, src *CanonField) shape {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		c.problem(n, full, "concat: needs a list of paths and {value: TEXT} items")
		return shapeScalar
	}
	type part struct {
		lit  string
		path *srcPath
	}
	var parts []part
	var desc []string
	for _, e := range n.Content {
		e = deref(e)
		if e.Kind == yaml.MappingNode {
			pv := pairs(e)
			if len(pv) != 1 || (pv[0][0].Value != "value" && pv[0][0].Value != "from") {
				c.problem(e, full, "concat item must be a path, {from: PATH} or {value: TEXT}")
				continue
			}
			if pv[0][0].Value == "value" {
				parts = append(parts, part{lit: pv[0][1].Value})
				desc = append(desc, fmt.Sprintf("%q", pv[0][1].Value))
				continue
			}
			e = pv[0][1]
		}
		if e.Kind == yaml.ScalarNode {
			if _, err := parsePath(e.Value); err != nil {
				c.problem(e, full, "concat item %q is not a path; write literal text as {value: %q}", e.Value, e.Value)
				continue
			}
		}
		p, ok := c.path(e, full, src)
		if !ok {
			continue
		}
		parts = append(parts, part{path: &p})
		desc = append(desc, p.text)
	}
	f.source = func(sc *scope) (Value, error) {
		var texts [8]string
		ts := texts[:0]
		n := 0
		for i := range parts {
			t := parts[i].lit
			if parts[i].path != nil {
				v := parts[i].path.at(sc)
				var ok bool
				if t, ok = scalarText(v); !ok {
					return nullValue, badValue(v, "concat: %s is %s, not a single value", parts[i].path.text, v.kind)
				}
			}
			ts = append(ts, t)
			n += len(t)
		}
		var b strings.Builder
		b.Grow(n)
		for _, t := range ts {
			b.WriteString(t)
		}
		return StringValue(b.String()), nil
	}
	f.explain = append(f.explain, "concat("+strings.Join(desc, ", ")+"), missing parts as \"\"")
	return shapeScalar
}

// sourceAggregate compiles count: and sum: over an array path.
func (c *compiler) sourceAggregate(f *fieldPlan, kind string, n *yaml.Node, full string, src *CanonField) shape {
	var p srcPath
	var ok bool
	if kind == "count" {
		p, ok = c.pathOnly(n, full, src)
		if ok {
			c.needOf(p).add(p.segs)
		}
	} else {
		p, ok = c.path(n, full, src)
	}
	if !ok {
		return shapeScalar
	}
	if kind == "count" {
		f.source = func(sc *scope) (Value, error) {
			v := p.at(sc)
			switch v.kind {
			case Null:
				return IntValue(0), nil
			case Array:
				return IntValue(int64(len(v.a))), nil
			}
			return nullValue, badValue(v, "count: %s is not an array", p.text)
		}
		f.explain = append(f.explain, "the number of elements of "+p.text)
	} else {
		f.source = func(sc *scope) (Value, error) {
			v := p.at(sc)
			switch v.kind {
			case Null:
				return NumberValue("0"), nil
			case Array:
				return sumValues(v.a)
			}
			return sumValues([]Value{v})
		}
		f.explain = append(f.explain, "the exact decimal sum of "+p.text)
	}
	return shapeScalar
}

// sourceMultiply compiles multiply: the exact product of decimals.
func (c *compiler) sourceMultiply(f *fieldPlan, n *yaml.Node, full string, src *CanonField) shape {
	if n.Kind != yaml.SequenceNode || len(n.Content) < 2 {
		c.problem(n, full, "multiply: needs a list of at least two paths or numbers")
		return shapeScalar
	}
	type factor struct {
		path *srcPath
		lit  Value
	}
	var fs []factor
	var desc []string
	for _, e := range n.Content {
		if e.Tag == "!!int" || e.Tag == "!!float" {
			v, err := nodeValue(e)
			if err != nil {
				c.problem(e, full, "multiply: %v", err)
				continue
			}
			fs = append(fs, factor{lit: v})
			desc = append(desc, v.s)
			continue
		}
		p, ok := c.path(e, full, src)
		if ok {
			fs = append(fs, factor{path: &p})
			desc = append(desc, p.text)
		}
	}
	f.source = func(sc *scope) (Value, error) {
		var buf [4]Value
		vs := buf[:0]
		for i := range fs {
			if fs[i].path != nil {
				vs = append(vs, fs[i].path.at(sc))
			} else {
				vs = append(vs, fs[i].lit)
			}
		}
		return mulValues(vs)
	}
	f.explain = append(f.explain, "the exact product "+strings.Join(desc, " x "))
	return shapeScalar
}

// sourceEach compiles each: an array built element by element with fields:.
func (c *compiler) sourceEach(f *fieldPlan, kv map[string]*yaml.Node, n *yaml.Node, full string, tgt, src *CanonField) shape {
	p, ok := c.pathOnly(n, full, src)
	if !ok {
		return shapeArray
	}
	if tgt != nil && tgt.Type != FieldArray && tgt.Type != FieldAny {
		tgt = nil // checkTargetType reports it
	}
	var elemTgt *CanonField
	if tgt != nil {
		elemTgt = &CanonField{Name: tgt.Name, Type: FieldObject, Fields: tgt.Fields}
		if tgt.Type == FieldAny {
			elemTgt = tgt
		}
	}
	var elemSrc *CanonField
	if src != nil {
		base := *src
		if p.root {
			base = c.canon
		}
		if cf, ok := canonLookup(base, p.segs); ok && cf.Type == FieldArray {
			elemSrc = &CanonField{Name: cf.Name, Type: FieldObject, Fields: cf.Fields}
		} else if ok && cf.Type == FieldAny {
			elemSrc = &cf
		} else if ok {
			c.problem(n, full, "each: %s is a %s in the canonical %s model, not an array", p.text, cf.Type, c.entity)
		}
	}
	e := &eachPlan{src: p}
	if w, ok := kv["where"]; ok {
		prog, err := c.compileExpr(w.Value, true)
		if err != nil {
			c.problem(w, full, "where: expression does not compile: %s", oneLine(err))
		}
		e.where = prog
	}
	fn, ok := kv["fields"]
	elemNeed := c.needOf(p).add(p.segs)
	saved := c.scopeNeed
	c.scopeNeed = elemNeed
	if !ok {
		c.problem(n, full, "each: needs fields: for the elements")
		e.obj = &objPlan{}
	} else {
		e.obj = c.object(fn, full+"[].", elemTgt, elemSrc)
	}
	c.scopeNeed = saved
	f.each = e
	desc := "each element of " + p.text
	if w, ok := kv["where"]; ok {
		desc += " where " + w.Value
	}
	f.explain = append(f.explain, desc)
	return shapeArray
}

// transforms compiles a transform: list.
func (c *compiler) transforms(f *fieldPlan, n *yaml.Node, full string, cur shape) shape {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		c.problem(n, full, "transform: must be a list, e.g. [trim, lower]")
		return cur
	}
	for _, item := range n.Content {
		item = deref(item)
		var name string
		var arg *yaml.Node
		switch item.Kind {
		case yaml.ScalarNode:
			name = item.Value
		case yaml.MappingNode:
			if len(item.Content) != 2 {
				c.problem(item, full, "a transform is a name or a single NAME: ARGUMENT")
				continue
			}
			name, arg = item.Content[0].Value, deref(item.Content[1])
		default:
			c.problem(item, full, "a transform is a name or a single NAME: ARGUMENT")
			continue
		}
		bt, err := c.buildTransform(name, arg)
		if err != nil {
			c.problem(item, full, "%v", err)
			continue
		}
		cur = c.addStep(f, item, full, name, bt, cur)
	}
	return cur
}

func (c *compiler) addStep(f *fieldPlan, n *yaml.Node, full, name string, bt builtTransform, cur shape) shape {
	switch {
	case bt.in == shapeScalar && (cur == shapeArray || cur == shapeObject):
		c.problem(n, full, "%s needs a single value, but gets %s here", name, cur)
	case bt.in == shapeArray && (cur == shapeScalar || cur == shapeObject):
		c.problem(n, full, "%s needs an array, but gets %s here", name, cur)
	}
	f.steps = append(f.steps, bt.fn)
	f.explain = append(f.explain, bt.explain)
	if bt.out == shapeAny {
		return shapeAny
	}
	return bt.out
}
