package shopify

import (
	"strings"

	"github.com/crmhub/hub/mapping"
)

// The GraphQL selections the poller and the bulk export read, and their
// conversion into the webhook payloads' shape (REST Admin resources):
// legacyResourceId becomes id, camelCase becomes snake_case, money sets
// their shop-currency amount, enums the REST words, global ids of line
// items their numeric ids.

const customerFields = `id legacyResourceId firstName lastName email phone note tags state createdAt updatedAt
defaultAddress { firstName lastName company address1 address2 city province zip countryCodeV2 phone }`

const orderFields = `id legacyResourceId name email phone note tags createdAt updatedAt cancelledAt cancelReason
displayFinancialStatus currencyCode paymentGatewayNames
subtotalPriceSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } }
totalDiscountsSet { shopMoney { amount } } totalPriceSet { shopMoney { amount } }
totalShippingPriceSet { shopMoney { amount } }
customer { legacyResourceId firstName lastName email phone createdAt updatedAt }
billingAddress { firstName lastName company address1 address2 city province zip countryCodeV2 phone }
shippingAddress { name firstName lastName company address1 address2 city province zip countryCodeV2 phone }`

const lineItemFields = `id sku title quantity originalUnitPriceSet { shopMoney { amount } }
totalDiscountSet { shopMoney { amount } } taxLines { priceSet { shopMoney { amount } } }`

type obj struct{ ms []mapping.Member }

func (o *obj) set(k string, v mapping.Value) { o.ms = append(o.ms, mapping.Member{Key: k, Value: v}) }
func (o *obj) value() mapping.Value          { return mapping.ObjectValue(o.ms...) }

// copyAs copies the members of src named in pairs (graphql, rest).
func (o *obj) copyAs(src mapping.Value, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		o.set(pairs[i+1], src.Get(pairs[i]))
	}
}

// money is a MoneyBag's shop amount, a decimal string.
func money(v mapping.Value) mapping.Value { return v.Get("shopMoney").Get("amount") }

// legacyID is a record's numeric id: legacyResourceId, else the digits at
// the end of its global id (gid://shopify/LineItem/123).
func legacyID(v mapping.Value) mapping.Value {
	if id := v.Get("legacyResourceId"); !id.IsNull() {
		return mapping.NumberValue(id.Str())
	}
	gid := v.Get("id").Str()
	if i := strings.LastIndexByte(gid, '/'); i >= 0 && i+1 < len(gid) {
		if n := gid[i+1:]; strings.Trim(n, "0123456789") == "" {
			return mapping.NumberValue(n)
		}
	}
	return v.Get("id")
}

func lower(v mapping.Value) mapping.Value {
	if v.Kind() != mapping.String {
		return v
	}
	return mapping.StringValue(strings.ToLower(v.Str()))
}

// tags joins a list of tags as REST writes them ("a, b").
func tags(v mapping.Value) mapping.Value {
	if v.Kind() != mapping.Array {
		return v
	}
	parts := make([]string, 0, v.Len())
	for _, t := range v.Elems() {
		parts = append(parts, t.Str())
	}
	return mapping.StringValue(strings.Join(parts, ", "))
}

func address(v mapping.Value) mapping.Value {
	if v.Kind() != mapping.Object {
		return mapping.Value{}
	}
	var o obj
	o.copyAs(v, "name", "name", "firstName", "first_name", "lastName", "last_name", "company", "company",
		"address1", "address1", "address2", "address2", "city", "city", "province", "province", "zip", "zip",
		"countryCodeV2", "country_code", "phone", "phone")
	return dropNulls(o.value())
}

// dropNulls leaves out null members (fields the selection did not have).
func dropNulls(v mapping.Value) mapping.Value {
	ms := v.Members()
	out := ms[:0:0]
	for _, m := range ms {
		if !m.Value.IsNull() {
			out = append(out, m)
		}
	}
	return mapping.ObjectValue(out...)
}

// customerREST turns a GraphQL Customer into a customer webhook payload.
func customerREST(v mapping.Value) mapping.Value {
	var o obj
	o.set("id", legacyID(v))
	o.copyAs(v, "email", "email", "firstName", "first_name", "lastName", "last_name", "phone", "phone",
		"note", "note", "createdAt", "created_at", "updatedAt", "updated_at")
	o.set("state", lower(v.Get("state")))
	o.set("tags", tags(v.Get("tags")))
	if a := address(v.Get("defaultAddress")); !a.IsNull() {
		o.set("default_address", a)
	}
	return dropNulls(o.value())
}

// buyerREST turns an order's GraphQL customer into the order payload's
// customer object.
func buyerREST(v mapping.Value) mapping.Value {
	if v.Kind() != mapping.Object {
		return mapping.Value{}
	}
	var o obj
	o.set("id", legacyID(v))
	o.copyAs(v, "email", "email", "firstName", "first_name", "lastName", "last_name", "phone", "phone",
		"createdAt", "created_at", "updatedAt", "updated_at")
	return dropNulls(o.value())
}

// orderREST turns a GraphQL Order and its line items into an order
// webhook payload.
func orderREST(v mapping.Value, lines []mapping.Value) mapping.Value {
	var o obj
	o.set("id", legacyID(v))
	o.copyAs(v, "name", "name", "email", "email", "email", "contact_email", "phone", "phone", "note", "note",
		"createdAt", "created_at", "updatedAt", "updated_at", "cancelledAt", "cancelled_at")
	o.set("cancel_reason", lower(v.Get("cancelReason")))
	o.set("order_number", orderNumber(v.Get("name")))
	o.set("financial_status", lower(v.Get("displayFinancialStatus")))
	o.set("currency", v.Get("currencyCode"))
	o.set("tags", tags(v.Get("tags")))
	if g := v.Get("paymentGatewayNames"); g.Len() > 0 {
		o.set("gateway", g.Index(0))
		o.set("payment_gateway_names", g)
	}
	o.set("subtotal_price", money(v.Get("subtotalPriceSet")))
	o.set("total_tax", money(v.Get("totalTaxSet")))
	o.set("total_discounts", money(v.Get("totalDiscountsSet")))
	o.set("total_price", money(v.Get("totalPriceSet")))
	var ship []mapping.Value
	if p := money(v.Get("totalShippingPriceSet")); !p.IsNull() {
		ship = append(ship, mapping.ObjectValue(mapping.Member{Key: "price", Value: p}))
	}
	o.set("shipping_lines", mapping.ArrayValue(ship))
	if c := buyerREST(v.Get("customer")); !c.IsNull() {
		o.set("customer", c)
	}
	o.set("billing_address", address(v.Get("billingAddress")))
	o.set("shipping_address", address(v.Get("shippingAddress")))
	items := make([]mapping.Value, len(lines))
	for i, l := range lines {
		items[i] = lineREST(l)
	}
	o.set("line_items", mapping.ArrayValue(items))
	return dropNulls(o.value())
}

func lineREST(v mapping.Value) mapping.Value {
	var o obj
	o.set("id", legacyID(v))
	o.copyAs(v, "sku", "sku", "title", "title", "quantity", "quantity")
	o.set("price", money(v.Get("originalUnitPriceSet")))
	o.set("total_discount", money(v.Get("totalDiscountSet")))
	var taxes []mapping.Value
	for _, t := range v.Get("taxLines").Elems() {
		taxes = append(taxes, mapping.ObjectValue(mapping.Member{Key: "price", Value: money(t.Get("priceSet"))}))
	}
	o.set("tax_lines", mapping.ArrayValue(taxes))
	return dropNulls(o.value())
}

// orderNumber is the number in an order's name ("#1001" -> 1001), as the
// REST resource's order_number; null for a name with other characters.
func orderNumber(name mapping.Value) mapping.Value {
	n := strings.TrimPrefix(name.Str(), "#")
	if n == "" || strings.Trim(n, "0123456789") != "" {
		return mapping.Value{}
	}
	return mapping.NumberValue(strings.TrimLeft(n, "0"))
}
