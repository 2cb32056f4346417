package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestOrderGenIsTheYardstick: the generator writes the yardstick's bytes:
// the golden input's three records, and the first 20,000 records of
// bench/gen -n 20000 -seed 38 by their SHA-256.
func TestOrderGenIsTheYardstick(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("..", "..", "mapping", "testdata", "yardstick", "input-3.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	g := NewOrderGen(38)
	h := sha256.New()
	var first bytes.Buffer
	for i := range 20000 {
		b, id := g.Next()
		if i == 0 && id != 5600000000002 {
			t.Errorf("first id %d, want 5600000000002", id)
		}
		if i < 3 {
			first.Write(b)
			first.WriteByte('\n')
		}
		h.Write(b)
		h.Write([]byte("\n"))
	}
	if !bytes.Equal(first.Bytes(), golden) {
		t.Errorf("the first three orders differ from the golden input:\n got %s\nwant %s", first.Bytes(), golden)
	}
	const want = "2e6c35c7a91ea80f6c192917236b0a281cb163085db3e28c0f27a99396583247" // bench/gen -n 20000 -seed 38 | sha256sum
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("20,000 orders: sha256 %s, want %s", got, want)
	}
}
