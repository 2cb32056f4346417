package mapping

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
)

// phoneCacheSize bounds the numbers one phone field remembers.
const phoneCacheSize = 2048

// phoneCache remembers the E.164 form of numbers one field normalised:
// libphonenumber's parse and validation cost 14-16 us and 58
// allocations a number (BenchmarkPhoneField), more than mapping a whole order, and the same
// numbers come again and again (a customer read on each change, a shop
// buyer on each order). Only numbers that normalised are kept; a bad one
// is judged again each time (it is rare, and its error names the value).
// Safe for concurrent use: a plan is shared by goroutines.
type phoneCache struct {
	region string
	known  *lru.Cache[string, string] // trimmed input -> E.164
}

func newPhoneCache(region string) *phoneCache {
	c, _ := lru.New[string, string](phoneCacheSize) // (fails only for a size below 1: then no cache)
	return &phoneCache{region: region, known: c}
}

// normalize is toPhone(v, region), from the cache when it can be.
func (c *phoneCache) normalize(v Value) (Value, error) {
	if c.known == nil || v.kind != String && v.kind != Number {
		return toPhone(v, c.region)
	}
	key := strings.TrimSpace(v.s)
	if e164, ok := c.known.Get(key); ok {
		return StringValue(e164), nil
	}
	out, err := toPhone(v, c.region)
	if err == nil && out.kind == String {
		c.known.Add(strings.Clone(key), out.s) // (v may live in a buffer reused for the next record)
	}
	return out, err
}
