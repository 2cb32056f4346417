package config

import (
	"reflect"
	"sort"
	"strings"
)

// Change is one key that differs between two configs.
type Change struct {
	Key string // dotted, as in the file: sources.crm-orders.interval
	// What is "changed", "added" or "removed" (a map entry: a source, a
	// sink, a connector setting).
	What string
}

func (c Change) String() string { return c.Key + " " + c.What }

// Diff lists the keys whose values differ from old to new, deepest first
// where it can tell: a changed interval is sources.X.interval, a new
// source is sources.Y added. Secrets compare by value and show only their
// key. The order is the keys' sorted order.
func Diff(old, new *Config) []Change {
	var out []Change
	diffValue("", reflect.ValueOf(*old), reflect.ValueOf(*new), &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func diffValue(key string, a, b reflect.Value, out *[]Change) {
	if !a.IsValid() || !b.IsValid() || a.Type() != b.Type() {
		if a.IsValid() != b.IsValid() || (a.IsValid() && !reflect.DeepEqual(a.Interface(), b.Interface())) {
			*out = append(*out, Change{Key: key, What: "changed"})
		}
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		if a.Type().PkgPath() != reflect.TypeOf(Config{}).PkgPath() {
			break // time.Time and the like: compare whole
		}
		t := a.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if tag == "-" {
				continue
			}
			sub := key
			if tag != "" { // ",remain" fields sit at their parent's level
				sub = join(key, tag)
			}
			diffValue(sub, a.Field(i), b.Field(i), out)
		}
		return
	case reflect.Map:
		if a.Type().Key().Kind() != reflect.String {
			break
		}
		keys := map[string]bool{}
		for _, k := range a.MapKeys() {
			keys[k.String()] = true
		}
		for _, k := range b.MapKeys() {
			keys[k.String()] = true
		}
		for k := range keys {
			kv := reflect.ValueOf(k).Convert(a.Type().Key())
			av, bv := a.MapIndex(kv), b.MapIndex(kv)
			switch {
			case !av.IsValid():
				*out = append(*out, Change{Key: join(key, k), What: "added"})
			case !bv.IsValid():
				*out = append(*out, Change{Key: join(key, k), What: "removed"})
			default:
				diffValue(join(key, k), elem(av), elem(bv), out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*out = append(*out, Change{Key: key, What: "changed"})
	}
}

// elem looks through the interface of a map[string]any value.
func elem(v reflect.Value) reflect.Value {
	if v.Kind() == reflect.Interface && !v.IsNil() {
		return v.Elem()
	}
	return v
}
