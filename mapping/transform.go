package mapping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// shape is what the compiler knows statically about a value.
type shape uint8

const (
	shapeAny shape = iota
	shapeScalar
	shapeArray
	shapeObject
)

func (s shape) String() string {
	switch s {
	case shapeScalar:
		return "a single value"
	case shapeArray:
		return "an array"
	case shapeObject:
		return "an object"
	}
	return "anything"
}

// transformNames lists every transform, for error hints and docs.
func transformNames() []string {
	return []string{"trim", "lower", "upper", "trim_prefix", "trim_suffix", "prefix", "suffix",
		"split", "join", "substring", "replace", "rewrite", "parse_time", "format_time", "timezone",
		"default", "round", "map", "lookup", "xref", "hook", "expr", "digits", "first", "last"}
}

// builtTransform is a compiled transform with what it needs and gives.
type builtTransform struct {
	fn      step
	in, out shape
	explain string
}

// stringStep lifts a string function to a step: null passes through,
// numbers and booleans are used by their text, arrays and objects fail.
func stringStep(name string, fn func(string) string) step {
	return func(_ *scope, v Value) (Value, error) {
		switch v.kind {
		case Null:
			return v, nil
		case String, Number, Bool:
			return StringValue(fn(v.s)), nil
		}
		return nullValue, badValue(v, "%s needs a single value, not %s", name, v.kind)
	}
}

func argString(n *yaml.Node) (string, error) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("needs a text argument")
	}
	return n.Value, nil
}

func argInt(n *yaml.Node) (int, error) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("needs a whole number")
	}
	i, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, fmt.Errorf("needs a whole number, not %q", n.Value)
	}
	return i, nil
}

// buildTransform compiles one transform. arg is nil for a bare name.
func (c *compiler) buildTransform(name string, arg *yaml.Node) (builtTransform, error) {
	switch name {
	case "trim":
		return transformTrim(name, arg)
	case "lower":
		return transformLower(name, arg)
	case "upper":
		return transformUpper(name, arg)
	case "digits":
		return transformDigits(name, arg)
	case "trim_prefix", "trim_suffix", "prefix", "suffix":
		return transformAffix(name, arg)
	case "split":
		return transformSplit(name, arg)
	case "join":
		return transformJoin(name, arg)
	case "first", "last":
		return transformFirst(name, arg)
	case "substring":
		return transformSubstring(name, arg)
	case "replace":
		return transformReplace(name, arg)
	case "rewrite":
		return transformRewrite(name, arg)
	case "parse_time":
		return c.transformParseTime(name, arg)
	case "format_time":
		return c.transformFormatTime(name, arg)
	case "timezone":
		return c.transformTimezone(name, arg)
	case "default":
		return transformDefault(name, arg)
	case "round":
		return transformRound(name, arg)
	case "map":
		return c.buildValueMap(arg)
	case "lookup":
		return c.buildLookupTable(arg)
	case "xref", "hook":
		return c.transformXref(name, arg)
	case "expr":
		return c.transformExpr(name, arg)
	}
	return builtTransform{}, fmt.Errorf("unknown transform %q (known: %s)", name, strings.Join(transformNames(), ", "))
}

// noArg checks that a transform that takes no argument was given none.
func noArg(name string, arg *yaml.Node) error {
	if arg != nil {
		return fmt.Errorf("%s takes no argument", name)
	}
	return nil
}

// textArg is a transform's text argument.
func textArg(name string, arg *yaml.Node) (string, error) {
	if arg == nil {
		return "", fmt.Errorf("%s needs an argument", name)
	}
	s, err := argString(arg)
	if err != nil {
		return "", fmt.Errorf("%s %v", name, err)
	}
	return s, nil
}

// scalarTransform is a step from a single value to a single value.
func scalarTransform(fn step, explain string) (builtTransform, error) {
	return builtTransform{fn: fn, in: shapeScalar, out: shapeScalar, explain: explain}, nil
}

// transformTrim compiles the trim transform.
func transformTrim(name string, arg *yaml.Node) (builtTransform, error) {
	if err := noArg(name, arg); err != nil {
		return builtTransform{}, err
	}
	return scalarTransform(stringStep(name, strings.TrimSpace), "trim spaces")
}

// transformLower compiles the lower transform.
func transformLower(name string, arg *yaml.Node) (builtTransform, error) {
	if err := noArg(name, arg); err != nil {
		return builtTransform{}, err
	}
	return scalarTransform(stringStep(name, lowerASCIIFast), "lower-case")
}

// transformUpper compiles the upper transform.
func transformUpper(name string, arg *yaml.Node) (builtTransform, error) {
	if err := noArg(name, arg); err != nil {
		return builtTransform{}, err
	}
	return scalarTransform(stringStep(name, upperASCIIFast), "upper-case")
}

// transformDigits compiles the digits transform.
func transformDigits(name string, arg *yaml.Node) (builtTransform, error) {
	// digits: keep 0-9 only; digits: keep_leading_plus also keeps a
	// "+" in front (after trimming spaces), as phone cleaning wants.
	if arg == nil {
		return scalarTransform(stringStep(name, digitsOnly), "keep digits only")
	}
	if arg.Kind != yaml.ScalarNode || arg.Value != "keep_leading_plus" {
		return builtTransform{}, fmt.Errorf("digits takes no argument or keep_leading_plus")
	}
	return scalarTransform(stringStep(name, digitsPlus), "keep a leading + and the digits")
}

// transformAffix compiles the trim_prefix, trim_suffix, prefix and suffix transforms.
func transformAffix(name string, arg *yaml.Node) (builtTransform, error) {
	s, err := textArg(name, arg)
	if err != nil {
		return builtTransform{}, err
	}
	var fn func(string) string
	switch name {
	case "trim_prefix":
		fn = func(x string) string { return strings.TrimPrefix(x, s) }
	case "trim_suffix":
		fn = func(x string) string { return strings.TrimSuffix(x, s) }
	case "prefix":
		fn = func(x string) string { return s + x }
	default:
		fn = func(x string) string { return x + s }
	}
	return scalarTransform(stringStep(name, fn), fmt.Sprintf("%s %q", strings.ReplaceAll(name, "_", " "), s))
}

// transformSplit compiles the split transform.
func transformSplit(name string, arg *yaml.Node) (builtTransform, error) {
	sep, err := textArg(name, arg)
	if err != nil {
		return builtTransform{}, err
	}
	fn := func(_ *scope, v Value) (Value, error) {
		t, ok := scalarText(v)
		if !ok {
			return nullValue, badValue(v, "split needs a single value, not %s", v.kind)
		}
		if v.kind == Null {
			return v, nil
		}
		parts := strings.Split(t, sep)
		out := make([]Value, len(parts))
		for i, p := range parts {
			out[i] = StringValue(p)
		}
		return ArrayValue(out), nil
	}
	return builtTransform{fn: fn, in: shapeScalar, out: shapeArray, explain: fmt.Sprintf("split at %q into an array", sep)}, nil
}

// transformJoin compiles the join transform.
func transformJoin(name string, arg *yaml.Node) (builtTransform, error) {
	sep, err := textArg(name, arg)
	if err != nil {
		return builtTransform{}, err
	}
	fn := func(_ *scope, v Value) (Value, error) {
		switch v.kind {
		case Null:
			return v, nil
		case Array:
		default:
			return nullValue, badValue(v, "join needs an array, not %s", v.kind)
		}
		var b strings.Builder
		n := 0
		for _, e := range v.a {
			t, ok := scalarText(e)
			if !ok {
				return nullValue, badValue(v, "join needs an array of single values")
			}
			if e.kind == Null {
				continue
			}
			if n > 0 {
				b.WriteString(sep)
			}
			b.WriteString(t)
			n++
		}
		return StringValue(b.String()), nil
	}
	return builtTransform{fn: fn, in: shapeArray, out: shapeScalar, explain: fmt.Sprintf("join the array's values with %q (nulls skipped)", sep)}, nil
}

// transformFirst compiles the first and last transforms.
func transformFirst(name string, arg *yaml.Node) (builtTransform, error) {
	if err := noArg(name, arg); err != nil {
		return builtTransform{}, err
	}
	first := name == "first"
	fn := func(_ *scope, v Value) (Value, error) {
		switch v.kind {
		case Null:
			return v, nil
		case Array:
			if len(v.a) == 0 {
				return nullValue, nil
			}
			if first {
				return v.a[0], nil
			}
			return v.a[len(v.a)-1], nil
		}
		return nullValue, badValue(v, "%s needs an array, not %s", name, v.kind)
	}
	return builtTransform{fn: fn, in: shapeArray, out: shapeAny, explain: name + " element of the array"}, nil
}

// transformSubstring compiles the substring transform.
func transformSubstring(name string, arg *yaml.Node) (builtTransform, error) {
	// substring: [start, length] or {start: 0, length: 3}; runes, not bytes.
	start, length := 0, -1
	switch {
	case arg != nil && arg.Kind == yaml.SequenceNode && len(arg.Content) >= 1 && len(arg.Content) <= 2:
		var err error
		if start, err = argInt(arg.Content[0]); err != nil {
			return builtTransform{}, fmt.Errorf("substring start %v", err)
		}
		if len(arg.Content) == 2 {
			if length, err = argInt(arg.Content[1]); err != nil {
				return builtTransform{}, fmt.Errorf("substring length %v", err)
			}
		}
	case arg != nil && arg.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(arg.Content); i += 2 {
			k, val := arg.Content[i].Value, arg.Content[i+1]
			n, err := argInt(val)
			if err != nil {
				return builtTransform{}, fmt.Errorf("substring %s %v", k, err)
			}
			switch k {
			case "start":
				start = n
			case "length":
				length = n
			default:
				return builtTransform{}, fmt.Errorf("substring: unknown key %q (start, length)", k)
			}
		}
	default:
		return builtTransform{}, fmt.Errorf("substring needs [start, length] or {start: N, length: N}")
	}
	if start < 0 || length < -1 {
		return builtTransform{}, fmt.Errorf("substring start and length must not be negative")
	}
	fn := func(x string) string {
		if start == 0 && length < 0 {
			return x
		}
		i, n := 0, 0
		for i < len(x) && n < start {
			_, sz := utf8.DecodeRuneInString(x[i:])
			i += sz
			n++
		}
		if length < 0 {
			return x[i:]
		}
		j := i
		for j < len(x) && n < start+length {
			_, sz := utf8.DecodeRuneInString(x[j:])
			j += sz
			n++
		}
		return x[i:j]
	}
	desc := fmt.Sprintf("characters from %d", start)
	if length >= 0 {
		desc = fmt.Sprintf("%d characters from %d", length, start)
	}
	return scalarTransform(stringStep(name, fn), desc)
}

// transformReplace compiles the replace transform.
func transformReplace(name string, arg *yaml.Node) (builtTransform, error) {
	// replace: {pattern: REGEX, with: TEXT}; $1 refers to groups.
	if arg == nil || arg.Kind != yaml.MappingNode {
		return builtTransform{}, fmt.Errorf("replace needs {pattern: REGEX, with: TEXT}")
	}
	var pat, with string
	havePat := false
	for i := 0; i+1 < len(arg.Content); i += 2 {
		switch arg.Content[i].Value {
		case "pattern":
			pat, havePat = arg.Content[i+1].Value, true
		case "with":
			with = arg.Content[i+1].Value
		default:
			return builtTransform{}, fmt.Errorf("replace: unknown key %q (pattern, with)", arg.Content[i].Value)
		}
	}
	if !havePat {
		return builtTransform{}, fmt.Errorf("replace needs a pattern")
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return builtTransform{}, fmt.Errorf("replace pattern: %v", err)
	}
	return scalarTransform(stringStep(name, func(x string) string { return re.ReplaceAllString(x, with) }),
		fmt.Sprintf("replace /%s/ with %q", pat, with))
}

// transformRewrite compiles the rewrite transform.
func transformRewrite(name string, arg *yaml.Node) (builtTransform, error) {
	// rewrite: [{match: REGEX, to: TEMPLATE}, ...]: the first rule whose
	// pattern matches gives the value; none matching gives null.
	if arg == nil || arg.Kind != yaml.SequenceNode || len(arg.Content) == 0 {
		return builtTransform{}, fmt.Errorf("rewrite needs a list of {match: REGEX, to: TEMPLATE}")
	}
	type rule struct {
		re     *regexp.Regexp
		to     string
		tmpl   []tmplPart
		prefix string // every match starts with it (anchored patterns)
	}
	rules := make([]rule, 0, len(arg.Content))
	var desc []string
	for _, r := range arg.Content {
		if r.Kind != yaml.MappingNode {
			return builtTransform{}, fmt.Errorf("rewrite rule (line %d) must be {match: REGEX, to: TEMPLATE}", r.Line)
		}
		var ru rule
		havePat := false
		for i := 0; i+1 < len(r.Content); i += 2 {
			switch r.Content[i].Value {
			case "match":
				re, err := regexp.Compile(r.Content[i+1].Value)
				if err != nil {
					return builtTransform{}, fmt.Errorf("rewrite match (line %d): %v", r.Content[i+1].Line, err)
				}
				ru.re, havePat = re, true
			case "to":
				ru.to = r.Content[i+1].Value
			default:
				return builtTransform{}, fmt.Errorf("rewrite rule: unknown key %q (match, to)", r.Content[i].Value)
			}
		}
		if !havePat {
			return builtTransform{}, fmt.Errorf("rewrite rule (line %d) needs match", r.Line)
		}
		tmpl, err := parseTemplate(ru.to, ru.re.NumSubexp())
		if err != nil {
			return builtTransform{}, fmt.Errorf("rewrite to (line %d): %v", r.Line, err)
		}
		ru.tmpl = tmpl
		if strings.HasPrefix(ru.re.String(), "^") {
			ru.prefix, _ = ru.re.LiteralPrefix()
		}
		rules = append(rules, ru)
		desc = append(desc, fmt.Sprintf("/%s/ -> %q", ru.re, ru.to))
	}
	fn := func(_ *scope, v Value) (Value, error) {
		t, ok := scalarText(v)
		if !ok {
			return nullValue, badValue(v, "rewrite needs a single value, not %s", v.kind)
		}
		if v.kind == Null {
			return v, nil
		}
		for _, r := range rules {
			if !strings.HasPrefix(t, r.prefix) || !r.re.MatchString(t) { // no allocation on a miss
				continue
			}
			m := r.re.FindStringSubmatchIndex(t)
			return StringValue(expandTemplate(r.tmpl, t, m)), nil
		}
		return nullValue, nil
	}
	return builtTransform{fn: fn, in: shapeScalar, out: shapeScalar,
		explain: "rewrite by the first matching rule (" + strings.Join(desc, "; ") + "), else null"}, nil
}

// transformParseTime compiles the parse_time transform.
func (c *compiler) transformParseTime(name string, arg *yaml.Node) (builtTransform, error) {
	layout, err := textArg(name, arg)
	if err != nil {
		return builtTransform{}, err
	}
	fn := timeStep(layout, c.loc, func(t time.Time, _ bool) string { return t.UTC().Format(time.RFC3339Nano) })
	return scalarTransform(fn, fmt.Sprintf("read the time in layout %q (zone %s) as RFC 3339 UTC", layout, c.loc))
}

// transformFormatTime compiles the format_time transform.
func (c *compiler) transformFormatTime(name string, arg *yaml.Node) (builtTransform, error) {
	layout, err := textArg(name, arg)
	if err != nil {
		return builtTransform{}, err
	}
	loc := c.loc
	fn := timeStep("", loc, func(t time.Time, dateOnly bool) string {
		if !dateOnly {
			t = t.In(loc)
		}
		return t.Format(layout)
	})
	return scalarTransform(fn, fmt.Sprintf("format the date/time in layout %q (zone %s)", layout, loc))
}

// transformTimezone compiles the timezone transform.
func (c *compiler) transformTimezone(name string, arg *yaml.Node) (builtTransform, error) {
	zone, err := textArg(name, arg)
	if err != nil {
		return builtTransform{}, err
	}
	to, err := time.LoadLocation(zone)
	if err != nil {
		return builtTransform{}, fmt.Errorf("timezone: unknown zone %q", zone)
	}
	fn := timeStep("", c.loc, func(t time.Time, _ bool) string { return t.In(to).Format(time.RFC3339Nano) })
	return scalarTransform(fn, fmt.Sprintf("convert the time to zone %s (RFC 3339 with offset)", zone))
}

// timeStep reads a date or time (in layout, or any the hub reads when
// layout is ""; without a zone, in loc) and writes it with out; null
// stays null.
func timeStep(layout string, loc *time.Location, out func(t time.Time, dateOnly bool) string) step {
	return func(_ *scope, v Value) (Value, error) {
		if v.kind == Null {
			return v, nil
		}
		t, dateOnly, err := parseTime(v, layout, loc)
		if err != nil {
			return nullValue, err
		}
		return StringValue(out(t, dateOnly)), nil
	}
}

// transformDefault compiles the default transform.
func transformDefault(name string, arg *yaml.Node) (builtTransform, error) {
	if arg == nil {
		return builtTransform{}, fmt.Errorf("default needs a value")
	}
	d, err := nodeValue(arg)
	if err != nil {
		return builtTransform{}, fmt.Errorf("default: %v", err)
	}
	fn := func(_ *scope, v Value) (Value, error) {
		if v.kind == Null || (v.kind == String && v.s == "") {
			return d, nil
		}
		return v, nil
	}
	return builtTransform{fn: fn, in: shapeAny, out: shapeAny, explain: "if null or empty use " + snippet(d)}, nil
}

// transformRound compiles the round transform.
func transformRound(name string, arg *yaml.Node) (builtTransform, error) {
	places, err := argInt(arg)
	if err != nil {
		return builtTransform{}, fmt.Errorf("round %v", err)
	}
	if places < 0 || places > 18 {
		return builtTransform{}, fmt.Errorf("round: places must be 0..18")
	}
	fn := func(_ *scope, v Value) (Value, error) {
		if v.kind == Null {
			return v, nil
		}
		if v.kind != Number && v.kind != String {
			return nullValue, badValue(v, "not a decimal")
		}
		t, err := roundText(v, int32(places))
		if err != nil {
			return nullValue, err
		}
		return NumberValue(t), nil
	}
	return scalarTransform(fn, fmt.Sprintf("round half away from zero to %d places", places))
}

// transformXref compiles the xref and hook transforms.
func (c *compiler) transformXref(name string, arg *yaml.Node) (builtTransform, error) {
	var hookName string
	optional := false
	if name == "xref" {
		ent, err := textArg(name, arg)
		if err != nil {
			return builtTransform{}, err
		}
		if _, ok := Canonical(ent); !ok {
			return builtTransform{}, fmt.Errorf("xref: unknown entity %q (one of %s)", ent, strings.Join(Entities(), ", "))
		}
		hookName = XrefLookup(ent)
	} else {
		if arg == nil || arg.Kind != yaml.MappingNode {
			return builtTransform{}, fmt.Errorf("hook needs {name: NAME, optional: bool}")
		}
		for i := 0; i+1 < len(arg.Content); i += 2 {
			switch arg.Content[i].Value {
			case "name":
				hookName = arg.Content[i+1].Value
			case "optional":
				optional = arg.Content[i+1].Value == "true"
			default:
				return builtTransform{}, fmt.Errorf("hook: unknown key %q (name, optional)", arg.Content[i].Value)
			}
		}
		if hookName == "" {
			return builtTransform{}, fmt.Errorf("hook needs a name")
		}
	}
	if c.hooks == nil {
		c.hooks = map[string]bool{}
	}
	c.hooks[hookName] = c.hooks[hookName] || !optional
	fn := func(sc *scope, v Value) (Value, error) {
		key, ok := scalarText(v)
		if !ok {
			return nullValue, badValue(v, "%s needs a single value as key, not %s", hookName, v.kind)
		}
		if v.kind == Null {
			return v, nil
		}
		if sc.lookup == nil {
			if optional { // nothing can be found: what optional asks for then
				return nullValue, nil
			}
			return nullValue, badValue(v, "%s: no lookup hook is configured", hookName)
		}
		key = strings.Clone(key) // the hook may keep it; the record may be transient
		val, found, err := sc.lookup.Lookup(sc.ctx, hookName, key)
		if err != nil {
			return nullValue, &LookupError{Name: hookName, Key: key, Err: err}
		}
		if !found {
			if optional {
				return nullValue, nil
			}
			return nullValue, badValue(v, "%s: not found", hookName)
		}
		return StringValue(val), nil
	}
	return builtTransform{fn: fn, in: shapeScalar, out: shapeScalar, explain: fmt.Sprintf("ask the pipeline's lookup %q", hookName)}, nil
}

// transformExpr compiles the expr transform.
func (c *compiler) transformExpr(name string, arg *yaml.Node) (builtTransform, error) {
	src, err := textArg(name, arg)
	if err != nil {
		return builtTransform{}, err
	}
	p, err := c.compileExpr(src, false)
	if err != nil {
		return builtTransform{}, fmt.Errorf("expr does not compile: %v", oneLine(err))
	}
	fn := func(sc *scope, v Value) (Value, error) { return sc.evalValue(p, v) }
	return builtTransform{fn: fn, in: shapeAny, out: shapeAny, explain: "expression " + src}, nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// buildValueMap: map: {values: {paid: PAID}, default: UNKNOWN}. Keys
// compare against the value's text. Without a default an unmapped value is
// a field error.
func (c *compiler) buildValueMap(arg *yaml.Node) (builtTransform, error) {
	if arg == nil || arg.Kind != yaml.MappingNode {
		return builtTransform{}, fmt.Errorf("map needs {values: {FROM: TO, ...}, default: VALUE}")
	}
	table := map[string]Value{}
	var def Value
	hasDef := false
	var keys []string
	for i := 0; i+1 < len(arg.Content); i += 2 {
		k, v := arg.Content[i].Value, arg.Content[i+1]
		switch k {
		case "values":
			if v.Kind != yaml.MappingNode {
				return builtTransform{}, fmt.Errorf("map values must be a mapping FROM: TO")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				from := v.Content[j].Value
				if _, dup := table[from]; dup {
					return builtTransform{}, fmt.Errorf("map: %q is mapped twice (line %d)", from, v.Content[j].Line)
				}
				to, err := nodeValue(v.Content[j+1])
				if err != nil {
					return builtTransform{}, fmt.Errorf("map %q: %v", from, err)
				}
				table[from] = to
				keys = append(keys, from+" -> "+snippet(to))
			}
		case "default":
			d, err := nodeValue(v)
			if err != nil {
				return builtTransform{}, fmt.Errorf("map default: %v", err)
			}
			def, hasDef = d, true
		default:
			return builtTransform{}, fmt.Errorf("map: unknown key %q (values, default)", k)
		}
	}
	fn := func(_ *scope, v Value) (Value, error) {
		t, ok := scalarText(v)
		if !ok {
			return nullValue, badValue(v, "map needs a single value, not %s", v.kind)
		}
		if v.kind != Null {
			if out, ok := table[t]; ok {
				return out, nil
			}
		}
		if hasDef {
			return def, nil
		}
		if v.kind == Null {
			return v, nil
		}
		return nullValue, badValue(v, "not in the value map")
	}
	desc := "map " + strings.Join(keys, ", ")
	if hasDef {
		desc += ", anything else -> " + snippet(def)
	} else {
		desc += ", anything else is an error"
	}
	return builtTransform{fn: fn, in: shapeScalar, out: shapeScalar, explain: desc}, nil
}

// buildLookupTable: lookup: TABLE or {table: TABLE, default: VALUE}.
func (c *compiler) buildLookupTable(arg *yaml.Node) (builtTransform, error) {
	var name string
	var def Value
	hasDef := false
	switch {
	case arg != nil && arg.Kind == yaml.ScalarNode:
		name = arg.Value
	case arg != nil && arg.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(arg.Content); i += 2 {
			switch arg.Content[i].Value {
			case "table":
				name = arg.Content[i+1].Value
			case "default":
				d, err := nodeValue(arg.Content[i+1])
				if err != nil {
					return builtTransform{}, fmt.Errorf("lookup default: %v", err)
				}
				def, hasDef = d, true
			default:
				return builtTransform{}, fmt.Errorf("lookup: unknown key %q (table, default)", arg.Content[i].Value)
			}
		}
	default:
		return builtTransform{}, fmt.Errorf("lookup needs a table name or {table: NAME, default: VALUE}")
	}
	table, ok := c.tables[name]
	if !ok {
		return builtTransform{}, fmt.Errorf("lookup: no table %q under the spec's lookups", name)
	}
	fn := func(_ *scope, v Value) (Value, error) {
		t, ok := scalarText(v)
		if !ok {
			return nullValue, badValue(v, "lookup needs a single value, not %s", v.kind)
		}
		if v.kind == Null {
			if hasDef {
				return def, nil
			}
			return v, nil
		}
		if out, ok := table[t]; ok {
			return out, nil
		}
		if hasDef {
			return def, nil
		}
		return nullValue, badValue(v, "not in lookup table %s", name)
	}
	desc := "look up in table " + name
	if hasDef {
		desc += ", else " + snippet(def)
	}
	return builtTransform{fn: fn, in: shapeScalar, out: shapeScalar, explain: desc}, nil
}

func lowerASCIIFast(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}

func upperASCIIFast(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('a' <= c && c <= 'z') {
			return strings.ToUpper(s)
		}
	}
	return s
}

func digitsOnly(s string) string {
	var buf [32]byte
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	if len(b) == len(s) {
		return s
	}
	return string(b)
}

func digitsPlus(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "+") {
		return digitsOnly(s)
	}
	var buf [32]byte
	b := append(buf[:0], '+')
	for i := 1; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	if len(b) == len(s) {
		return s
	}
	return string(b)
}

// roundText rounds a decimal value to places, half away from zero, and
// returns it with exactly places fraction digits.
func roundText(v Value, places int32) (string, error) {
	t, err := toDecimalText(v)
	if err != nil {
		return "", err
	}
	if f, ok := parseFixed(t); ok {
		if r, ok := f.round(int(places)); ok {
			return r.String(), nil
		}
	}
	d, err := decimal.NewFromString(t)
	if err != nil {
		return "", badValue(v, "not a decimal")
	}
	return d.StringFixed(places), nil
}

// tmplPart is a literal or a group reference ($1, ${2}) of a rewrite
// template, parsed once.
type tmplPart struct {
	lit   string
	group int // -1: literal
}

func parseTemplate(t string, groups int) ([]tmplPart, error) {
	var parts []tmplPart
	lit := []byte{}
	for i := 0; i < len(t); i++ {
		if t[i] != '$' {
			lit = append(lit, t[i])
			continue
		}
		if i+1 < len(t) && t[i+1] == '$' {
			lit = append(lit, '$')
			i++
			continue
		}
		j := i + 1
		braced := j < len(t) && t[j] == '{'
		if braced {
			j++
		}
		k := j
		for k < len(t) && t[k] >= '0' && t[k] <= '9' {
			k++
		}
		if k == j || (braced && (k >= len(t) || t[k] != '}')) {
			return nil, fmt.Errorf("%q: write $N or ${N} for group N, $$ for a dollar", t)
		}
		g, _ := strconv.Atoi(t[j:k])
		if g > groups {
			return nil, fmt.Errorf("%q refers to group %d, the pattern has %d", t, g, groups)
		}
		if len(lit) > 0 {
			parts = append(parts, tmplPart{lit: string(lit), group: -1})
			lit = lit[:0]
		}
		parts = append(parts, tmplPart{group: g})
		if braced {
			k++
		}
		i = k - 1
	}
	if len(lit) > 0 {
		parts = append(parts, tmplPart{lit: string(lit), group: -1})
	}
	return parts, nil
}

func expandTemplate(parts []tmplPart, src string, m []int) string {
	n := 0
	for _, p := range parts {
		if p.group < 0 {
			n += len(p.lit)
		} else if m[2*p.group] >= 0 {
			n += m[2*p.group+1] - m[2*p.group]
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		if p.group < 0 {
			b.WriteString(p.lit)
		} else if m[2*p.group] >= 0 {
			b.WriteString(src[m[2*p.group]:m[2*p.group+1]])
		}
	}
	return b.String()
}
