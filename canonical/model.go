// Package canonical owns the canonical model: the list of entities every
// topic, source, sink and mapping names, and each entity's fields with their
// types. It is the one place to edit when an entity or a field is added
// (docs/canonical.md describes the same model for people).
//
// It is a leaf: it imports nothing of the hub, so that config, mapping,
// connectors and the pipeline can all depend on it.
package canonical

import (
	"slices"
	"strings"
)

// The canonical entities. Each has the topic <prefix>.<entity>.
const (
	Customer    = "customer"
	Order       = "order"
	Invoice     = "invoice"
	Interaction = "interaction"
)

// Entities lists the canonical entities in documentation order.
func Entities() []string { return []string{Customer, Order, Invoice, Interaction} }

// IsEntity reports whether e is a canonical entity.
func IsEntity(e string) bool { return slices.Contains(Entities(), e) }

// List is the entities as text for messages: "customer, order, invoice, interaction".
func List() string { return strings.Join(Entities(), ", ") }

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

// Field is one field of the canonical model.
type Field struct {
	Name   string
	Type   FieldType
	Doc    string
	Fields []Field // of an object, or of each element of an array
	// NonNegative numbers may not be below zero (a quantity, a count).
	NonNegative bool
}

// Child finds the direct child field name.
func (f Field) Child(name string) (Field, bool) {
	for _, c := range f.Fields {
		if c.Name == name {
			return c, true
		}
	}
	return Field{}, false
}

// Model returns the canonical model of entity as an object field, and
// false for an unknown entity. Every entity (and every nested object) may
// also carry an "attributes" object of custom fields, which is always
// allowed and never checked. The model is built on each call: callers own
// the result.
func Model(entity string) (Field, bool) {
	s := func(n, doc string) Field { return Field{Name: n, Type: FieldString, Doc: doc} }
	t := func(n string, ft FieldType, doc string) Field { return Field{Name: n, Type: ft, Doc: doc} }
	nonNeg := func(f Field) Field { f.NonNegative = true; return f }
	obj := func(n, doc string, fs ...Field) Field {
		return Field{Name: n, Type: FieldObject, Doc: doc, Fields: fs}
	}
	arr := func(n, doc string, fs ...Field) Field {
		return Field{Name: n, Type: FieldArray, Doc: doc, Fields: fs}
	}
	address := func(n, doc string) Field {
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
	party := func(n, doc string) Field {
		return obj(n, doc,
			s("id", "hub id of the customer (set by the pipeline)"),
			s("external_id", "the customer's id in the system the record comes from or goes to"),
			s("name", "display name"),
			t("email", FieldEmail, "lower-case e-mail address"),
			t("phone", FieldPhone, "E.164"),
		)
	}
	line := func(extra ...Field) []Field {
		fs := []Field{
			t("line_no", FieldInt, "1-based position"),
			s("external_id", "the line's id in its system"),
			s("sku", "stock keeping unit"),
			s("name", "product or service name"),
			nonNeg(t("qty", FieldDecimal, "quantity (decimal: some units are fractional)")),
			s("unit", "unit of measure"),
			t("unit_price", FieldDecimal, "price of one unit, without tax"),
			t("discount", FieldDecimal, "discount amount for the line"),
			t("tax_rate", FieldDecimal, "tax rate as a fraction (0.19)"),
			t("tax", FieldDecimal, "tax amount for the line"),
			t("amount", FieldDecimal, "line total: qty x unit_price - discount, rounded to cents"),
		}
		return append(fs, extra...)
	}
	var f Field
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
			arr("contacts", "the customer's contact persons (a company's buyers, its accountant); screen-pop finds the customer by their numbers too",
				s("name", "display name"),
				s("role", "what the person does for the customer (buyer, accounting)"),
				t("email", FieldEmail, "lower-case e-mail address"),
				t("phone", FieldPhone, "E.164"),
				t("mobile", FieldPhone, "E.164"),
			),
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
			nonNeg(t("line_count", FieldInt, "number of lines")),
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
			nonNeg(t("line_count", FieldInt, "number of lines")),
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
			nonNeg(t("duration_seconds", FieldInt, "talk time")),
			s("outcome", "ANSWERED, MISSED, VOICEMAIL, ..."),
			s("subject", "short summary"),
			s("notes", "free text"),
			s("recording_url", "link to the recording"),
			t("created_at", FieldDateTime, "created, RFC 3339 UTC"),
		)
	default:
		return Field{}, false
	}
	return f, true
}
