package screenpop

import (
	"crypto/sha256"
	"encoding/hex"
)

// hubID is a hub id in 16 bytes: a UUID's own bytes (the hub mints UUIDs),
// or for any other text the first 16 bytes of its SHA-256, with the text
// kept beside it (customer.rawID) so that it can be shown.
type hubID [16]byte

// parseHubID reads a hub id; raw is true when s is not a UUID.
func parseHubID(s string) (id hubID, raw bool) {
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		var b [32]byte
		n := 0
		for i := 0; i < 36; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			c := s[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				n = -1
				break
			}
			b[n] = c
			n++
		}
		if n == 32 {
			if _, err := hex.Decode(id[:], b[:]); err == nil {
				return id, false
			}
		}
	}
	sum := sha256.Sum256([]byte(s))
	copy(id[:], sum[:16])
	return id, true
}

// String is the id as a UUID's text.
func (id hubID) String() string { return string(id.appendTo(make([]byte, 0, 36))) }

// appendTo appends the id as a UUID's text.
func (id hubID) appendTo(dst []byte) []byte {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return append(dst, b[:]...)
}
