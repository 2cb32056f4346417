package mapping

import (
	"math"
	"sort"
	"strconv"
)

// Kind is the JSON kind of a Value.
type Kind uint8

// The kinds of Value.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "bool"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "array"
	case Object:
		return "object"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a JSON value. Numbers keep their literal text, so decimals never
// pass through float64. Objects keep their members in order. The zero
// Value is null. Values are immutable once built; copying one is cheap.
type Value struct {
	kind Kind
	// s is the string's content, the number's literal text, or "true" /
	// "false" for a Bool.
	s string
	// a holds array elements, or object members as key, value pairs
	// (keys are String values).
	a []Value
}

var nullValue = Value{}

// StringValue returns a JSON string.
func StringValue(s string) Value { return Value{kind: String, s: s} }

// BoolValue returns a JSON boolean.
func BoolValue(b bool) Value {
	if b {
		return Value{kind: Bool, s: "true"}
	}
	return Value{kind: Bool, s: "false"}
}

// NumberValue returns a JSON number from its literal text. The caller must
// pass valid JSON number text (as produced by strconv or decimal.String).
func NumberValue(lit string) Value { return Value{kind: Number, s: lit} }

// IntValue returns a JSON number holding i.
func IntValue(i int64) Value { return Value{kind: Number, s: strconv.FormatInt(i, 10)} }

// ArrayValue returns a JSON array holding elems (not copied).
func ArrayValue(elems []Value) Value { return Value{kind: Array, a: elems} }

// Member is one key of an object.
type Member struct {
	Key   string
	Value Value
}

// ObjectValue returns a JSON object with the members in the given order.
func ObjectValue(members ...Member) Value {
	a := make([]Value, 0, 2*len(members))
	for _, m := range members {
		a = append(a, StringValue(m.Key), m.Value)
	}
	return Value{kind: Object, a: a}
}

// Kind reports the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is JSON null (or missing).
func (v Value) IsNull() bool { return v.kind == Null }

// Str returns a String's content, a Number's literal text, "true"/"false"
// for a Bool and "" otherwise.
func (v Value) Str() string { return v.s }

// Bool reports whether v is the boolean true.
func (v Value) Bool() bool { return v.kind == Bool && v.s == "true" }

// Len is the number of elements of an array or members of an object.
func (v Value) Len() int {
	switch v.kind {
	case Array:
		return len(v.a)
	case Object:
		return len(v.a) / 2
	}
	return 0
}

// Index returns element i of an array, or null.
func (v Value) Index(i int) Value {
	if v.kind != Array || i < 0 || i >= len(v.a) {
		return nullValue
	}
	return v.a[i]
}

// Get returns the member key of an object, or null.
func (v Value) Get(key string) Value {
	if v.kind != Object {
		return nullValue
	}
	for i := 0; i < len(v.a); i += 2 {
		if v.a[i].s == key {
			return v.a[i+1]
		}
	}
	return nullValue
}

// Members returns an object's members in order.
func (v Value) Members() []Member {
	if v.kind != Object {
		return nil
	}
	return v.AppendMembers(make([]Member, 0, len(v.a)/2))
}

// AppendMembers appends an object's members in order to dst and returns
// it: Members for hot loops that reuse one slice (or an array on the
// stack) instead of allocating one per object.
func (v Value) AppendMembers(dst []Member) []Member {
	if v.kind != Object {
		return dst
	}
	for i := 0; i < len(v.a); i += 2 {
		dst = append(dst, Member{Key: v.a[i].s, Value: v.a[i+1]})
	}
	return dst
}

// Elems returns an array's elements (shared, do not modify).
func (v Value) Elems() []Value {
	if v.kind != Array {
		return nil
	}
	return v.a
}

// Any converts v to plain Go values: nil, bool, string, json-like numbers
// (int64 when integral and in range, else float64), []any and
// map[string]any. It is used to hand records to expressions. Of an
// object's members of one name the first counts, as for Get and paths.
func (v Value) Any() any {
	switch v.kind {
	case Bool:
		return v.s == "true"
	case Number:
		if i, err := strconv.ParseInt(v.s, 10, 64); err == nil {
			return int(i)
		}
		f, _ := strconv.ParseFloat(v.s, 64)
		return f
	case String:
		return v.s
	case Array:
		out := make([]any, len(v.a))
		for i, e := range v.a {
			out[i] = e.Any()
		}
		return out
	case Object:
		out := make(map[string]any, len(v.a)/2)
		for i := len(v.a) - 2; i >= 0; i -= 2 { // backwards: the first of a name counts, as for Get
			out[v.a[i].s] = v.a[i+1].Any()
		}
		return out
	}
	return nil
}

// FromAny converts plain Go values (as produced by expressions or by
// encoding/json) to a Value. Maps are ordered by key. Unknown types
// become their fmt-free string form where one exists, else null.
func FromAny(x any) (Value, bool) {
	switch t := x.(type) {
	case nil:
		return nullValue, true
	case Value:
		return t, true
	case bool:
		return BoolValue(t), true
	case string:
		return StringValue(t), true
	case int:
		return IntValue(int64(t)), true
	case int64:
		return IntValue(t), true
	case int32:
		return IntValue(int64(t)), true
	case uint64:
		return NumberValue(strconv.FormatUint(t, 10)), true
	case float64:
		return floatValue(t)
	case float32:
		return floatValue(float64(t))
	case []any:
		out := make([]Value, len(t))
		for i, e := range t {
			v, ok := FromAny(e)
			if !ok {
				return nullValue, false
			}
			out[i] = v
		}
		return ArrayValue(out), true
	case []string:
		out := make([]Value, len(t))
		for i, e := range t {
			out[i] = StringValue(e)
		}
		return ArrayValue(out), true
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		a := make([]Value, 0, 2*len(keys))
		for _, k := range keys {
			v, ok := FromAny(t[k])
			if !ok {
				return nullValue, false
			}
			a = append(a, StringValue(k), v)
		}
		return Value{kind: Object, a: a}, true
	}
	return nullValue, false
}

func floatValue(f float64) (Value, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) { // no JSON form
		return nullValue, false
	}
	return NumberValue(strconv.FormatFloat(f, 'f', -1, 64)), true
}
