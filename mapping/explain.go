package mapping

import (
	"fmt"
	"strings"
)

// Explain describes the compiled plan in words, one field per line, in
// output order.
func (p *Plan) Explain() string {
	var b strings.Builder
	dir := "system -> canonical"
	if p.Direction == "out" {
		dir = "canonical -> system"
	}
	fmt.Fprintf(&b, "mapping %s: %s %s, %s (%s)\n", p.Name, p.System, p.Entity, p.Direction, dir)
	fmt.Fprintf(&b, "from %s\n", p.File)
	if p.root != nil {
		p.root.explain(&b, "")
	}
	return b.String()
}

func (o *objPlan) explain(b *strings.Builder, indent string) {
	for _, f := range o.fields {
		fmt.Fprintf(b, "%s%s: %s\n", indent, f.key.s, strings.Join(f.explain, ", then "))
		switch {
		case f.obj != nil:
			f.obj.explain(b, indent+"  ")
		case f.each != nil:
			f.each.obj.explain(b, indent+"  ")
		}
	}
}
