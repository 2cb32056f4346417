package erp

import (
	"encoding/base64"
	"encoding/json"
)

// EncodeCursor is a source's position as an opaque cursor token: v as JSON,
// in unpadded URL-safe base64. The ERP sources each keep their own fields
// (and a version number) in v.
func EncodeCursor(v any) string {
	raw, _ := json.Marshal(v) // the sources' cursor structs always encode
	return base64.RawURLEncoding.EncodeToString(raw)
}

// DecodeCursor reads a token made by EncodeCursor into v; an error means
// the token is not one.
func DecodeCursor(s string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
