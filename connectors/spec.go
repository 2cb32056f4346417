package connectors

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spec is the settings spec of a connector kind: every key its settings
// block takes, with its type, default, allowed values and documentation,
// in the manner of Benthos's service.ConfigSpec. It is derived once from
// the kind's config struct (SpecOf) and drives the defaults and the
// generic checks of the settings (Resolve) and the kind's reference page
// (hub connectors doc).
//
// The struct tags a config field may carry:
//
//	mapstructure:"key"     the key; ",squash" on an embedded struct puts
//	                       its keys at this level, "-" leaves a field out
//	doc:"..."              what the setting does (every key needs one)
//	default:"..."          the value of an unset setting, written as in
//	                       YAML: 5s, 500, 0.1, true; a,b,c for a list.
//	                       Unset is the zero value, or nil for a pointer:
//	                       a setting whose zero means something (0 turns
//	                       look_back off) is a pointer
//	defaultdoc:"..."       the default in words, when code fills it in
//	                       because it depends on other settings ("the
//	                       value of updated_at")
//	enum:"a|b|c"           the allowed values of a string, or of each
//	                       element of a list of strings
//	required:"true"        an unset (or blank) setting is an error
//	secret:"true"          a credential: the docs say to give it as ${VAR}
//	mapkey:"entity"        for a map, what its keys name: the docs show
//	                       entities.<entity>.table (default "name")
//
// Checks that need more than one setting, or more than a list of values
// (a table name's shape, a URL), stay in the kind's code.
type Spec struct {
	// Fields are the top-level keys, in the order of the struct.
	Fields []Field
	typ    reflect.Type
}

// Field is one key of a settings spec.
type Field struct {
	// Key is the key in its block (mapstructure's name).
	Key string
	// Path is the documented key from the top of the settings block:
	// "entities.<entity>.table", "items[].name".
	Path string
	// Type in words: string, integer, number, boolean, duration, any,
	// object, list of X, map of X.
	Type string
	// Default is the value an unset setting gets, as written in YAML.
	Default string
	// DefaultDoc is a default the kind's code fills in, in words.
	DefaultDoc string
	Required   bool
	// Enum lists the allowed values ("" is unset, not a value).
	Enum   []string
	Secret bool
	Doc    string
	// Fields are the keys of an object: of the field itself, of each
	// value of a map or of each element of a list.
	Fields []Field

	index []int // within the parent struct, through squashed structs
}

// The struct tags a spec reads (see Spec).
const (
	tagKey        = "mapstructure"
	tagDoc        = "doc"
	tagDefault    = "default"
	tagDefaultDoc = "defaultdoc"
	tagEnum       = "enum"
	tagRequired   = "required"
	tagSecret     = "secret"
	tagMapKey     = "mapkey"
)

var durationType = reflect.TypeFor[time.Duration]()

// SpecOf derives the settings spec of config struct C from its tags. An
// error is a mistake in C's declaration (a key without a doc, a default
// that does not parse), not in anybody's settings.
func SpecOf[C any]() (Spec, error) {
	t := reflect.TypeFor[C]()
	if t.Kind() != reflect.Struct {
		return Spec{}, fmt.Errorf("settings spec: %s is not a struct", t)
	}
	fields, err := structFields(t, nil, "", map[reflect.Type]bool{})
	if err != nil {
		return Spec{}, fmt.Errorf("settings spec of %s: %w", t, err)
	}
	return Spec{Fields: fields, typ: t}, nil
}

// All returns every field of s, each object's before its keys, in the
// order of the struct.
func (s Spec) All() []Field {
	var out []Field
	var walk func([]Field)
	walk = func(fs []Field) {
		for _, f := range fs {
			out = append(out, f)
			walk(f.Fields)
		}
	}
	walk(s.Fields)
	return out
}

// structFields derives the fields of struct t. index leads from the
// struct being walked to t (through squashed structs); path prefixes the
// documented keys; open holds the structs being derived, to refuse a type
// that contains itself.
func structFields(t reflect.Type, index []int, path string, open map[reflect.Type]bool) ([]Field, error) {
	if open[t] {
		return nil, fmt.Errorf("%s contains itself", t)
	}
	open[t] = true
	defer delete(open, t)
	var out []Field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get(tagKey), ",")
		squash := slices.Contains(strings.Split(opts, ","), "squash")
		if !squash && !sf.IsExported() || name == "-" {
			continue // mapstructure squashes unexported embedded structs too
		}
		at := append(slices.Clone(index), i)
		if squash {
			if sf.Type.Kind() != reflect.Struct {
				return nil, fmt.Errorf("field %s: only a struct can be squashed", sf.Name)
			}
			inner, err := structFields(sf.Type, at, path, open)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("field %s: no %s key", sf.Name, tagKey)
		}
		f, err := deriveField(sf, name, path, open)
		if err != nil {
			return nil, fmt.Errorf("key %s%s: %w", path, name, err)
		}
		f.index = at
		out = append(out, f)
	}
	keys := map[string]bool{}
	for _, f := range out {
		if keys[f.Key] {
			return nil, fmt.Errorf("key %s%s is declared twice", path, f.Key)
		}
		keys[f.Key] = true
	}
	return out, nil
}

// deriveField derives one key from its struct field.
func deriveField(sf reflect.StructField, name, path string, open map[reflect.Type]bool) (Field, error) {
	typ, err := typeWords(sf.Type)
	if err != nil {
		return Field{}, err
	}
	tag := sf.Tag
	f := Field{Key: name, Path: path + name, Type: typ, Doc: strings.TrimSpace(tag.Get(tagDoc)),
		Default: tag.Get(tagDefault), DefaultDoc: tag.Get(tagDefaultDoc)}
	if f.Doc == "" {
		return Field{}, fmt.Errorf("no %s tag: every key is documented", tagDoc)
	}
	if f.Required, err = flagTag(tag, tagRequired); err != nil {
		return Field{}, err
	}
	if f.Secret, err = flagTag(tag, tagSecret); err != nil {
		return Field{}, err
	}
	if e := tag.Get(tagEnum); e != "" {
		f.Enum = strings.Split(e, "|")
		if !isStrings(sf.Type) {
			return Field{}, fmt.Errorf("%s on a %s: only strings and lists of strings have allowed values", tagEnum, typ)
		}
	}
	if err := checkDefault(f, sf.Type); err != nil {
		return Field{}, err
	}
	inner, suffix := objectOf(sf.Type, tag.Get(tagMapKey))
	if inner != nil {
		if f.Fields, err = structFields(inner, nil, f.Path+suffix+".", open); err != nil {
			return Field{}, err
		}
	}
	return f, nil
}

// flagTag reads a boolean tag: absent, or "true".
func flagTag(tag reflect.StructTag, name string) (bool, error) {
	switch v := tag.Get(name); v {
	case "":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fmt.Errorf("%s:%q: write %s:\"true\" or leave it out", name, v, name)
	}
}

// checkDefault checks that f's default parses as t and is allowed.
func checkDefault(f Field, t reflect.Type) error {
	if f.Default == "" {
		return nil
	}
	switch {
	case f.DefaultDoc != "":
		return fmt.Errorf("both %s and %s: a default is applied or described, not both", tagDefault, tagDefaultDoc)
	case f.Required:
		return fmt.Errorf("a required key has no default")
	case t.Kind() == reflect.Bool:
		return fmt.Errorf("a boolean default needs a pointer field (false is a value, not unset)")
	}
	v, err := defaultValue(t, f.Default)
	if err != nil {
		return fmt.Errorf("default %q: %w", f.Default, err)
	}
	if bad := enumProblems(f, v, "default"); len(bad) > 0 {
		return bad[0]
	}
	return nil
}

// objectOf returns the struct under t's pointers, maps and lists, and
// the documented key between the field and that struct's keys
// (".<entity>" for a map, "[]" for a list); nil when there is none.
func objectOf(t reflect.Type, mapKey string) (reflect.Type, string) {
	if mapKey == "" {
		mapKey = "name"
	}
	suffix := ""
	for {
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Map:
			suffix += ".<" + mapKey + ">"
			t = t.Elem()
		case reflect.Slice:
			suffix += "[]"
			t = t.Elem()
		case reflect.Struct:
			return t, suffix
		default:
			return nil, ""
		}
	}
}

// typeWords says what type t takes in a settings block.
func typeWords(t reflect.Type) (string, error) {
	if t == durationType {
		return "duration", nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeWords(t.Elem())
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "boolean", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", nil
	case reflect.Float32, reflect.Float64:
		return "number", nil
	case reflect.Struct:
		return "object", nil
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return "any", nil
		}
	case reflect.Slice:
		elem, err := typeWords(t.Elem())
		return "list of " + elem, err
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return "", fmt.Errorf("a map's keys must be strings, not %s", t.Key())
		}
		elem, err := typeWords(t.Elem())
		return "map of " + elem, err
	}
	return "", fmt.Errorf("type %s cannot be a setting", t)
}

// isStrings reports whether t is a string or a list of strings (under
// pointers).
func isStrings(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t.Kind() == reflect.String
}

// defaultValue parses text as a new value of t (a fresh pointer or slice
// on every call: defaults are never shared between configs).
func defaultValue(t reflect.Type, text string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(text)
		if err != nil {
			return v, err
		}
		v.SetInt(int64(d))
		return v, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner, err := defaultValue(t.Elem(), text)
		if err != nil {
			return v, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(inner)
		v.Set(p)
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return v, err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, t.Bits())
		if err != nil {
			return v, err
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, t.Bits())
		if err != nil {
			return v, err
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(text, t.Bits())
		if err != nil {
			return v, err
		}
		v.SetFloat(n)
	case reflect.Slice:
		for _, part := range strings.Split(text, ",") {
			elem, err := defaultValue(t.Elem(), strings.TrimSpace(part))
			if err != nil {
				return v, err
			}
			v = reflect.Append(v, elem)
		}
	default:
		return v, fmt.Errorf("a %s has no default", t)
	}
	return v, nil
}

// Resolve fills in the defaults of cfg's unset settings (inside objects,
// map values and list elements too) and checks its required settings and
// allowed values, against the spec of C. Keys in the errors are relative
// to the settings block (entities.order.capture). It never writes into
// maps, slices or pointees cfg shares with its caller: it copies them.
//
// A kind's own constructor calls it, so that a config built in Go gets the
// same defaults as one decoded from YAML; Kind.New (Declare) calls it
// too, and resolving twice changes nothing. A spec that does not derive
// (a programming error the kinds' tests rule out) comes back as one
// error without a key.
func Resolve[C any](cfg *C) FieldErrors {
	s, err := SpecOf[C]()
	if err != nil {
		return FieldErrors{{Msg: err.Error()}}
	}
	return s.resolve(reflect.ValueOf(cfg).Elem())
}

// resolve is Resolve with a derived spec; v is a settable value of s.typ.
func (s Spec) resolve(v reflect.Value) FieldErrors {
	var errs FieldErrors
	if v.Type() != s.typ {
		errs.Add("", "settings spec of %s applied to a %s", s.typ, v.Type())
		return errs
	}
	resolveStruct(v, s.Fields, "", &errs)
	return errs
}

// resolveStruct resolves the fields of struct v; prefix is its key plus
// "." ("" at the top).
func resolveStruct(v reflect.Value, fields []Field, prefix string, errs *FieldErrors) {
	for _, f := range fields {
		resolveField(f, v.FieldByIndex(f.index), prefix+f.Key, errs)
	}
}

// resolveField fills in f's default, checks it and resolves its keys.
func resolveField(f Field, v reflect.Value, key string, errs *FieldErrors) {
	if f.Default != "" && unset(v) {
		d, err := defaultValue(v.Type(), f.Default)
		if err != nil {
			errs.Add(key, "default %q: %v", f.Default, err) // SpecOf checked it: unreachable
			return
		}
		v.Set(d)
	}
	if f.Required && blank(v) {
		errs.Add(key, "%s", requiredMsg(f))
		return
	}
	if bad := enumProblems(f, v, key); len(bad) > 0 {
		*errs = append(*errs, bad...)
		return
	}
	if len(f.Fields) > 0 {
		descend(v, f.Fields, key, errs)
	}
}

// descend resolves the objects under v: v itself, the value of a
// pointer, every value of a map, every element of a list. Containers are
// copied before anything in them changes.
func descend(v reflect.Value, fields []Field, key string, errs *FieldErrors) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		descend(c.Elem(), fields, key, errs)
		v.Set(c)
	case reflect.Struct:
		resolveStruct(v, fields, key+".", errs)
	case reflect.Map:
		if v.Len() == 0 {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		m := reflect.MakeMapWithSize(v.Type(), len(keys))
		for _, k := range keys {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			descend(e, fields, key+"."+k.String(), errs)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(s, v)
		for i := range s.Len() {
			descend(s.Index(i), fields, fmt.Sprintf("%s[%d]", key, i), errs)
		}
		v.Set(s)
	}
}

// unset reports whether v holds no setting: nil, empty or zero.
func unset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

// blank is unset, or a string of spaces.
func blank(v reflect.Value) bool {
	if unset(v) {
		return true
	}
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return v.Kind() == reflect.String && strings.TrimSpace(v.String()) == ""
}

func requiredMsg(f Field) string {
	msg := "is required"
	if len(f.Enum) > 0 {
		msg += " (one of " + strings.Join(f.Enum, ", ") + ")"
	}
	if f.Secret {
		msg += " (use ${VAR} to read it from the environment)"
	}
	return msg
}

// enumProblems checks a string (or each string of a list) against
// f.Enum and returns a problem per value it refuses.
func enumProblems(f Field, v reflect.Value, key string) FieldErrors {
	if len(f.Enum) == 0 {
		return nil
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var out FieldErrors
	check := func(s, at string) {
		if s != "" && !slices.Contains(f.Enum, s) {
			out.Add(at, "%q is not one of %s", s, strings.Join(f.Enum, ", "))
		}
	}
	switch v.Kind() {
	case reflect.String:
		check(v.String(), key)
	case reflect.Slice:
		for i := range v.Len() {
			check(v.Index(i).String(), fmt.Sprintf("%s[%d]", key, i))
		}
	}
	return out
}

// Merge returns es followed by the field errors of err that name keys es
// does not (one word about a key is enough: a constructor that checks a
// key the spec already refused says nothing new), as one error; nil when
// there are none. An err that carries no field errors becomes one
// without a key, or is returned as it is when es is empty.
func (es FieldErrors) Merge(err error) error {
	if err == nil {
		return es.Err()
	}
	more, ok := AsFieldErrors(err)
	if len(es) == 0 {
		if ok {
			return more.Err()
		}
		return err
	}
	out := slices.Clone(es)
	if !ok {
		return append(out, FieldError{Msg: err.Error()})
	}
	seen := make(map[string]bool, len(es))
	for _, e := range es {
		seen[e.Key] = true
	}
	for _, e := range more {
		if !seen[e.Key] || e.Key == "" {
			out = append(out, e)
		}
	}
	return out
}
