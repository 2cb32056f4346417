package mapping

import "strings"

// FieldType is the type of a canonical field.
type FieldType string

// Canonical field types. Money is FieldDecimal (a decimal string), dates
// are YYYY-MM-DD, datetimes RFC 3339 UTC, phones E.164.
const (
	FieldString   FieldType = "string"
	FieldInt      FieldType = "int"
	FieldDecimal  FieldType = "decimal"
	FieldBool     FieldType = "bool"
	FieldDate     FieldType = "date"
	FieldDateTime FieldType = "datetime"
	FieldPhone    FieldType = "phone"
	FieldEmail    FieldType = "email"
	FieldCurrency FieldType = "currency" // ISO 4217, upper case
	FieldCountry  FieldType = "country"  // ISO 3166-1 alpha-2, upper case
	FieldObject   FieldType = "object"
	FieldArray    FieldType = "array" // an array of objects (Fields)
	FieldAny      FieldType = "any"   // attributes: anything goes
)

// CanonField is one field of the canonical model.
type CanonField struct {
	Name   string
	Type   FieldType
	Doc    string
	Fields []CanonField // of an object, or of each element of an array
}

// child finds the direct child field name.
func (f CanonField) child(name string) (CanonField, bool) {
	for _, c := range f.Fields {
		if c.Name == name {
			return c, true
		}
	}
	return CanonField{}, false
}

// Entities lists the canonical entities in documentation order.
func Entities() []string { return []string{"customer", "order", "invoice", "interaction"} }

// Canonical returns the canonical model of entity as an object field, and
// false for an unknown entity. Every entity (and every nested object) may
// also carry an "attributes" object of custom fields, which is always
// allowed and never checked. The model is built on each call: callers own
// the result.
func Canonical(entity string) (CanonField, bool) {
	s := func(n, doc string) CanonField { return CanonField{Name: n, Type: FieldString, Doc: doc} }
	t := func(n string, ft FieldType, doc string) CanonField { return CanonField{Name: n, Type: ft, Doc: doc} }
	obj := func(n, doc string, fs ...CanonField) CanonField {
		return CanonField{Name: n, Type: FieldObject, Doc: doc, Fields: fs}
	}
	arr := func(n, doc string, fs ...CanonField) CanonField {
		return CanonField{Name: n, Type: FieldArray, Doc: doc, Fields: fs}
	}
	address := func(n, doc string) CanonField {
		return obj(n, doc,
			s("name", "addressee"),
			s("line1", "street and number"),
			s("line2", "second address line"),
			s("city", "city"),
			s("region", "state, province or county"),
			s("postal_code", "postal code"),
			t("country", FieldCountry, "ISO 3166-1 alpha-2"),
		)
	}
	party := func(n, doc string) CanonField {
		return obj(n, doc,
			s("id", "hub id of the customer (set by the pipeline)"),
			s("external_id", "the customer's id in the system the record comes from or goes to"),
			s("name", "display name"),
			t("email", FieldEmail, "lower-case e-mail address"),
			t("phone", FieldPhone, "E.164"),
		)
	}
	line := func(extra ...CanonField) []CanonField {
		fs := []CanonField{
			t("line_no", FieldInt, "1-based position"),
			s("external_id", "the line's id in its system"),
			s("sku", "stock keeping unit"),
			s("name", "product or service name"),
			t("qty", FieldDecimal, "quantity (decimal: some units are fractional)"),
			s("unit", "unit of measure"),
			t("unit_price", FieldDecimal, "price of one unit, without tax"),
			t("discount", FieldDecimal, "discount amount for the line"),
			t("tax_rate", FieldDecimal, "tax rate as a fraction (0.19)"),
			t("tax", FieldDecimal, "tax amount for the line"),
			t("amount", FieldDecimal, "line total: qty x unit_price - discount, rounded to cents"),
		}
		return append(fs, extra...)
	}
	var f CanonField
	switch entity {
	case "customer":
		f = obj("customer", "a person or company that buys",
			s("id", "hub id (set by the pipeline)"),
			s("external_id", "id in the system the record comes from or goes to"),
			s("customer_no", "human-facing customer number"),
			s("kind", "PERSON or COMPANY"),
			s("name", "display name"),
			s("first_name", "given name"),
			s("last_name", "family name"),
			s("company", "company name"),
			t("email", FieldEmail, "lower-case e-mail address"),
			t("phone", FieldPhone, "E.164"),
			t("mobile", FieldPhone, "E.164"),
			s("tax_id", "VAT or tax number"),
			s("language", "BCP 47 language tag"),
			t("currency", FieldCurrency, "preferred currency, ISO 4217"),
			s("payment_terms", "payment-terms code"),
			t("credit_limit", FieldDecimal, "credit limit in the customer's currency"),
			t("marketing_opt_in", FieldBool, "consented to marketing"),
			address("billing_address", "invoice address"),
			address("shipping_address", "delivery address"),
			s("status", "ACTIVE, BLOCKED or ARCHIVED"),
			t("created_at", FieldDateTime, "created, RFC 3339 UTC"),
			t("updated_at", FieldDateTime, "last changed, RFC 3339 UTC"),
		)
	case "order":
		f = obj("order", "a sales order",
			s("id", "hub id (set by the pipeline)"),
			s("external_id", "id in the system the record comes from or goes to"),
			s("order_no", "human-facing order number"),
			party("customer", "who ordered"),
			t("order_date", FieldDate, "YYYY-MM-DD (UTC)"),
			s("status", "OPEN, PAID, PARTIAL, CANCELLED, FULFILLED or UNKNOWN"),
			t("currency", FieldCurrency, "ISO 4217"),
			t("subtotal", FieldDecimal, "sum of lines before tax"),
			t("tax", FieldDecimal, "total tax"),
			t("shipping", FieldDecimal, "shipping charge"),
			t("discount", FieldDecimal, "order-level discount"),
			t("total", FieldDecimal, "amount due for the order"),
			s("payment_terms", "payment-terms code"),
			s("channel", "where the order was placed (shop, crm, phone)"),
			address("billing_address", "invoice address"),
			address("shipping_address", "delivery address"),
			arr("lines", "order lines", line()...),
			t("line_count", FieldInt, "number of lines"),
			s("notes", "free text"),
			t("created_at", FieldDateTime, "created, RFC 3339 UTC"),
			t("updated_at", FieldDateTime, "last changed, RFC 3339 UTC"),
		)
	case "invoice":
		f = obj("invoice", "an invoice and its payment state",
			s("id", "hub id (set by the pipeline)"),
			s("external_id", "id in the system the record comes from or goes to"),
			s("invoice_no", "human-facing invoice number"),
			s("order_external_id", "external id of the order it bills"),
			obj("order", "the order it bills",
				s("id", "hub id of the order (set by the pipeline from the source's refs)"),
				s("external_id", "the order's id in the system the record comes from or goes to"),
				s("order_no", "the order's human-facing number"),
			),
			party("customer", "who is billed"),
			t("invoice_date", FieldDate, "YYYY-MM-DD"),
			t("due_date", FieldDate, "YYYY-MM-DD"),
			t("currency", FieldCurrency, "ISO 4217"),
			t("subtotal", FieldDecimal, "sum of lines before tax"),
			t("tax", FieldDecimal, "total tax"),
			t("total", FieldDecimal, "amount billed"),
			t("amount_paid", FieldDecimal, "paid so far"),
			t("amount_due", FieldDecimal, "still open"),
			s("payment_state", "UNPAID, PARTIAL, PAID, OVERDUE or VOID"),
			t("paid_at", FieldDateTime, "when fully paid, RFC 3339 UTC"),
			s("payment_terms", "payment-terms code"),
			arr("lines", "invoice lines", line()...),
			t("line_count", FieldInt, "number of lines"),
			t("created_at", FieldDateTime, "created, RFC 3339 UTC"),
			t("updated_at", FieldDateTime, "last changed, RFC 3339 UTC"),
		)
	case "interaction":
		f = obj("interaction", "a call, chat or e-mail with a customer",
			s("id", "hub id (set by the pipeline)"),
			s("external_id", "id in the system the record comes from or goes to"),
			s("channel", "CALL, EMAIL, CHAT or SMS"),
			s("direction", "INBOUND or OUTBOUND"),
			party("customer", "who was talked to"),
			t("from", FieldPhone, "caller number, E.164"),
			t("to", FieldPhone, "called number, E.164"),
			s("agent", "agent id or name"),
			s("queue", "queue or skill group"),
			t("started_at", FieldDateTime, "RFC 3339 UTC"),
			t("ended_at", FieldDateTime, "RFC 3339 UTC"),
			t("duration_seconds", FieldInt, "talk time"),
			s("outcome", "ANSWERED, MISSED, VOICEMAIL, ..."),
			s("subject", "short summary"),
			s("notes", "free text"),
			s("recording_url", "link to the recording"),
			t("created_at", FieldDateTime, "created, RFC 3339 UTC"),
		)
	default:
		return CanonField{}, false
	}
	return f, true
}

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
		c, ok := cur.child(seg.key)
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
