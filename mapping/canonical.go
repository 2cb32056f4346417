package mapping

import (
	"strings"

	"github.com/crmhub/hub/canonical"
)

// The canonical model lives in package canonical; these names keep the
// mapping language's own code short.
type (
	// FieldType is the type of a canonical field.
	FieldType = canonical.FieldType
	// CanonField is one field of the canonical model.
	CanonField = canonical.Field
)

// Canonical field types (see package canonical).
const (
	FieldString   = canonical.FieldString
	FieldInt      = canonical.FieldInt
	FieldDecimal  = canonical.FieldDecimal
	FieldBool     = canonical.FieldBool
	FieldDate     = canonical.FieldDate
	FieldDateTime = canonical.FieldDateTime
	FieldPhone    = canonical.FieldPhone
	FieldEmail    = canonical.FieldEmail
	FieldCurrency = canonical.FieldCurrency
	FieldCountry  = canonical.FieldCountry
	FieldObject   = canonical.FieldObject
	FieldArray    = canonical.FieldArray
	FieldAny      = canonical.FieldAny
)

// Entities lists the canonical entities in documentation order.
func Entities() []string { return canonical.Entities() }

// Canonical returns the canonical model of entity as an object field, and
// false for an unknown entity.
func Canonical(entity string) (CanonField, bool) { return canonical.Model(entity) }

// canonLookup resolves a dotted path (array parts written as "lines[]" or
// "lines[0]" or "lines") in the canonical object root. Anything under
// "attributes" is allowed and typed FieldAny.
func canonLookup(root CanonField, path []pathSeg) (CanonField, bool) {
	cur := root
	for _, seg := range path {
		if seg.index != noIndex {
			if cur.Type != FieldArray {
				return CanonField{}, false
			}
			cur = CanonField{Name: cur.Name, Type: FieldObject, Fields: cur.Fields}
			continue
		}
		if cur.Type == FieldAny {
			continue
		}
		if seg.key == "attributes" && (cur.Type == FieldObject || cur.Type == FieldArray) {
			cur = CanonField{Name: "attributes", Type: FieldAny}
			continue
		}
		if cur.Type != FieldObject && cur.Type != FieldArray {
			return CanonField{}, false
		}
		c, ok := cur.Child(seg.key)
		if !ok {
			return CanonField{}, false
		}
		cur = c
	}
	return cur, true
}

// canonNames lists the names of f's direct children, for error hints.
func canonNames(f CanonField) string {
	names := make([]string, 0, len(f.Fields)+1)
	for _, c := range f.Fields {
		names = append(names, c.Name)
	}
	names = append(names, "attributes")
	return strings.Join(names, ", ")
}
