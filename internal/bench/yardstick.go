package bench

// The yardstick's orders (../shared/bench/README.md, "Data"): Shopify
// orders/create webhooks, deterministic by seed. OrderGen writes, record
// for record, the bytes the yardstick's generator (bench/gen -seed S)
// writes, so `hub bench kafka` runs on the very input the peer's figures
// were measured on without a data file; yardstick_test.go checks it against
// the golden input. The random draws are taken in the generator's order:
// change one and every record after it differs.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

type ysTax struct {
	Title string  `json:"title"`
	Price string  `json:"price"`
	Rate  float64 `json:"rate"`
}

type ysItem struct {
	ID                int64   `json:"id"`
	VariantID         int64   `json:"variant_id"`
	ProductID         int64   `json:"product_id"`
	SKU               string  `json:"sku"`
	Title             string  `json:"title"`
	Vendor            string  `json:"vendor"`
	Quantity          int     `json:"quantity"`
	Price             string  `json:"price"`
	Grams             int     `json:"grams"`
	FulfillmentStatus *string `json:"fulfillment_status"`
	TaxLines          []ysTax `json:"tax_lines"`
}

type ysCustomer struct {
	ID        int64   `json:"id"`
	Email     string  `json:"email"`
	FirstName string  `json:"first_name"`
	LastName  string  `json:"last_name"`
	Phone     *string `json:"phone"`
}

type ysAddress struct {
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Address1    string `json:"address1"`
	City        string `json:"city"`
	Province    string `json:"province"`
	Country     string `json:"country"`
	CountryCode string `json:"country_code"`
	Zip         string `json:"zip"`
}

type ysOrder struct {
	ID              int64      `json:"id"`
	Name            string     `json:"name"`
	OrderNumber     int        `json:"order_number"`
	Email           string     `json:"email"`
	Phone           *string    `json:"phone"`
	CreatedAt       string     `json:"created_at"`
	UpdatedAt       string     `json:"updated_at"`
	Currency        string     `json:"currency"`
	SubtotalPrice   string     `json:"subtotal_price"`
	TotalTax        string     `json:"total_tax"`
	TotalPrice      string     `json:"total_price"`
	FinancialStatus string     `json:"financial_status"`
	Gateway         string     `json:"gateway"`
	Tags            string     `json:"tags"`
	Customer        ysCustomer `json:"customer"`
	BillingAddress  ysAddress  `json:"billing_address"`
	LineItems       []ysItem   `json:"line_items"`
}

var (
	ysFirst      = []string{"Wei", "Fang", "Jing", "Lei", "Min", "Olivia", "Liam", "Emma", "Noah", "Sophia", "Mateo", "Chloé"}
	ysLast       = []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Smith", "Johnson", "García", "Müller", "Brown", ""}
	ysDomains    = []string{"example.com", "Example.COM", "mail.example.cn", "shop.example.org"}
	ysCurrencies = []string{"USD", "CNY", "EUR", "usd", "cny"}
	ysStatuses   = []string{"paid", "paid", "paid", "pending", "refunded", "partially_paid"}
	ysOffsets    = []int{-8 * 3600, -5 * 3600, 0, 19800, 8 * 3600, 9 * 3600}
	ysProducts   = [][2]string{ // title, vendor
		{"Ceramic Tea Set", "Jingdezhen Works"}, {"Bamboo Cutting Board", "Green Kitchen"},
		{"Wireless Earbuds", "SoundCo"}, {"Merino Wool Scarf", "Highland Knits"},
		{"Stainless Water Bottle", "HydroGo"}, {"Silk Pillowcase", "Suzhou Silk"},
		{"Running Shoes", "Stride"}, {"Desk Lamp", "Lumen"},
	}
	ysPlaces = [][5]string{ // city, province, country code, country, zip
		{"Shanghai", "Shanghai", "CN", "China", "200000"},
		{"Hangzhou", "Zhejiang", "CN", "China", "310000"},
		{"Shenzhen", "Guangdong", "CN", "China", "518000"},
		{"San Francisco", "California", "US", "United States", "94103"},
		{"Austin", "Texas", "US", "United States", "73301"},
		{"Berlin", "Berlin", "DE", "Germany", "10115"},
	}
	ysSizes    = []string{"S", "M", "L", "XL"}
	ysRates    = []int64{6, 8, 13, 19}
	ysGateways = []string{"shopify_payments", "alipay", "paypal", "manual"}
	ysTags     = []string{"", "vip", "wholesale, repeat"}
	ysStreets  = []string{"Nanjing", "Market", "Linden", "Huaihai"}
)

// OrderGen generates the yardstick's orders one by one.
type OrderGen struct {
	r    *rand.Rand
	i    int
	base time.Time
	buf  bytes.Buffer
	enc  *json.Encoder
}

// NewOrderGen starts the sequence of seed (the yardstick's is 38).
func NewOrderGen(seed uint64) *OrderGen {
	g := &OrderGen{
		r:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		base: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	}
	g.enc = json.NewEncoder(&g.buf)
	g.enc.SetEscapeHTML(false)
	return g
}

// Next is the next order as one line of JSON without its newline, and
// the order's id. The bytes are the generator's until the next call.
func (g *OrderGen) Next() ([]byte, int64) {
	o := g.order()
	g.buf.Reset()
	if err := g.enc.Encode(&o); err != nil {
		panic(err) // plain structs of strings and numbers always encode
	}
	return bytes.TrimSuffix(g.buf.Bytes(), []byte("\n")), o.ID
}

func (g *OrderGen) phone() *string {
	r := g.r
	cn := fmt.Sprintf("1%d%d%08d", 3+r.IntN(7), r.IntN(10), r.IntN(100000000))
	us := fmt.Sprintf("%d%03d%04d", 200+r.IntN(800), 200+r.IntN(800), r.IntN(10000))
	var s string
	switch r.IntN(10) {
	case 0:
		return nil
	case 1:
		s = cn[:3] + " " + cn[3:7] + " " + cn[7:]
	case 2:
		s = "+86 " + cn[:3] + "-" + cn[3:7] + "-" + cn[7:]
	case 3:
		s = cn
	case 4:
		s = "+86" + cn
	case 5:
		s = "(" + us[:3] + ") " + us[3:6] + "-" + us[6:]
	case 6:
		s = us[:3] + "-" + us[3:6] + "-" + us[6:]
	case 7:
		s = "+1 " + us[:3] + " " + us[3:6] + " " + us[6:]
	case 8:
		s = "+49 30 " + fmt.Sprintf("%08d", r.IntN(100000000))
	default:
		s = cn[:3] + "-" + cn[3:7] + "-" + cn[7:]
	}
	return &s
}

func ysMoney(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func (g *OrderGen) order() ysOrder {
	r, i := g.r, g.i
	g.i++
	id := int64(5_600_000_000_000 + i*7 + r.IntN(7))
	off := ysOffsets[r.IntN(len(ysOffsets))]
	jitter := time.Duration(r.IntN(30)) * time.Second
	created := g.base.Add(time.Duration(i)*30*time.Second + jitter).In(time.FixedZone("", off))
	first := ysFirst[r.IntN(len(ysFirst))]
	last := ysLast[r.IntN(len(ysLast))]
	local := strings.ToLower(first) + "." + strings.ToLower(last) + fmt.Sprint(r.IntN(1000))
	if r.IntN(3) == 0 {
		local = first + "." + last + fmt.Sprint(r.IntN(1000))
	}
	email := local + "@" + ysDomains[r.IntN(len(ysDomains))]
	ph := g.phone()
	place := ysPlaces[r.IntN(len(ysPlaces))]

	items := make([]ysItem, 1+r.IntN(5))
	var subtotal, tax int64
	for k := range items {
		p := ysProducts[r.IntN(len(ysProducts))]
		price := int64(199 + r.IntN(30000))
		qty := 1 + r.IntN(4)
		rate := ysRates[r.IntN(4)]
		taxCents := (price*int64(qty)*rate + 50) / 100
		it := ysItem{ID: id*10 + int64(k), Title: p[0], Vendor: p[1], Quantity: qty, Price: ysMoney(price)}
		it.VariantID = 40_000_000_000_000 + int64(r.IntN(1_000_000))
		it.ProductID = 7_000_000_000_000 + int64(r.IntN(1_000_000))
		sku := r.IntN(100000)
		it.SKU = fmt.Sprintf("SKU-%05d-%s", sku, ysSizes[r.IntN(4)])
		it.Grams = 100 + r.IntN(2000)
		it.TaxLines = []ysTax{{Title: "VAT", Price: ysMoney(taxCents), Rate: float64(rate) / 100}}
		items[k] = it
		subtotal += price * int64(qty)
		tax += taxCents
	}
	o := ysOrder{
		ID: id, Name: fmt.Sprintf("#%d", 1001+i), OrderNumber: 1001 + i, Email: email, Phone: ph,
		CreatedAt:     created.Format(time.RFC3339),
		SubtotalPrice: ysMoney(subtotal), TotalTax: ysMoney(tax), TotalPrice: ysMoney(subtotal + tax),
		LineItems: items,
	}
	o.UpdatedAt = created.Add(time.Duration(r.IntN(600)) * time.Second).Format(time.RFC3339)
	o.Currency = ysCurrencies[r.IntN(len(ysCurrencies))]
	o.FinancialStatus = ysStatuses[r.IntN(len(ysStatuses))]
	o.Gateway = ysGateways[r.IntN(4)]
	o.Tags = ysTags[r.IntN(3)]
	o.Customer = ysCustomer{ID: 6_900_000_000_000 + int64(r.IntN(10_000_000)), Email: email, FirstName: first, LastName: last, Phone: ph}
	street := 1 + r.IntN(999)
	o.BillingAddress = ysAddress{
		FirstName: first, LastName: last,
		Address1: fmt.Sprintf("%d %s Road", street, ysStreets[r.IntN(4)]),
		City:     place[0], Province: place[1], Country: place[3], CountryCode: place[2], Zip: place[4],
	}
	return o
}
