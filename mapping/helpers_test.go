package mapping

import (
	"context"
	"strings"
	"testing"
)

// specWith builds a spec around the given fields: block (indented by the
// caller with two spaces per level under fields:).
func specWith(direction, entity, options, fields string) string {
	return "name: t\nsystem: test\nentity: " + entity + "\ndirection: " + direction + "\n" + options + "fields:\n" + fields
}

// mapOne compiles a spec writing attributes.x (so any type is allowed)
// from the field spec fieldYAML and applies it to input. It returns the
// JSON of attributes.x, or the record error's text.
func mapOne(t *testing.T, fieldYAML, options, input string) (string, error) {
	t.Helper()
	spec := specWith("in", "order", options, "  attributes.x:\n"+indentYAML(fieldYAML, "    "))
	p, err := Compile("t.yaml", []byte(spec))
	if err != nil {
		t.Fatalf("compile:\n%s\n%v", spec, err)
	}
	rec, err := ParseJSON([]byte(input))
	if err != nil {
		t.Fatalf("input %s: %v", input, err)
	}
	out, err := p.Apply(context.Background(), rec, nil)
	if err != nil {
		return "", err
	}
	return string(AppendJSON(nil, out.Get("attributes").Get("x"))), nil
}

func indentYAML(s, ind string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = ind + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
