package mapping

import (
	"fmt"
	"sync"
	"testing"
)

// TestPhoneCacheAnswersAsLibphonenumber: the cached normalisation gives
// what toPhone gives, for numbers seen first and again (with other
// spacing), from goroutines at once; bad numbers stay errors every time,
// and more numbers than the cache holds still come out right.
func TestPhoneCacheAnswersAsLibphonenumber(t *testing.T) {
	c := newPhoneCache("DE")
	inputs := []Value{
		StringValue("030 1234567"), StringValue("  030 1234567 "), StringValue("+49 30 1234567"), StringValue("+1 202-555-0143"),
		NumberValue("030123456"), StringValue("12"), StringValue("not a number"), StringValue(""), nullValue, BoolValue(true),
	}
	for i := range phoneCacheSize + 100 { // past the bound: evicted numbers are normalised again
		inputs = append(inputs, StringValue(fmt.Sprintf("+49 30 %07d", 1000000+i)))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 2 {
				for _, v := range inputs {
					got, gerr := c.normalize(v)
					want, werr := toPhone(v, "DE")
					if got.kind != want.kind || got.s != want.s || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
						t.Errorf("round %d, %v: cached %v (%v), toPhone %v (%v)", round, v.Any(), got.Any(), gerr, want.Any(), werr)
					}
				}
			}
		}()
	}
	wg.Wait()
	if c.known.Len() != phoneCacheSize {
		t.Errorf("the cache holds %d numbers, want its bound %d", c.known.Len(), phoneCacheSize)
	}
}

// BenchmarkPhoneField: a phone field mapping 500 customers' numbers over
// and over (as each change of a customer, or each order of a buyer,
// brings the number again).
func BenchmarkPhoneField(b *testing.B) {
	nums := make([]Value, 500)
	for i := range nums {
		nums[i] = StringValue(fmt.Sprintf("030 %07d", 1000000+i*7))
	}
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			c := newPhoneCache("DE")
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				v := nums[i%len(nums)]
				var err error
				if cached {
					_, err = c.normalize(v)
				} else {
					_, err = toPhone(v, "DE")
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
